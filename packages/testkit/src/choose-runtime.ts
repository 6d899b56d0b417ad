import { dockerAvailable } from './docker-available.js';
import { findBinary } from './find-binary.js';

/**
 * Where a backing server runs: `process` (binary on PATH), `docker` (testcontainers), or
 * `auto` (the binary when found, else Docker when an engine answers). The default is the
 * `RF_TESTKIT_RUNTIME` environment variable, else `auto`.
 */
export type Runtime = 'auto' | 'process' | 'docker';

/** The outcome of {@link chooseRuntime}. */
export type RuntimeChoice = { kind: 'process'; path: string } | { kind: 'docker' };

/** Inputs of {@link chooseRuntime}; every field defaults to the real environment. */
export interface ChooseRuntimeOptions {
  runtime?: Runtime;
  /** Directories to search, `PATH` format. */
  pathEnv?: string;
  dockerAvailable?: () => Promise<boolean>;
}

const INSTALL_HINTS: Record<string, string> = {
  'nats-server': 'install nats-server (apt-get install nats-server, or https://docs.nats.io)',
  'redis-server': 'install redis-server (apt-get install redis-server, or https://redis.io/docs)',
};

/** The one-line error for a binary that is neither on PATH nor runnable in Docker. */
export function missingBinaryMessage(binary: string): string {
  const hint = INSTALL_HINTS[binary] ?? `install ${binary}`;
  return `${binary} not found on PATH and no Docker engine answered: ${hint} or start Docker`;
}

/**
 * Picks how to run `binary`. Throws an Error with a one-line message when the chosen (or
 * every) way is unavailable.
 */
export async function chooseRuntime(
  binary: string,
  options: ChooseRuntimeOptions = {},
): Promise<RuntimeChoice> {
  const runtime = options.runtime ?? runtimeFromEnv();
  const docker = options.dockerAvailable ?? (() => dockerAvailable());
  if (runtime !== 'docker') {
    const path = findBinary(binary, options.pathEnv);
    if (path !== undefined) return { kind: 'process', path };
    if (runtime === 'process') {
      throw new Error(`${binary} not found on PATH (runtime 'process' was asked for)`);
    }
  }
  if (await docker()) return { kind: 'docker' };
  if (runtime === 'docker') {
    throw new Error(`no Docker engine answered (runtime 'docker' was asked for ${binary})`);
  }
  throw new Error(missingBinaryMessage(binary));
}

function runtimeFromEnv(): Runtime {
  const value = process.env.RF_TESTKIT_RUNTIME;
  if (value === undefined || value === '') return 'auto';
  if (value === 'auto' || value === 'process' || value === 'docker') return value;
  throw new Error(`RF_TESTKIT_RUNTIME must be auto, process or docker, not "${value}"`);
}
