import {
  assertRoomId,
  BroadcastFlag,
  checkTimeoutOption,
  CloseCode,
  DEFAULT_LIMITS,
  encodeData,
  ErrorCode,
  FrameType,
  isErrorCode,
  isReconnectable,
  isTemporaryCode,
  RESERVED_EVENTS,
  RoomfabricError,
  type ClientFrame,
  type ServerFrame,
  type StreamPosition,
} from '@roomfabric/protocol';
import { backoffDelay, resolveReconnect, type ResolvedReconnect } from './backoff.js';
import { ClientBroadcast, emitFrame } from './broadcast.js';
import { Emitter } from './emitter.js';
import { Link } from './link.js';
import { Positions, RecentIds } from './positions.js';
import { Requests, settle, type Request } from './requests.js';
import type {
  ClientEvents,
  ClientOptions,
  ClientState,
  EventMeta,
  StateChange,
  WebSocketConstructor,
} from './types.js';

type ServerHandler = (data: unknown, meta: EventMeta) => void;

/**
 * How many broadcast ids (`bid`) the client remembers: more than a recovery replays
 * (the server's recovery limit, 1000 by default, per room).
 */
const SEEN_IDS = 10_000;

let defaultWebSocket: WebSocketConstructor | undefined;

/** @internal Set by the Node entry point to `ws`. */
export function setDefaultWebSocket(impl: WebSocketConstructor): void {
  defaultWebSocket = impl;
}

/**
 * Connects to a Roomfabric edge and returns the client at once; it connects in the
 * background and reconnects on its own. Give several URLs to fail over between nodes.
 *
 * @example
 * const client = connect('ws://localhost:3000/ws', { auth: { token } });
 * await client.join('lobby');
 * client.on('chat', (text, { room }) => console.log(room, text));
 * client.to('lobby').emit('chat', 'hello');
 */
export function connect(
  url: string | readonly string[],
  options: ClientOptions = {},
): RoomfabricClient {
  return new RoomfabricClient(url, options);
}

export class RoomfabricClient extends Emitter<ClientEvents> {
  private readonly urls: readonly string[];
  private readonly options: ClientOptions;
  private readonly reconnectOpts: ResolvedReconnect | null;
  private readonly ackTimeoutMs: number;
  private readonly maxQueue: number;
  private readonly desired = new Set<string>();
  /** Requests in flight, joins waiting for a connection, and the offline queue. */
  private readonly pending = new Requests((request, timeout) => this.timedOut(request, timeout));
  private link: Link | null = null;
  private currentState: ClientState = 'disconnected';
  private live = false;
  private attempt = 0;
  private urlIndex = 0;
  private socketId: string | undefined;
  /** The socket id of the previous connection: the server skips its broadcasts on replay. */
  private previousSocketId: string | undefined;
  /** Where the client stands in each history room (docs/history.md). */
  private readonly positions = new Positions();
  /** Ids of broadcasts to several history rooms shown lately, so each is shown once. */
  private readonly seen = new RecentIds(SEEN_IDS);
  private node: string | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Rooms whose rejoin is being retried on this connection, and the timers of those retries. */
  private readonly retrying = new Set<string>();
  private readonly retryTimers = new Set<ReturnType<typeof setTimeout>>();
  private lastError: RoomfabricError | undefined;
  /** How deep a frame may nest, as the server announced it (HELLO), or the default. */
  private maxDepth: number = DEFAULT_LIMITS.maxFrameDepth;
  /** The largest message the server accepts, as it announced it (HELLO), or the default. */
  private maxFrameBytes: number = DEFAULT_LIMITS.maxFrameBytes;

