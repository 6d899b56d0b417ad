import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Default of `EdgeOptions.upgradeTimeoutMs`. */
export const DEFAULT_UPGRADE_TIMEOUT_MS = 10_000;

/**
 * The accept queue an edge listens with. Node's default (511) overflowed when a killed
 * edge's 10,000 clients reconnected to the survivors at once (`bench storm`): each dropped
 * SYN costs its client the kernel's retransmit wait (1, 3, 7 s). The kernel caps it at
 * `net.core.somaxconn` (4096 on most current Linux; docs/deploy.md).
 */
export const LISTEN_BACKLOG = 4096;

const guarded = new WeakSet<Server>();

/**
 * Bounds how long a connection of `server` may go without a complete request: from the
 * moment it connects, and again after each response, a client has `timeoutMs` to send
 * the whole of its next request (headers included) or is cut off. Node's own
 * `headersTimeout` misses a connection that sends nothing, and checks the others only
 * every 30 s; a client that sends half a request and stalls would otherwise hold its
 * descriptor (and, on shutdown, `server.close()`) that long or for ever. An upgrade hands
 * the socket over: from then on the WebSocket's own timeouts apply. Idempotent.
 *
 * @example
 * const server = http.createServer(handler);
 * hardenHttpServer(server);
 * createEdge({ server });
 */
export function hardenHttpServer(server: Server, timeoutMs = DEFAULT_UPGRADE_TIMEOUT_MS): Server {
  if (guarded.has(server)) return server;
  guarded.add(server);
  server.headersTimeout = Math.min(server.headersTimeout, timeoutMs);
  // Node requires requestTimeout (0: none) to be at least headersTimeout.
  if (server.requestTimeout === 0 || server.requestTimeout > timeoutMs) {
    server.requestTimeout = timeoutMs;
  }
  const timers = new WeakMap<Duplex, NodeJS.Timeout>();
  const disarm = (socket: Duplex) => {
    clearTimeout(timers.get(socket));
    timers.delete(socket);
  };
  const arm = (socket: Duplex) => {
    disarm(socket);
    if (socket.destroyed) return;
    timers.set(socket, setTimeout(() => socket.destroy(), timeoutMs).unref());
  };
  server.on('connection', (socket: NetSocket) => {
    arm(socket);
    socket.once('close', () => disarm(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    disarm(req.socket);
    res.once('finish', () => arm(req.socket));
  });
  const onUpgrade = (req: IncomingMessage) => disarm(req.socket);
  BOOKKEEPING.add(onUpgrade);
  server.prependListener('upgrade', onUpgrade);
  return server;
}

/** 'upgrade' listeners of ours that answer nothing (see {@link answersUpgrades}). */
const BOOKKEEPING = new WeakSet<object>();

/**
 * True when an 'upgrade' listener of `server` other than `self` (and our bookkeeping) may
 * answer an upgrade: if none does, an upgrade for a path `self` does not serve must be
 * refused by `self`, or nobody ever answers it.
 */
export function othersAnswerUpgrades(server: Server, self: object): boolean {
  return server.listeners('upgrade').some((l) => l !== self && !BOOKKEEPING.has(l));
}

/** Answers an upgrade request with an HTTP error and closes its socket. */
export function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  if (socket.destroyed) return;
  const retry = status === 429 || status === 503 ? 'Retry-After: 1\r\n' : '';
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${retry}Content-Length: 0\r\n\r\n`,
  );
  // A peer that never reads what we wrote must not keep the socket either.
  setTimeout(() => socket.destroy(), 1000).unref();
}
