/**
 * A running service started by the testkit: a child process, or a container when the
 * binary is missing and a Docker engine answers. Dispose it with `await using`.
 */
export interface ServiceHandle {
  /** Name used in errors and output, e.g. `nats-1`, `redis`, `edge-n1`. */
  readonly name: string;
  /** OS pid of the current process; `undefined` when stopped or when run in a container. */
  readonly pid: number | undefined;
  /** Whether the service is up (started and not yet known to have exited). */
  readonly running: boolean;
  /**
   * Sends `signal` (default `SIGKILL`) and resolves once the process has exited. A container
   * ignores `signal` and is stopped with no grace period.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Graceful stop: SIGTERM, up to 5 s, then SIGKILL. Resolves once exited. */
  stop(): Promise<void>;
  /**
   * Starts the service again with the same arguments and the same port(s), stopping it
   * first if it is running; resolves when it is ready again.
   */
  restart(): Promise<void>;
  /** Captured stdout+stderr (the last 256 KiB, across restarts), for failed-test reports. */
  output(): string;
  /** Same as {@link ServiceHandle.stop}, then removes the service's temp dir. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** How a process ended. `error` is set when it could not be spawned at all. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** Default readiness timeout for every service. */
export const DEFAULT_READY_TIMEOUT_MS = 15_000;

/** Describes an exit for error messages: `exit code 1`, `signal SIGKILL`, `spawn ENOENT`. */
export function describeExit(exit: ExitInfo): string {
  if (exit.error) return exit.error.message;
  if (exit.signal) return `signal ${exit.signal}`;
  return `exit code ${String(exit.code)}`;
}
