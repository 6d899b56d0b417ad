import {
  CloseCode,
  DEFAULT_LIMITS,
  ErrorCode,
  FrameType,
  isErrorCode,
  isReconnectable,
  isTemporaryCode,
  RESERVED_EVENTS,
  RoomfabricError,
  type ClientFrame,
  type ServerFrame,
} from '@roomfabric/protocol';
import { backoffDelay, resolveReconnect, type ResolvedReconnect } from './backoff.js';
import { Link } from './link.js';
import type { Positions, RecentIds } from './positions.js';
import { settle, type Request, type Requests } from './requests.js';
import type { RoomStates } from './room-states.js';
import type {
  ClientOptions,
  ClientState,
  EventMeta,
  StateChange,
  WebSocketConstructor,
} from './types.js';

let defaultWebSocket: WebSocketConstructor | undefined;

/** @internal Set by the Node entry point to `ws`. */
export function setDefaultWebSocket(impl: WebSocketConstructor): void {
  defaultWebSocket = impl;
}

/** What a connection shares with its client. */
export interface ConnectionParts {
  urls: readonly string[];
  options: ClientOptions;
  reconnectOpts: ResolvedReconnect | null;
  ackTimeoutMs: number;
  roomStates: RoomStates;
  pending: Requests;
  positions: Positions;
  seen: RecentIds;
  /** The client's event emitter. */
  fire(event: string, ...args: unknown[]): void;
}

/**
 * A client's connection lifecycle: one link at a time (link.ts), what the server sends on
 * it (HELLO, events, answers, raids), the rejoin of every room after HELLO, and the
 * reconnects with backoff. The client's API (client.ts) sits on it and shares its rooms,
 * requests and positions.
 */
export class Connection {
  link: Link | null = null;
  state: ClientState = 'disconnected';
  /** True once HELLO came and the rooms are rejoined: frames go out at once. */
  live = false;
  socketId: string | undefined;
  node: string | undefined;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  lastError: RoomfabricError | undefined;
  /** How deep a frame may nest, as the server announced it (HELLO), or the default. */
  maxDepth: number = DEFAULT_LIMITS.maxFrameDepth;
  /** The largest message the server accepts, as it announced it (HELLO), or the default. */
  maxFrameBytes: number = DEFAULT_LIMITS.maxFrameBytes;
  private attempt = 0;
  private urlIndex = 0;
  /** The socket id of the previous connection: the server skips its broadcasts on replay. */
  private previousSocketId: string | undefined;
  /** The timers of rejoins being retried on this connection. */
  private readonly retryTimers = new Set<ReturnType<typeof setTimeout>>();
  private readonly urls: readonly string[];
  private readonly options: ClientOptions;
  private readonly reconnectOpts: ResolvedReconnect | null;
  private readonly ackTimeoutMs: number;
  private readonly roomStates: RoomStates;
  private readonly pending: Requests;
  private readonly positions: Positions;
  private readonly seen: RecentIds;
  private readonly fire: (event: string, ...args: unknown[]) => void;

  constructor(parts: ConnectionParts) {
    this.urls = parts.urls;
    this.options = parts.options;
    this.reconnectOpts = parts.reconnectOpts;
    this.ackTimeoutMs = parts.ackTimeoutMs;
    this.roomStates = parts.roomStates;
    this.pending = parts.pending;
    this.positions = parts.positions;
    this.seen = parts.seen;
    this.fire = parts.fire;
  }

  write(frame: ClientFrame): void {
    this.link?.send(frame);
  }

  sendRequest(request: Request, frame: (id: number) => ClientFrame): void {
    this.pending.send(request, frame, (f) => this.write(f));
  }

