import { ErrorCode, redactUrl, RoomfabricError } from '@roomfabric/protocol';
import { NatsBus } from '@roomfabric/bus';
import { parseRedisTarget, redactRedisTarget, RedisMembership } from '@roomfabric/membership';
import { intFlag, UsageError, type HelpRow } from './args.js';

/** Splits a comma-separated list of URLs, checking each one's scheme. */
export function urlList(
  flag: string,
  value: string | boolean | undefined,
  schemes: string[],
): string[] {
  if (typeof value !== 'string' || value.trim() === '')
    throw new UsageError(`--${flag} is required`);
  const urls = value
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  for (const url of urls) {
    let scheme: string;
    try {
      scheme = new URL(url).protocol.replace(/:$/, '');
    } catch {
      throw new UsageError(`--${flag}: not a URL: ${redactUrl(url)}`);
    }
    if (!schemes.includes(scheme))
      throw new UsageError(`--${flag}: ${redactUrl(url)} must use ${schemes.join(' or ')}://`);
  }
  return urls;
}

/**
 * `--redis`: one `redis://` or `rediss://` URL, several (commas: the seed nodes of a Redis
 * Cluster), or `redis-cluster://[user:password@]h1:p1,h2:p2`. Returned as given, once it
 * reads as one of those; a usage error says what is wrong with it.
 */
export function redisFlag(value: string | boolean | undefined): string {
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError('--redis is required');
  try {
    parseRedisTarget(value);
  } catch (err) {
    throw new UsageError(`--redis: ${(err as Error).message}`);
  }
  return value;
}

/**
 * How long a command waits at start for NATS and for Redis before it gives up. A process
 * that is already running reconnects for ever; this only bounds the first connection.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** The `--connect-timeout-ms` flag of `roomfabric edge` and `membership`. */
export const connectTimeoutFlags = { 'connect-timeout-ms': { type: 'string' } } as const;

export const connectTimeoutRows: readonly HelpRow[] = [
  [
    '--connect-timeout-ms N',
    `how long to wait at start for NATS and for Redis before giving up (default ${DEFAULT_CONNECT_TIMEOUT_MS}); once connected, it reconnects for ever`,
  ],
];

export function connectTimeoutFromFlags(flags: Record<string, string | boolean | undefined>) {
  return intFlag(
    'connect-timeout-ms',
    flags['connect-timeout-ms'],
    DEFAULT_CONNECT_TIMEOUT_MS,
    100,
    3_600_000,
  );
}

export interface Backends {
  bus: NatsBus;
  membership: RedisMembership;
  close(): Promise<void>;
}

/**
 * Opens Redis (checked with a first command) and then NATS, each given `timeoutMs`; if
 * either fails, closes what it opened and rejects with `RF_MEMBERSHIP_UNAVAILABLE` or
 * `RF_BUS_UNAVAILABLE`, naming the URL without its password.
 */
export async function connectBackends(
  nats: string[],
  redis: string,
  name: string,
  timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
): Promise<Backends> {
  const membership = await openRedis(redis, timeoutMs);
  let bus: NatsBus;
  try {
    bus = await NatsBus.connect({ servers: nats, name, connectTimeoutMs: timeoutMs });
  } catch (err) {
    await membership.close();
    throw err;
  }
  return {
    bus,
    membership,
    async close() {
      await Promise.allSettled([bus.close(), membership.close()]);
    },
  };
}

/**
 * A `RedisMembership` on `url`, once the index is ready (one Redis answered; a cluster
 * serves every slot), checked on a probe connection with a short command timeout, within
 * `timeoutMs`. Else rejects with `RF_MEMBERSHIP_UNAVAILABLE` naming the URL (or the
 * cluster), the reason, and what to check.
 */
async function openRedis(url: string, timeoutMs: number): Promise<RedisMembership> {
  let lastError: Error | undefined;
  // Its own connection: ioredis keeps a command's timeout timer running after the command
  // failed, and a short one lets a failed start exit at once.
  const probe = new RedisMembership({
    url,
    commandTimeoutMs: PROBE_COMMAND_TIMEOUT_MS,
    onError: (err) => (lastError = err),
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await probe.ready();
        return new RedisMembership({ url });
      } catch (err) {
        const cause = (err as { cause?: { name?: string } }).cause;
        // A cluster that answers but does not serve every slot: wait out a failover, then
        // say so in ready()'s own words.
        const slotsDown = (err as RoomfabricError).details?.state !== undefined;
        if (slotsDown) {
          if (Date.now() + PROBE_PAUSE_MS < deadline) {
            await new Promise((resolve) => setTimeout(resolve, PROBE_PAUSE_MS));
            continue;
          }
          throw err;
        }
        // Redis answered with an error (a password, a database): trying again cannot help.
        const answered = cause?.name === 'ReplyError';
        if (!answered && Date.now() + PROBE_PAUSE_MS < deadline) {
          await new Promise((resolve) => setTimeout(resolve, PROBE_PAUSE_MS));
          continue;
        }
        const shown = redactRedisTarget(url);
        const message = answered
          ? `Redis at ${shown} refused the first command (${(cause as Error).message}): check the password and database in the URL`
          : `cannot reach Redis at ${shown} within ${seconds(timeoutMs)} (${lastError?.message ?? (err as Error).message}): is redis-server running? is the port right?`;
        throw new RoomfabricError(ErrorCode.MEMBERSHIP_UNAVAILABLE, message, {
          cause: err,
          temporary: !answered,
          details: { url: shown },
        });
      }
    }
  } finally {
    await probe.close();
  }
}

/** Command timeout of the start-up probe of Redis. */
const PROBE_COMMAND_TIMEOUT_MS = 500;
/** Pause between two probes while Redis refuses connections. */
const PROBE_PAUSE_MS = 250;

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** Resolves when the process gets SIGINT or SIGTERM; calls `onSignal` with its name first. */
export function untilSignal(onSignal: (signal: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      onSignal(signal);
      resolve();
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}

export { redactUrl };
