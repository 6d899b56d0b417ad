import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection, type Server } from '@nats-io/transport-node';
import { ErrorCode, redactUrl, RoomfabricError } from '@roomfabric/protocol';

/** Options of {@link NatsBus.connect}. */
export interface NatsBusOptions {
  /** One server URL (`nats://host:4222`) or several, e.g. every member of a cluster. */
  servers: string | string[];
  /** Connection name shown by the server's monitoring pages, e.g. the node id. */
  name?: string;
  /** Pause before dialling the same server again. Default 1000. */
  reconnectTimeWaitMs?: number;
  /**
   * Bytes (payload + subjects) that `publish` may hold while the link is down; past it
   * `publish` rejects with `RF_BUS_UNAVAILABLE`. `0` rejects every publish while
   * disconnected. Default 8 MiB.
   */
  maxPendingBytes?: number;
  /**
   * How long `connect` keeps retrying the whole server list before it rejects with
   * `RF_BUS_UNAVAILABLE`; `Infinity` waits for ever. Default 30000.
   */
  connectTimeoutMs?: number;
  /** Client pings; a link that misses two in a row is dropped and redialled. Default 10000. */
  pingIntervalMs?: number;
  /** Dial `servers` in the given order instead of shuffling them. Default false. */
  noRandomize?: boolean;
  /** Called when a handler throws (handlers must not). Default: rethrown on a later tick. */
  onHandlerError?: (err: unknown, subject: string) => void;
  /** Called with errors the server reports asynchronously (permissions, ...). */
  onError?: (err: unknown) => void;
}

// nats.js waits 20 s for a handshake; a dead machine (no RST) would stall failover that long.
const DIAL_TIMEOUT_MS = 5000;

/**
 * Opens the NATS connection of a `NatsBus`: tries every server, then again after
 * `reconnectTimeWaitMs`, until `connectTimeoutMs`; past it rejects with
 * `RF_BUS_UNAVAILABLE` (temporary, `details.servers`). The connection it returns
 * reconnects for ever.
 */
export async function connectNats(options: NatsBusOptions): Promise<NatsConnection> {
  const servers = typeof options.servers === 'string' ? [options.servers] : options.servers;
  if (servers.length === 0) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'NatsBus needs at least one server');
  }
  for (const key of ['reconnectTimeWaitMs', 'maxPendingBytes', 'connectTimeoutMs'] as const) {
    const value = options[key];
    if (value !== undefined && !(value >= 0)) {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `${key} must be >= 0, not ${value}`);
    }
  }
  if (options.pingIntervalMs !== undefined && !(options.pingIntervalMs > 0)) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'pingIntervalMs must be > 0');
  }
  const { urls, auth } = splitCredentials(servers);
  const waitMs = options.reconnectTimeWaitMs ?? 1000;
  const timeoutMs = options.connectTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // Without waitOnFirstConnect one connect() dials each server once, so this loop can
      // give up with a clear error; once connected, maxReconnectAttempts -1 retries for ever.
      return await connect({
        servers: urls,
        ...auth,
        name: options.name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: waitMs,
        pingInterval: options.pingIntervalMs ?? 10_000,
        maxPingOut: 2,
        noRandomize: options.noRandomize ?? false,
        timeout: DIAL_TIMEOUT_MS,
        reconnectToServer: leastRecentlyDialled,
      });
    } catch (err) {
      if (Date.now() + waitMs >= deadline) {
        const shown = servers.map(redactUrl);
        throw new RoomfabricError(
          ErrorCode.BUS_UNAVAILABLE,
          `cannot reach NATS at ${shown.join(', ')} within ${seconds(timeoutMs)} ${becauseOf(err)}`,
          { cause: err, temporary: true, details: { servers: shown } },
        );
      }
      await sleep(waitMs);
    }
  }
}

/**
 * nats.js redials the server it just lost first; when that machine died without a RST, a
 * failover then costs a whole dial timeout. Dial the server tried least recently instead
 * (ties keep nats.js's own choice, `pool[0]`, so the first connect follows its order).
 */
function leastRecentlyDialled(pool: ReadonlyArray<Server>): Server | null {
  let best = pool[0];
  for (const server of pool) if (best && server.lastConnect < best.lastConnect) best = server;
  return best ?? null;
}

/** `1.5 s`, `30 s`. */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** The last dial's failure and what to check, for a user reading it cold. */
function becauseOf(err: unknown): string {
  const why = err instanceof Error ? err.message : String(err);
  const hint = /auth|permission|credential/i.test(why)
    ? "check the user, password or token in the URL and the server's authorization"
    : 'is nats-server running? is the port right?';
  return `(${why}): ${hint}`;
}

/**
 * nats.js ignores credentials in server URLs: take `user:pass@` (or `token@`) out of them
 * and hand them over as connect options, for every server (gossiped ones too). One
 * connection authenticates one way: URLs that carry credentials must carry the same ones.
 */
function splitCredentials(servers: readonly string[]): {
  urls: string[];
  auth: { user?: string; pass?: string; token?: string };
} {
  let auth: { user?: string; pass?: string; token?: string } = {};
  let seen: string | undefined;
  const urls = servers.map((server) => {
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      return server; // host:port without a scheme: nats.js parses it
    }
    if (url.username === '' && url.password === '') return server;
    const key = `${url.username}:${url.password}`;
    if (seen !== undefined && key !== seen) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        'NATS URLs with credentials must all carry the same ones',
        { details: { servers: servers.map(redactUrl) } },
      );
    }
    seen = key;
    const user = decodeURIComponent(url.username);
    auth = url.password === '' ? { token: user } : { user, pass: decodeURIComponent(url.password) };
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  });
  return { urls, auth };
}