  open(change: StateChange): void {
    if (this.state !== 'connecting') this.setState('connecting', change);
    const Impl =
      this.options.WebSocket ??
      (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ??
      defaultWebSocket;
    if (!Impl) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        'no WebSocket implementation: pass options.WebSocket',
      );
    }
    this.lastError = undefined;
    const link: Link = new Link(
      {
        Impl,
        url: this.urls[this.urlIndex++ % this.urls.length]!,
        auth: this.options.auth,
        connectTimeoutMs: this.options.connectTimeoutMs ?? 10_000,
        recover: () => {
          const rooms = this.positions.serverRooms(this.roomStates.wanted);
          return rooms.length > 0 ? { socketId: this.socketId ?? null, rooms } : null;
        },
      },
      {
        frame: (frame) => this.handleFrame(frame),
        badFrame: (err) => this.fire('error', err),
        closed: (code, reason, error) => {
          if (this.link === link) this.onClose(code, reason, error);
        },
      },
    );
    this.link = link;
  }

  private handleFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case FrameType.HELLO:
        this.previousSocketId = this.socketId;
        this.socketId = frame.socketId;
        this.node = frame.nodeId;
        this.maxDepth = frame.maxFrameDepth;
        this.maxFrameBytes = frame.maxFrameBytes;
        this.link?.connected(frame.heartbeatMs);
        // History rooms the server joined: their positions, and what was recovered.
        this.positions.serverJoined(frame.rooms ?? [], this.roomStates.wanted);
        for (const r of frame.rooms ?? []) {
          if (r.recovered !== null) {
            this.fire('rejoined', { room: r.room, recovered: r.recovered, missed: r.missed });
          }
        }
        void this.rejoin();
        return;
      case FrameType.EVENT: {
        if (frame.offset > 0 && frame.room !== null) {
          this.positions.advance(frame.room, frame.offset);
        }
        // No server sends these names (they are the client's own lifecycle events); one
        // that arrives anyway must not pass for a state change.
        if (RESERVED_EVENTS.has(frame.event) && frame.event !== '$presence') {
          this.fire('error', reservedEventError(frame.event));
          return;
        }
        // A broadcast stored in several history rooms may come through each of them when
        // they are recovered one by one: it is shown once.
        if (frame.bid !== null && !this.seen.add(frame.bid)) return;
        const meta: EventMeta = { room: frame.room };
        if (frame.id !== 0) {
          let answered = false;
          meta.ack = (response?: unknown) => {
            if (answered) return;
            answered = true;
            this.write({ type: FrameType.ACK, id: frame.id, data: response ?? null });
          };
        }
        this.fire(frame.event, frame.data, meta);
        return;
      }
      case FrameType.ACK:
      case FrameType.ERROR: {
        const request = this.pending.take(frame.id);
        const err =
          frame.type === FrameType.ERROR
            ? new RoomfabricError(
                isErrorCode(frame.code) ? frame.code : ErrorCode.INTERNAL,
                frame.message,
                { temporary: isTemporaryCode(frame.code) },
              )
            : undefined;
        if (!request) {
          if (err) {
            this.lastError = err;
            this.fire('error', err);
          }
          return;
        }
        // A rejoin refused for now is retried (rejoined()); any other refused join is over.
        if (err && request.kind === 'join' && request.room !== undefined) {
          if (!(request.rejoin && err.temporary)) {
            this.roomStates.unsubscribed(request.room, 0, err.code);
          }
        }
        if (frame.type === FrameType.ACK && request.kind === 'join' && request.room !== undefined) {
          this.positions.joined(request.room, frame.data);
          if (this.roomStates.has(request.room)) this.roomStates.subscribed(request.room);
        }
        settle(request, err ?? (frame.type === FrameType.ACK ? frame.data : null));
        return;
      }
      case FrameType.PING:
        this.write({ type: FrameType.PONG });
        return;
      case FrameType.POSITION:
        // The server joined this client to a history room: keep its position, to recover it.
        this.positions.joined(frame.room, frame);
        return;
      case FrameType.MOVED:
        // A raid: follow the server's move, and start in `to` where the server says (a
        // room this client was in already keeps its own position).
        if (this.roomStates.unsubscribed(frame.from, 0, 'moved')) {
          this.roomStates.subscribed(frame.to);
        }
        this.positions.delete(frame.from);
        if (frame.position && this.positions.get(frame.to) === undefined) {
          this.positions.joined(frame.to, frame.position);
        }
        this.fire('moved', { from: frame.from, to: frame.to });
        return;
      case FrameType.LEFT:
        // The server took this client out of a room it had joined: do not rejoin it.
        this.roomStates.unsubscribed(frame.room, 0, frame.code);
        this.positions.delete(frame.room);
        this.fire('left', { room: frame.room, code: frame.code, reason: frame.message });
        return;
    }
  }

  /** After HELLO: rejoin every room, then report `connected`, then flush the queue. */
  private async rejoin(): Promise<void> {
    const link = this.link;
    const rooms = [...this.roomStates.wanted];
    const results = await Promise.all(rooms.map((room) => this.rejoinRoom(room)));
    if (this.link !== link || !link) return; // the connection dropped; the next one rejoins
    const unanswered = rooms.filter((_, i) => results[i]?.code === ErrorCode.ACK_TIMEOUT);
    if (unanswered.length > 0) {
      // A node that does not answer a rejoin is not serving this connection: drop it and
      // reconnect (with backoff, maybe to another node), keeping every room and position.
      link.abort(
        CloseCode.REJOIN_TIMEOUT,
        new RoomfabricError(
          ErrorCode.ACK_TIMEOUT,
          `no answer to the rejoin of ${unanswered.map((r) => JSON.stringify(r)).join(', ')} within ${this.ackTimeoutMs} ms`,
          { temporary: true, details: { rooms: unanswered } },
        ),
      );
      return;
    }
    rooms.forEach((room, i) => this.rejoined(room, results[i] ?? null, link, 0));
    // Joins requested for rooms that were not in the set when rejoin started.
    for (const [room, waiters] of this.pending.joinWaiters) {
      if (this.roomStates.isRetrying(room)) continue;
      this.pending.joinWaiters.delete(room);
      for (const w of waiters) this.sendRequest(w, (id) => ({ type: FrameType.JOIN, id, room }));
    }
    this.attempt = 0;
    this.live = true;
    this.setState('connected', { code: 0, reason: 'connected' });
    this.fire('connected', { socketId: this.socketId!, nodeId: this.node! });
    const queue = this.pending.queue;
    this.pending.queue = [];
    for (const item of queue) {
      if (item.request) this.sendRequest(item.request, item.frame);
      else this.write(item.frame(0));
    }
  }

  /** Sends one room's rejoin, with its position; resolves with its error, or null. */
  private rejoinRoom(room: string): Promise<RoomfabricError | null> {
    return new Promise((resolve) => {
      const since = this.positions.since(room, this.previousSocketId);
      const request = this.pending.create(
        'join',
        (data) => {
          const ack = data as { recovered?: unknown; missed?: unknown } | null;
          const recovered = typeof ack?.recovered === 'boolean' ? ack.recovered : null;
          const missed = typeof ack?.missed === 'number' ? ack.missed : 0;
          this.fire('rejoined', { room, recovered, missed });
          resolve(null);
        },
        resolve,
        this.ackTimeoutMs,
        room,
      );
      request.rejoin = true;
      this.sendRequest(request, (id) => ({ type: FrameType.JOIN, id, room, since }));
    });
  }

  /**
   * The outcome of a room's rejoin. Refused for a temporary reason (the room's history or
   * the index down for now): reported on `error`, kept in `rooms`, and tried again with
   * backoff on this connection. Refused for good: reported and dropped. Calls waiting for
   * the room settle with the final outcome.
   */
  private rejoined(room: string, err: RoomfabricError | null, link: Link, attempt: number): void {
    if (err?.temporary && this.roomStates.has(room)) {
      this.fire('error', err);
      this.roomStates.markRetrying(room);
      const timer = setTimeout(
        () => {
          this.retryTimers.delete(timer);
          if (this.link !== link || !this.roomStates.has(room)) {
            this.roomStates.stopRetrying(room);
            return;
          }
          void this.rejoinRoom(room).then((next) => {
            if (this.link === link) this.rejoined(room, next, link, attempt + 1);
          });
        },
        backoffDelay(this.reconnectOpts ?? resolveReconnect(true)!, attempt),
      );
      this.retryTimers.add(timer);
      return;
    }
    this.roomStates.stopRetrying(room);
    if (err) {
      this.roomStates.unsubscribed(room, 0, err.code);
      this.fire('error', err);
    }
    for (const waiter of this.pending.joinWaiters.get(room) ?? []) settle(waiter, err);
    this.pending.joinWaiters.delete(room);
  }

  private onClose(code: number, reason: string, error: RoomfabricError | undefined): void {
    if (error) this.lastError = error;
    const rfReason =
      reason || this.lastError?.code || (code === CloseCode.ABNORMAL ? ErrorCode.DISCONNECTED : '');
    const wasOpen = this.live;
    this.teardown();
    const status = error?.code === ErrorCode.UPGRADE_REFUSED ? error.details?.status : undefined;
    const change: StateChange =
      typeof status === 'number' ? { code, reason: rfReason, status } : { code, reason: rfReason };
    // An attempt that never got to HELLO says why on `error` (a wrong URL shows at once).
    if (error && !wasOpen) this.fire('error', error);
    // An expired token only makes sense to reconnect with when `auth` can produce a new one.
    const stale = code === CloseCode.TOKEN_EXPIRED && typeof this.options.auth !== 'function';
    // A refused upgrade that would be refused again (a 4xx: wrong path, a proxy's no).
    const refused = error?.code === ErrorCode.UPGRADE_REFUSED && !error.temporary;
    if (!isReconnectable(code) || stale || refused) {
      const err =
        this.lastError ??
        new RoomfabricError(
          isErrorCode(reason) ? reason : ErrorCode.DISCONNECTED,
          `connection refused (${code} ${reason})`,
        );
      this.failAll(err, change);
      this.setState('disconnected', change);
      return;
    }
    this.pending.failInFlight(this.roomStates.wanted);
    this.roomStates.connectionLost(change.code, change.reason);
    this.scheduleReconnect(change);
  }

  private scheduleReconnect(change: StateChange): void {
    const r = this.reconnectOpts;
    if (!r || this.attempt >= r.maxAttempts) {
      this.failAll(
        new RoomfabricError(
          ErrorCode.DISCONNECTED,
          `disconnected (${change.code} ${change.reason})`,
          { temporary: true },
        ),
        change,
      );
      this.setState('disconnected', change);
      return;
    }
    // Every reconnect cycle is reported through `connecting`, with its reason.
    this.setState('connecting', change, true);
    const delay = backoffDelay(r, this.attempt++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.open(change);
    }, delay);
  }

  /** Drops the current link (closing it when `code` is given) and any pending retry. */
  teardown(code?: number, reason?: string): void {
    const link = this.link;
    this.link = null;
    this.live = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    this.roomStates.stopRetrying();
    if (link && code !== undefined) link.close(code, reason ?? '');
  }

  /** Nothing more will be sent: reject everything pending and queued. */
  failAll(err: RoomfabricError, change: StateChange): void {
    this.pending.failAll(err);
    this.roomStates.clear(change.code, change.reason);
  }

  setState(state: ClientState, change: StateChange, always = false): void {
    const changed = state !== this.state;
    this.state = state;
    if (state !== 'connected') this.live = false;
    if (changed) this.fire('state', state, change);
    if (state === 'connecting' && (changed || always)) this.fire('connecting', change);
    if (!changed) return;
    if (state === 'disconnected') this.fire('disconnected', change);
  }
}

function reservedEventError(event: string): RoomfabricError {
  return new RoomfabricError(
    ErrorCode.EVENT_RESERVED,
    `dropped an event from the server named ${JSON.stringify(event)}, a reserved name`,
  );
}
