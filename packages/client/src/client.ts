import {
  assertRoomId,
  BroadcastFlag,
  checkTimeoutOption,
  CloseCode,
  encodeData,
  ErrorCode,
  FrameType,
  isErrorCode,
  RoomfabricError,
  type ClientFrame,
  type StreamPosition,
} from '@roomfabric/protocol';
import { resolveReconnect, type ResolvedReconnect } from './backoff.js';
import { ClientBroadcast, emitFrame, type BroadcastSink } from './broadcast.js';
import { Emitter } from './emitter.js';
import { Connection } from './connection.js';
import { checkUrls } from './url.js';
import { Positions, RecentIds } from './positions.js';
import { Requests, settle, type Request } from './requests.js';
import { RoomStates, type RoomState } from './room-states.js';
import type { ClientEvents, ClientOptions, ClientState, EventMeta, StateChange } from './types.js';

type ServerHandler = (data: unknown, meta: EventMeta) => void;

/**
 * How many broadcast ids (`bid`) the client remembers: more than a recovery replays
 * (the server's recovery limit, 1000 by default, per room).
 */
const SEEN_IDS = 10_000;

export { setDefaultWebSocket } from './connection.js';

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
  /** The connection lifecycle: the link, what the server sends, rejoins, reconnects. */
  private readonly conn: Connection;
  /** The rooms this client wants to be in, and where each stands (room-states.ts). */
  private readonly roomStates = new RoomStates((change) => this.fire('room:state', change));
  /** Requests in flight, joins waiting for a connection, and the offline queue. */
  private readonly pending = new Requests((request, timeout) => this.timedOut(request, timeout));
  /** Where the client stands in each history room (docs/history.md). */
  private readonly positions = new Positions();
  /** Ids of broadcasts to several history rooms shown lately, so each is shown once. */
  private readonly seen = new RecentIds(SEEN_IDS);
  /** How `client.to(room)` broadcasts send: this client's own emits. */
  private readonly sink: BroadcastSink = {
    post: (event, data, rooms, flags) => this.post(event, data, rooms, flags),
    request: (event, data, rooms, flags, timeout) =>
      this.request(event, data, rooms, flags, timeout),
  };

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
    this.conn = new Connection({
      urls: this.urls,
      options: this.options,
      reconnectOpts: this.reconnectOpts,
      ackTimeoutMs: this.ackTimeoutMs,
      roomStates: this.roomStates,
      pending: this.pending,
      positions: this.positions,
      seen: this.seen,
      fire: (event, ...args) => this.fire(event, ...args),
    });
    this.conn.open({ code: 0, reason: 'connect' });
  }

  /** `disconnected`, `connecting` or `connected` (connected = handshake done and rooms rejoined). */
  get state(): ClientState {
    return this.conn.state;
  }

  /** This connection's socket id on the server, once connected. */
  get id(): string | undefined {
    return this.conn.socketId;
  }

  /** The id of the edge node this client is connected to. */
  get nodeId(): string | undefined {
    return this.conn.node;
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
    if (this.conn.state === 'connected') return Promise.resolve();
    if (this.conn.state === 'disconnected') {
      return Promise.reject(
        this.conn.lastError ??
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
            this.conn.lastError ??
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
    return this.roomStates.wanted;
  }

  /**
   * Where this client stands in `room`: `subscribing` (asked, or to be rejoined after a
   * reconnect), `subscribed` (joined on this connection) or `unsubscribed`. Every change
   * fires `room:state` with `{ room, state, code, reason }`.
   *
   * @example
   * client.on('room:state', ({ room, state, reason }) => console.log(room, state, reason));
   * client.roomState('lobby'); // 'subscribed'
   */
  roomState(room: string): RoomState {
    return this.roomStates.state(room);
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
    if (this.roomStates.has(room) && this.conn.live) return Promise.resolve();
    this.roomStates.subscribing(room, 0, 'join');
    return new Promise<void>((resolve, reject) => {
      const request = this.pending.create(
        'join',
        () => resolve(), // the ACK's data (the room position) is the client's own business
        reject,
        this.ackTimeoutMs,
        room,
      );
      if (this.conn.live)
        this.conn.sendRequest(request, (id) => ({ type: FrameType.JOIN, id, room }));
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
    this.roomStates.unsubscribed(room, 0, 'leave');
    this.positions.delete(room);
    for (const waiter of this.pending.joinWaiters.get(room) ?? []) settle(waiter, null);
    this.pending.joinWaiters.delete(room);
    if (!this.conn.live) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const request = this.pending.create(
        'leave',
        resolve as (d: unknown) => void,
        reject,
        this.ackTimeoutMs,
        room,
      );
      this.conn.sendRequest(request, (id) => ({ type: FrameType.LEAVE, id, room }));
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
    return new ClientBroadcast(this.sink, [room], 0);
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
      emit: (event, data) => (this.conn.live ? this.emit(event, data) : false),
      to: (room) => new ClientBroadcast(this.sink, [room], BroadcastFlag.VOLATILE),
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
      if (!this.conn.live) {
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
      this.conn.sendRequest(request, (id) => ({
        type: FrameType.REFRESH,
        id,
        auth: value ?? null,
      }));
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
    if (
      this.conn.state === 'disconnected' &&
      this.conn.link === null &&
      this.conn.retryTimer === undefined
    )
      return;
    const err = new RoomfabricError(ErrorCode.CLIENT_CLOSED, 'the client was closed');
    this.conn.teardown(CloseCode.NORMAL, ErrorCode.CLIENT_CLOSED);
    this.conn.failAll(err, { code: CloseCode.NORMAL, reason: ErrorCode.CLIENT_CLOSED });
    this.conn.setState('disconnected', { code: CloseCode.NORMAL, reason: ErrorCode.CLIENT_CLOSED });
  }

  /** An EMIT, sent now or queued; see {@link emit}. */
  private post(event: string, data: unknown, rooms: string[] | null, flags: number): boolean {
    const frame = emitFrame(event, data, rooms, flags, this.conn.maxDepth, this.conn.maxFrameBytes);
    if (this.conn.live && this.conn.link) {
      this.conn.write(frame(0));
      return true;
    }
    if ((flags & BroadcastFlag.VOLATILE) !== 0) return false;
    if (this.conn.state === 'disconnected' || this.pending.queue.length >= this.maxQueue)
      return false;
    this.pending.queue.push({ frame });
    return true;
  }

  /** An EMIT that waits for its ACK; see {@link emitWithAck}. */
  private request(
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
      frame = emitFrame(event, data, rooms, flags, this.conn.maxDepth, this.conn.maxFrameBytes);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const request = this.pending.create('emit', resolve, reject, timeout!);
      if (this.conn.live) {
        this.conn.sendRequest(request, frame);
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
      if (this.roomStates.unsubscribed(room, 0, ErrorCode.ACK_TIMEOUT) && this.conn.live)
        this.conn.write({ type: FrameType.LEAVE, id: this.pending.takeId(), room });
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

  private assertUsable(): void {
    if (
      this.conn.state === 'disconnected' &&
      this.conn.link === null &&
      this.conn.retryTimer === undefined
    ) {
      throw new RoomfabricError(ErrorCode.CLIENT_CLOSED, 'the client is closed');
    }
  }
}