  /** @internal Use {@link connect}. */
  constructor(url: string | readonly string[], options: ClientOptions = {}) {
    super();
    this.urls = checkUrls(url);
    if (options === null || typeof options !== 'object') {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'connect() options must be an object');
    }
    this.options = { ...options };
    this.reconnectOpts = resolveReconnect(options.reconnect);
    this.ackTimeoutMs = checkTimeoutOption('ackTimeoutMs', options.ackTimeoutMs, 10_000);
    checkTimeoutOption('connectTimeoutMs', options.connectTimeoutMs, 10_000);
    this.maxQueue = options.maxQueue ?? 100;
    if (!Number.isSafeInteger(this.maxQueue) || this.maxQueue < 0) {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'maxQueue must be an integer >= 0');
    }
    this.open({ code: 0, reason: 'connect' });
  }

  /** `disconnected`, `connecting` or `connected` (connected = handshake done and rooms rejoined). */
  get state(): ClientState {
    return this.currentState;
  }

  /** This connection's socket id on the server, once connected. */
  get id(): string | undefined {
    return this.socketId;
  }

  /** The id of the edge node this client is connected to. */
  get nodeId(): string | undefined {
    return this.node;
  }

  /**
   * Resolves once the client is connected (handshake done, rooms rejoined); rejects with
   * a `RoomfabricError` if it ends up disconnected for good first.
   *
   * @example
   * const client = connect(url);
   * await client.ready();
   */
  ready(): Promise<void> {
    if (this.currentState === 'connected') return Promise.resolve();
    if (this.currentState === 'disconnected') {
      return Promise.reject(
        this.lastError ??
          new RoomfabricError(ErrorCode.CLIENT_CLOSED, 'the client is disconnected'),
      );
    }
    return new Promise((resolve, reject) => {
      const onState = (state: ClientState, change: StateChange) => {
        if (state === 'connecting') return;
        this.off('state', onState);
        if (state === 'connected') resolve();
        else {
          reject(
            this.lastError ??
              new RoomfabricError(
                isErrorCode(change.reason) ? change.reason : ErrorCode.DISCONNECTED,
                `disconnected (${change.code})`,
              ),
          );
        }
      };
      this.on('state', onState);
    });
  }

  /** Rooms this client is in, or will rejoin on reconnect. */
  get rooms(): ReadonlySet<string> {
    return this.desired;
  }

  /**
   * Where this client stands in a room that keeps history: the offset of the last event
   * it got through the room, and the history's epoch. Sent on every rejoin so that the
   * server replays what was missed (see the `rejoined` event). Undefined for rooms
   * without history, and for rooms the server (not this client) joined.
   *
   * @example
   * client.position('chat:general'); // { offset: 1042, epoch: '2026-11-25T20:29:45.648Z' }
   */
  position(room: string): StreamPosition | undefined {
    return this.positions.get(room);
  }

  /**
   * Listens for a server event (`(data, meta) => ...`) or a lifecycle event: `state`
   * (on every change of state), `connecting` (on each reconnect cycle, with its reason),
   * `connected`, `disconnected`, `error`, `rejoined` (each room after a reconnect, with
   * `recovered`: whether every missed event of a history room was replayed).
   *
   * @example
   * client.on('chat', (text, meta) => render(meta.room, text));
   * client.on('state', (state, { code, reason }) => console.log(state, code, reason));
   */
  on<K extends keyof ClientEvents>(event: K, handler: ClientEvents[K]): this;
  on(event: string, handler: ServerHandler): this;
  on(event: string, handler: (...args: never[]) => void): this {
    if (typeof event !== 'string' || typeof handler !== 'function') {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        'client.on needs an event name and a handler function',
      );
    }
    this.addListener(event, handler);
    return this;
  }

  /**
   * Removes a listener added with {@link on}.
   *
   * @example
   * client.off('chat', onChat);
   */
  off(event: string, handler: (...args: never[]) => void): this {
    this.removeListener(event, handler);
    return this;
  }

  /**
   * Joins a room. Resolves when the server acknowledged it: from then on every broadcast
   * to the room reaches this client. Rejects with a `RoomfabricError` (`RF_FORBIDDEN`,
   * `RF_ROOM_INVALID`, `RF_ROOM_LIMIT`, `RF_ACK_TIMEOUT`...). The room is rejoined after
   * every reconnect. Called while disconnected, it resolves once the connection is back.
   *
   * @example
   * await client.join('doc:42');
   */
  join(room: string): Promise<void> {
    try {
      this.assertUsable();
      assertRoomId(room);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.desired.has(room) && this.live) return Promise.resolve();
    this.desired.add(room);
    return new Promise<void>((resolve, reject) => {
      const request = this.pending.create(
        'join',
        resolve as (d: unknown) => void,
        reject,
        this.ackTimeoutMs,
        room,
      );
      if (this.live) this.sendRequest(request, (id) => ({ type: FrameType.JOIN, id, room }));
      else this.pending.waitForJoin(room, request);
    });
  }

  /**
   * Leaves a room; it is no longer rejoined on reconnect. Resolves on the server's ack,
   * or at once while disconnected (the server holds no rooms for a closed connection).
   *
   * @example
   * await client.leave('doc:42');
   */
  leave(room: string): Promise<void> {
    try {
      this.assertUsable();
      assertRoomId(room);
    } catch (err) {
      return Promise.reject(err);
    }
    this.desired.delete(room);
    this.positions.delete(room);
    for (const waiter of this.pending.joinWaiters.get(room) ?? []) settle(waiter, null);
    this.pending.joinWaiters.delete(room);
    if (!this.live) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const request = this.pending.create(
        'leave',
        resolve as (d: unknown) => void,
        reject,
        this.ackTimeoutMs,
        room,
      );
      this.sendRequest(request, (id) => ({ type: FrameType.LEAVE, id, room }));
    });
  }

  /**
   * Sends an event to the server's handler (`socket.on(event, ...)`). While not connected
   * it is queued (up to `maxQueue`) and sent after the rooms are rejoined. Returns false
   * when it was dropped because the queue is full. At most once: an emit in flight when
   * the connection drops may be lost.
   *
   * @example
   * client.emit('typing', { doc: 42 });
   */
  emit(event: string, data?: unknown): boolean {
    return this.post(event, data, null, 0);
  }

  /**
   * Socket.IO's `send`: emits a `message` event to the server (`socket.on('message', ...)`
   * there). Same rules as {@link emit}.
   *
   * @example
   * client.send('hello');
   */
  send(data?: unknown): boolean {
    return this.emit('message', data);
  }

  /**
   * Sends an event and resolves with the handler's `ack(response)`. Rejects with
   * `RF_ACK_TIMEOUT` after `timeout` ms (counted from the call), `RF_NO_HANDLER`,
   * `RF_HANDLER_FAILED`, or `RF_DISCONNECTED` if the connection drops first (the
   * server may or may not have handled it; it is not resent).
   *
   * @example
   * const saved = await client.emitWithAck('save', doc, { timeout: 5000 });
   */
  emitWithAck(event: string, data?: unknown, options: { timeout?: number } = {}): Promise<unknown> {
    return this.request(event, data, null, 0, options?.timeout);
  }

  /**
   * Broadcasts to rooms this client is in; the sender does not get it back.
   *
   * @example
   * client.to('lobby').emit('chat', 'hi all');
   * client.to('a').to('b').emit('notice', 'once per member');
   */
  to(room: string): ClientBroadcast {
    return new ClientBroadcast(this, [room], 0);
  }

  /**
   * Emits that may be dropped instead of queued: while disconnected, or (for room
   * broadcasts) for members whose buffers are full. For cursors and positions.
   *
   * @example
   * client.volatile.to('doc:42').emit('cursor', { x, y });
   */
  get volatile(): {
    emit(event: string, data?: unknown): boolean;
    to(room: string): ClientBroadcast;
  } {
    return {
      emit: (event, data) => (this.live ? this.emit(event, data) : false),
      to: (room) => new ClientBroadcast(this, [room], BroadcastFlag.VOLATILE),
    };
  }

  /**
   * Sends fresh credentials on the live connection, without reconnecting: calls the
   * `auth` option again when it is a function (or uses `auth` given here). Resolves when
   * the server accepted them; rejects with `RF_UNAUTHORIZED` (a token for another user,
   * or invalid) or `RF_TOKEN_EXPIRED`.
   *
   * @example
   * const client = connect(url, { auth: async () => ({ token: await fetchToken() }) });
   * setInterval(() => client.refresh().catch(console.error), 10 * 60_000);
   */
  async refresh(auth?: unknown): Promise<void> {
    this.assertUsable();
    const value: unknown =
      auth ??
      (typeof this.options.auth === 'function'
        ? await (this.options.auth as () => unknown)()
        : this.options.auth);
    encodeData(value, 'auth'); // throws RF_INVALID_ARGUMENT before anything is sent
    if (auth !== undefined && typeof this.options.auth !== 'function') this.options.auth = auth;
    await new Promise((resolve, reject) => {
      const request = this.pending.create('emit', resolve, reject, this.ackTimeoutMs);
      if (!this.live) {
        settle(
          request,
          new RoomfabricError(
            ErrorCode.DISCONNECTED,
            'not connected: the next connection sends the new auth',
            { temporary: true },
          ),
        );
        return;
      }
      this.sendRequest(request, (id) => ({ type: FrameType.REFRESH, id, auth: value ?? null }));
    });
  }

  /**
   * Closes the connection for good (code 1000): no reconnect, every pending call rejects
   * with `RF_CLIENT_CLOSED`.
   *
   * @example
   * client.close();
   */
  close(): void {
    if (this.currentState === 'disconnected' && this.link === null && this.retryTimer === undefined)
      return;
    const err = new RoomfabricError(ErrorCode.CLIENT_CLOSED, 'the client was closed');
    this.teardown(CloseCode.NORMAL, ErrorCode.CLIENT_CLOSED);
    this.failAll(err, true);
    this.setState('disconnected', { code: CloseCode.NORMAL, reason: ErrorCode.CLIENT_CLOSED });
  }

  /** @internal An EMIT, sent now or queued; see {@link emit}. */
  post(event: string, data: unknown, rooms: string[] | null, flags: number): boolean {
    const frame = emitFrame(event, data, rooms, flags, this.maxDepth, this.maxFrameBytes);
    if (this.live && this.link) {
      this.write(frame(0));
      return true;
    }
    if ((flags & BroadcastFlag.VOLATILE) !== 0) return false;
    if (this.currentState === 'disconnected' || this.pending.queue.length >= this.maxQueue)
      return false;
    this.pending.queue.push({ frame });
    return true;
  }

  /** @internal */
  request(
    event: string,
    data: unknown,
    rooms: string[] | null,
    flags: number,
    timeout?: number,
  ): Promise<unknown> {
    let frame: (id: number) => ClientFrame;
    try {
      this.assertUsable();
      timeout = checkTimeoutOption('timeout', timeout, this.ackTimeoutMs);
      frame = emitFrame(event, data, rooms, flags, this.maxDepth, this.maxFrameBytes);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const request = this.pending.create('emit', resolve, reject, timeout!);
      if (this.live) {
        this.sendRequest(request, frame);
      } else if (this.pending.queue.length >= this.maxQueue) {
        settle(
          request,
          new RoomfabricError(ErrorCode.QUEUE_FULL, 'the offline queue is full', {
            temporary: true,
          }),
        );
      } else {
        this.pending.queue.push({ frame, request });
      }
    });
  }

  private timedOut(request: Request, timeout: number): void {
    this.pending.forget(request);
    if (request.kind === 'join' && request.room !== undefined && !request.rejoin) {
      const room = request.room;
      // All or nothing: a join that failed leaves the client outside the room.
      if (this.desired.delete(room) && this.live)
        this.write({ type: FrameType.LEAVE, id: this.pending.takeId(), room });
    }
    settle(
      request,
      new RoomfabricError(
        ErrorCode.ACK_TIMEOUT,
        `${request.kind}${request.room === undefined ? '' : ` of ${JSON.stringify(request.room)}`}: no answer within ${timeout} ms`,
        { temporary: true, ...(request.room !== undefined && { details: { room: request.room } }) },
      ),
    );
  }

  private sendRequest(request: Request, frame: (id: number) => ClientFrame): void {
    this.pending.send(request, frame, (f) => this.write(f));
  }

  private write(frame: ClientFrame): void {
    this.link?.send(frame);
  }

  private assertUsable(): void {
    if (
      this.currentState === 'disconnected' &&
      this.link === null &&
      this.retryTimer === undefined
    ) {
      throw new RoomfabricError(ErrorCode.CLIENT_CLOSED, 'the client is closed');
    }
  }

  // --- connection lifecycle -------------------------------------------------------------

  private open(change: StateChange): void {
    if (this.currentState !== 'connecting') this.setState('connecting', change);
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
          const rooms = this.positions.serverRooms(this.desired);
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
        this.positions.serverJoined(frame.rooms ?? [], this.desired);
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
          if (!(request.rejoin && err.temporary)) this.desired.delete(request.room);
        }
        if (frame.type === FrameType.ACK && request.kind === 'join' && request.room !== undefined)
          this.positions.joined(request.room, frame.data);
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
        if (this.desired.delete(frame.from)) this.desired.add(frame.to);
        this.positions.delete(frame.from);
        if (frame.position && this.positions.get(frame.to) === undefined) {
          this.positions.joined(frame.to, frame.position);
        }
        this.fire('moved', { from: frame.from, to: frame.to });
        return;
      case FrameType.LEFT:
        // The server took this client out of a room it had joined: do not rejoin it.
        this.desired.delete(frame.room);
        this.positions.delete(frame.room);
        this.fire('left', { room: frame.room, code: frame.code, reason: frame.message });
        return;
    }
  }

  /** After HELLO: rejoin every room, then report `connected`, then flush the queue. */
  private async rejoin(): Promise<void> {
    const link = this.link;
    const rooms = [...this.desired];
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
      if (this.retrying.has(room)) continue;
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
    if (err?.temporary && this.desired.has(room)) {
      this.fire('error', err);
      this.retrying.add(room);
      const timer = setTimeout(
        () => {
          this.retryTimers.delete(timer);
          if (this.link !== link || !this.desired.has(room)) {
            this.retrying.delete(room);
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
    this.retrying.delete(room);
    if (err) {
      this.desired.delete(room);
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
      this.failAll(err, true);
      this.setState('disconnected', change);
      return;
    }
    this.pending.failInFlight(this.desired);
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
        true,
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
  private teardown(code?: number, reason?: string): void {
    const link = this.link;
    this.link = null;
    this.live = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    this.retrying.clear();
    if (link && code !== undefined) link.close(code, reason ?? '');
  }

  /** Nothing more will be sent: reject everything pending and queued. */
  private failAll(err: RoomfabricError, forgetRooms: boolean): void {
    this.pending.failAll(err);
    if (forgetRooms) this.desired.clear();
  }

  private setState(state: ClientState, change: StateChange, always = false): void {
    const changed = state !== this.currentState;
    this.currentState = state;
    if (state !== 'connected') this.live = false;
    if (changed) this.fire('state', state, change);
    if (state === 'connecting' && (changed || always)) this.fire('connecting', change);
    if (!changed) return;
    if (state === 'disconnected') this.fire('disconnected', change);
  }
}

const SCHEMES: Record<string, string> = {
  'ws:': 'ws:',
  'wss:': 'wss:',
  'http:': 'ws:',
  'https:': 'wss:',
};

/**
 * The URLs of `connect()`, each checked: `ws://`, `wss://`, or `http(s)://` (taken as
 * `ws(s)://`). Anything else, a bare `host:port` included, throws `RF_INVALID_ARGUMENT`
 * at once instead of failing later in the WebSocket.
 */
function checkUrls(url: unknown): string[] {
  const list = typeof url === 'string' ? [url] : Array.isArray(url) ? [...(url as unknown[])] : [];
  if (list.length === 0) {
    throw new RoomfabricError(
      ErrorCode.INVALID_ARGUMENT,
      'connect() needs a URL such as ws://127.0.0.1:3000/ws, or a list of them',
    );
  }
  return list.map((u) => {
    let parsed: URL | undefined;
    try {
      parsed = typeof u === 'string' ? new URL(u) : undefined;
    } catch {
      parsed = undefined;
    }
    const scheme = parsed && SCHEMES[parsed.protocol];
    if (!parsed || !scheme) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        `connect() needs ws://, wss://, http:// or https:// URLs, got ${JSON.stringify(String(u)).slice(0, 200)} (e.g. ws://127.0.0.1:3000/ws)`,
      );
    }
    parsed.protocol = scheme;
    return parsed.href;
  });
}

function reservedEventError(event: string): RoomfabricError {
  return new RoomfabricError(
    ErrorCode.EVENT_RESERVED,
    `dropped an event from the server named ${JSON.stringify(event)}, a reserved name`,
  );
}
