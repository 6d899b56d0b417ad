import { Operator, type RemoteSocket } from '@roomfabric/fabric';
import { OrderedOps } from '@roomfabric/membership';
import {
  assertEventName,
  checkRooms,
  checkTimeoutOption,
  CloseCode,
  encodeData,
  encodeEventFrame,
  encodeServerFrame,
  ErrorCode,
  FrameType,
  isReservedRoom,
  isRoomfabricError,
  roomIdProblem,
  RoomfabricError,
  type ConnectRecover,
} from '@roomfabric/protocol';
import type WebSocket from 'ws';
import { PendingAcks } from './acks.js';
import type { EdgeContext } from './context.js';
import type { AuthGrant } from './jwt-auth.js';
import { presenceUser } from './presence.js';
import { RateLimiter } from './rate-limit.js';
import { Outbox, writeFrames, type SharedBatch } from './sender.js';
import type {
  Ack,
  AckFn,
  DisconnectReason,
  EventHandler,
  Handshake,
  SocketState,
} from './socket-types.js';

export type { Ack, AckFn, DisconnectReason, EventHandler, Handshake, SocketState };

type DisconnectHandler = (reason: DisconnectReason) => void;

/** What `fetchSockets` returns on an edge: its own sockets as `Socket`, others as `RemoteSocket`. */
export type FabricSocket = Socket | RemoteSocket;

/**
 * One client connection on this node. The API follows Socket.IO's server-side socket:
 * `id`, `data`, `rooms`, `join`, `leave`, `on`, `emit`, `to(room).emit` (sender excluded).
 */
export class Socket {
  /** Filled in by connect middleware; stored in the membership index on connect. */
  data: Record<string, unknown> = {};
  /** @internal */ state: SocketState = 'handshaking';
  /** @internal */ alive = true;
  /** @internal This turn's frames, written at the end of the turn. */
  readonly outbox = new Outbox();
  /** @internal */ handshakeTimer: NodeJS.Timeout | undefined;
  /** @internal Set once the server started closing this socket. */
  closing = false;
  /** @internal Set when the socket is being added to the index (before HELLO). */
  registered = false;
  /** @internal The user this socket is counted under for the per-user caps and budget. */
  countedUser: string | undefined;
  /** @internal Set while the node does not read this socket (its user or node over budget). */
  paused = false;
  /** @internal What the socket's token allows (JWT auth only). */
  grant: AuthGrant | undefined;
  /** @internal Closes the socket when its token expires. */
  authTimer: NodeJS.Timeout | undefined;
  /** @internal */ readonly rate: RateLimiter;
  /** @internal CONNECT's positions in rooms the server joins (history/connect.ts). */
  connectRecover: ConnectRecover | null = null;
  /**
   * @internal Rooms the client joined itself (JOIN), which it rejoins after a reconnect:
   * when the server takes it out of one, the client is told (LEFT) so it does not.
   */
  clientRooms: Set<string> | undefined;
  private readonly roomSet = new Set<string>();
  // Created on first use: most sockets of a fan-out node never get an app handler or an
  // ack, and idle connections are what a node holds most of (docs/benchmarks.md, memory).
  private handlers: Map<string, Set<EventHandler>> | undefined;
  private disconnectHandlers: Set<DisconnectHandler> | undefined;
  private acks: PendingAcks | undefined;
  /**
   * Index writes for this socket, in order: join, leave and removal never overtake each
   * other; joins of distinct rooms run together (see {@link serialJoin}).
   */
  private readonly ops = new OrderedOps();

  /** @internal */
  constructor(
    readonly id: string,
    readonly handshake: Handshake,
    /** @internal */ readonly ws: WebSocket,
    /** @internal */ readonly ctx: EdgeContext<Socket>,
  ) {
    this.rate = new RateLimiter(ctx.limits.maxFramesPerSecond, ctx.limits.maxBytesPerSecond);
  }

  /** The id of the node this socket is connected to. */
  get nodeId(): string {
    return this.ctx.nodeId;
  }

  /** The rooms this socket is in, as this node holds them. */
  get rooms(): ReadonlySet<string> {
    return this.roomSet;
  }

  get connected(): boolean {
    return this.state === 'open';
  }

  /**
   * Joins one room or several. The returned Promise resolves once the socket is in the
   * local index, the node is subscribed to the rooms on the bus, and the global index is
   * written: a broadcast published after that reaches this socket. All or nothing. For a
   * room that keeps history the client is also told its position (POSITION), so that it
   * recovers the room after a drop.
   */
  join(room: string | readonly string[]): Promise<void> {
    // Before HELLO the connect catch-up tells the positions (history/connect.ts).
    if (!this.ctx.history || this.ctx.holds.holdsAll(this)) return this.joinRooms(room);
    try {
      return this.ctx.appJoin(this, checkRooms(room, this.ctx.limits.maxRoomLength));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** @internal {@link join} without the POSITION notice: the caller handles history. */
  joinRooms(room: string | readonly string[]): Promise<void> {
    const ctx = this.ctx;
    try {
      const rooms = checkRooms(room, ctx.limits.maxRoomLength);
      const added = rooms.filter((r) => !this.roomSet.has(r));
      const max = ctx.limits.maxRoomsPerSocket;
      if (this.roomSet.size + added.length > max) {
        throw new RoomfabricError(ErrorCode.ROOM_LIMIT, `a socket may be in at most ${max} rooms`, {
          details: { limit: max },
        });
      }
      this.assertOpen();
      const local = added.map((r) => {
        this.roomSet.add(r);
        return ctx.localRooms.add(r, this);
      });
      // The subscriptions still being made (a room that exists here is usually subscribed).
      let waitFor: Array<Promise<void>> | undefined;
      for (const r of rooms) {
        const room = ctx.localRooms.get(r);
        if (room && !room.subscribed) (waitFor ??= []).push(room.ready);
      }
      // Undoes the local part so the socket is exactly where it was before (the leave
      // below comes after any re-assert that snapshotted the provisional rooms).
      const undo = (err: unknown): never => {
        for (const r of local) this.dropLocal(r.id);
        ctx.indexRepairs.failed(this.id, added);
        if (this.state === 'open') {
          ctx.membership.leave(this.id, added).catch(ctx.onBackgroundError);
        }
        throw err;
      };
      // then(), not async/await: every JOIN frame takes this path.
      return this.serialJoin(rooms, () =>
        (waitFor
          ? Promise.all(waitFor).then(() => this.joinIndex(rooms))
          : this.joinIndex(rooms)
        ).catch(undo),
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Writes a join to the index. An index that lost this socket (Redis restarted empty,
   * before this node re-asserted) answers RF_INVALID_ARGUMENT: register it again and retry
   * once, since the socket is alive and the index is only behind.
   */
  private joinIndex(rooms: string[]): Promise<void> {
    const { membership } = this.ctx;
    return membership.join(this.id, rooms).then(
      () => undefined,
      async (err: unknown) => {
        if (
          !isRoomfabricError(err) ||
          err.code !== ErrorCode.INVALID_ARGUMENT ||
          this.state !== 'open'
        )
          throw err;
        // Re-register with every room it holds locally (the new ones included), its truth.
        await membership.addSocket({
          socketId: this.id,
          nodeId: this.nodeId,
          user: presenceUser(this.data),
          data: this.data,
        });
        await membership.join(this.id, [...this.roomSet]);
      },
    );
  }

  /**
   * Leaves one room or several. Leaving a room the socket is not in does nothing. A room
   * the client had joined itself is left for good: the client is told (its `left` event,
   * code `RF_KICKED`) and does not rejoin it after a reconnect.
   */
  leave(room: string | readonly string[]): Promise<void> {
    return this.leaveTelling(
      room,
      ErrorCode.KICKED,
      'the server removed this socket from the room',
    );
  }

  /** @internal {@link leave}, telling the client `code` for rooms it had joined itself. */
  leaveTelling(room: string | readonly string[], code: ErrorCode, message: string): Promise<void> {
    try {
      const rooms = checkRooms(room, this.ctx.limits.maxRoomLength);
      for (const r of rooms) {
        if (this.clientRooms?.delete(r) && this.roomSet.has(r) && this.state === 'open') {
          this.enqueue(encodeServerFrame({ type: FrameType.LEFT, room: r, code, message }), false);
        }
        this.dropLocal(r);
      }
      if (this.state !== 'open') return Promise.resolve();
      const repairs = this.ctx.indexRepairs;
      repairs.left(this.id, rooms);
      return this.serial(() => this.ctx.membership.leave(this.id, rooms)).then(
        () => undefined,
        (err: unknown) => {
          repairs.failed(this.id, rooms);
          throw err;
        },
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * True when this socket's client may join `room` on its own: a valid room id, not
   * reserved, allowed by the edge's policy and, with JWT auth, by its token's `join`
   * grants. Application code that joins or moves sockets for a client (a raid, say) should
   * ask this first, so that it grants no more than the client's own JOIN would.
   *
   * @example
   * if (!socket.mayJoin(target)) return ack({ error: 'RF_FORBIDDEN' });
   */
  mayJoin(room: string): boolean {
    if (roomIdProblem(room, this.ctx.limits.maxRoomLength) !== undefined) return false;
    return !isReservedRoom(room) && this.ctx.mayJoin(this, room);
  }

  /**
   * True when this socket's client may broadcast `event` to `rooms` on its own: valid,
   * unreserved rooms it is in, allowed by the policy and by its token's `publish` grants.
   */
  mayPublish(rooms: string | readonly string[], event: string): boolean {
    const list = typeof rooms === 'string' ? [rooms] : Array.isArray(rooms) ? rooms : [];
    if (list.length === 0 || typeof event !== 'string') return false;
    for (const r of list) {
      if (roomIdProblem(r, this.ctx.limits.maxRoomLength) !== undefined) return false;
      if (isReservedRoom(r) || !this.roomSet.has(r)) return false;
    }
    return this.ctx.mayPublish(this, list, event);
  }

  /** Handles a client event, or `disconnect` (`(reason) => ...`) when the connection ends. */
  on(event: 'disconnect', handler: DisconnectHandler): this;
  on(event: string, handler: EventHandler): this;
  on(event: string, handler: EventHandler | DisconnectHandler): this {
    if (typeof handler !== 'function') {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'socket.on needs a handler function');
    }
    if (event === 'disconnect') {
      (this.disconnectHandlers ??= new Set()).add(handler as DisconnectHandler);
      return this;
    }
    assertEventName(event, this.ctx.limits.maxEventLength);
    const handlers = (this.handlers ??= new Map());
    let set = handlers.get(event);
    if (!set) handlers.set(event, (set = new Set()));
    set.add(handler as EventHandler);
    return this;
  }

  off(event: string, handler: EventHandler | DisconnectHandler): this {
    if (event === 'disconnect') this.disconnectHandlers?.delete(handler as DisconnectHandler);
    else this.handlers?.get(event)?.delete(handler as EventHandler);
    return this;
  }

  /** Sends an event to this socket only. Returns false when the socket is closed. */
  emit(event: string, data?: unknown): boolean {
    return this.emitDirect(event, data, false);
  }

  /** Direct emits that may be dropped when this socket's buffer is over the volatile threshold. */
  get volatile(): { emit(event: string, data?: unknown): boolean } {
    return { emit: (event, data) => this.emitDirect(event, data, true) };
  }

  /**
   * Sends an event and waits for the client's `meta.ack(response)`. Rejects with
   * `RF_ACK_TIMEOUT` after `timeout` ms (default 10000), `RF_DISCONNECTED` if the socket
   * closes first.
   */
  emitWithAck(event: string, data?: unknown, options: { timeout?: number } = {}): Promise<unknown> {
    let eventData: Uint8Array;
    let timeout: number;
    try {
      assertEventName(event, this.ctx.limits.maxEventLength);
      timeout = checkTimeoutOption('timeout', options?.timeout, 10_000);
      eventData = encodeData(data);
      this.assertOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    const { id, answer } = (this.acks ??= new PendingAcks()).create(event, timeout);
    this.enqueue(encodeEventFrame(event, eventData, null, id), false);
    return answer;
  }

  /** Broadcast to a room, this socket excluded. */
  to(room: string | readonly string[]): Operator<FabricSocket> {
    return this.broadcast.to(room);
  }

  /** Broadcast to every socket except this one and the members of `room`. */
  except(room: string | readonly string[]): Operator<FabricSocket> {
    return this.broadcast.except(room);
  }

  /** Broadcast to every socket of the fabric except this one. */
  get broadcast(): Operator<FabricSocket> {
    return new Operator(this.ctx.operatorHost, [], [], this.id);
  }

  /**
   * @internal A raid moved this socket in the index; follow it locally (no index write).
   */
  moveLocal(from: string, to: string): void {
    // The client follows MOVED: a room it had joined itself becomes `to`.
    if (this.clientRooms?.delete(from)) this.clientRooms.add(to);
    this.dropLocal(from);
    this.ctx.indexRepairs.left(this.id, [from]);
    if (!this.roomSet.has(to)) {
      this.roomSet.add(to);
      this.ctx.localRooms.add(to, this);
    }
  }

  /**
   * Closes the connection with code 4501 (`RF_KICKED`); the client does not reconnect.
   * Resolves once the socket is out of the global index (without waiting for the client to
   * answer the close), so that a `disconnectSockets()` that resolved is seen by every
   * reader of the index.
   */
  disconnect(): Promise<void> {
    const wasOpen = this.state === 'open';
    if (wasOpen) {
      this.sendError(
        0,
        new RoomfabricError(ErrorCode.KICKED, 'disconnected by the server; do not reconnect'),
      );
    }
    this.close(CloseCode.KICKED, ErrorCode.KICKED);
    if (!wasOpen) return Promise.resolve();
    // Removing twice is harmless: the close handler's removal then finds nothing.
    return this.serial(() => this.ctx.membership.removeSocket(this.id)).then(
      () => undefined,
      (err: unknown) => {
        this.ctx.indexRepairs.failed(this.id, []);
        throw err;
      },
    );
  }

  /**
   * Socket.IO's `send`: emits a `message` event to this socket (the client handles it
   * with `client.on('message', ...)`). Returns false when the socket is closed.
   *
   * @example
   * socket.send('hello');
   */
  send(data?: unknown): boolean {
    return this.emit('message', data);
  }

  /**
   * @internal Queues bytes for this socket; all frames of one event-loop turn go in one
   * write (sender.ts). A socket past `maxBufferedBytes` is closed with 3008 instead.
   */
  enqueue(frame: Uint8Array, volatile: boolean): boolean {
    if (this.state === 'closed' || this.closing) return false;
    const buffered = this.ws.bufferedAmount + this.outbox.bytes;
    const { limits, counters } = this.ctx;
    if (volatile && buffered > limits.volatileBufferBytes) {
      counters.volatileDrops++;
      return false;
    }
    if (buffered > limits.maxBufferedBytes) {
      counters.slowConsumerCloses++;
      // What is still queued for this turn would only grow the jam: drop it.
      this.outbox.take();
      this.close(CloseCode.SLOW_CONSUMER, ErrorCode.SLOW_CONSUMER, SLOW_CLOSE_GRACE_MS);
      return false;
    }
    this.outbox.push(frame);
    this.ctx.sender.schedule(this);
    return true;
  }

  /**
   * @internal Writes everything queued, as one WebSocket message when it fits. `shared`
   * (one per end-of-turn flush) lets the members of a room, who queued the very same
   * frames, share one concatenated buffer instead of copying it once each.
   */
  flush(shared?: SharedBatch): void {
    const { frames, bytes } = this.outbox.take();
    if (this.state === 'closed' || frames.length === 0) return;
    writeFrames(this.ws, frames, bytes, shared);
    this.ctx.counters.writes++;
  }

  /** @internal Sends an ERROR frame (`id` 0 when it answers no request). */
  sendError(id: number, err: RoomfabricError): void {
    this.enqueue(
      encodeServerFrame({ type: FrameType.ERROR, id, code: err.code, message: err.message }),
      false,
    );
  }

  /** @internal Closes the WebSocket; cleanup runs in `handleClose`. */
  close(code: number, reason: string, graceMs = CLOSE_GRACE_MS): void {
    if (this.state === 'closed' || this.closing) return;
    this.closing = true;
    // Flush what is queued (an ERROR frame explaining the close, typically) first.
    if (this.outbox.scheduled) this.flush();
    this.ws.close(code, reason);
    // A peer that never answers the close handshake (or whose buffer is jammed, so it
    // cannot even read our close frame) is cut off instead of holding memory for the 30 s
    // `ws` would wait.
    setTimeout(() => this.ws.terminate(), graceMs).unref();
  }

  /** @internal Runs the client's handlers for an event. */
  dispatch(event: string, data: unknown, ack: Ack | undefined): boolean {
    const set = this.handlers?.get(event);
    if (!set || set.size === 0) return false;
    for (const handler of set) {
      try {
        const result = handler(data, ack);
        if (result instanceof Promise) result.catch((err: unknown) => this.handlerFailed(err, ack));
      } catch (err) {
        this.handlerFailed(err, ack);
      }
    }
    return true;
  }

  /** @internal Resolves a pending `emitWithAck`. False for an unknown id. */
  settleAck(id: number, data: unknown): boolean {
    return this.acks?.settle(id, data) ?? false;
  }

  /** @internal Called once when the WebSocket has closed. */
  handleClose(reason: DisconnectReason): void {
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.authTimer);
    this.outbox.take();
    this.acks?.disconnected();
    this.acks = undefined;
    if (!wasOpen) return;
    const ctx = this.ctx;
    for (const room of this.roomSet) ctx.localRooms.remove(room, this);
    const rooms = [...this.roomSet];
    ctx.indexRepairs.left(this.id, rooms);
    this.roomSet.clear();
    this.serial(() => ctx.membership.removeSocket(this.id)).catch((err: unknown) => {
      ctx.indexRepairs.failed(this.id, rooms);
      ctx.onBackgroundError(err);
    });
    for (const handler of this.disconnectHandlers ?? []) {
      try {
        handler(reason);
      } catch (err) {
        ctx.onBackgroundError(err);
      }
    }
  }

  private emitDirect(event: string, data: unknown, volatile: boolean): boolean {
    assertEventName(event, this.ctx.limits.maxEventLength);
    if (this.state !== 'open') return false;
    return this.enqueue(encodeEventFrame(event, encodeData(data), null, 0), volatile);
  }

  private handlerFailed(err: unknown, ack: Ack | undefined): void {
    this.ctx.logger.warn({ err, socket: this.id }, 'event handler failed');
    if (ack && (ack as AckFn).pending) {
      (ack as AckFn).pending = false;
      this.sendError(
        (ack as AckFn).id,
        new RoomfabricError(ErrorCode.HANDLER_FAILED, 'the event handler failed'),
      );
    }
  }

  private assertOpen(): void {
    if (this.state !== 'open') {
      throw new RoomfabricError(ErrorCode.DISCONNECTED, 'the socket is not connected');
    }
  }

  private dropLocal(room: string): void {
    this.ctx.holds.forget(this, room);
    if (this.roomSet.delete(room)) this.ctx.localRooms.remove(room, this);
  }

  /**
   * @internal Resolves once this socket's earlier index writes are done, and holds its
   * later ones until `release` settles: a re-assert writes the socket's rooms meanwhile,
   * so no write of its own can land between the snapshot and the re-assert.
   */
  holdIndex(release: Promise<unknown>): Promise<void> {
    return new Promise((reached) => {
      void this.serial(() => {
        reached();
        return release.then(
          () => undefined,
          () => undefined,
        );
      });
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.ops.run(undefined, [], fn);
  }

  /**
   * Like {@link serial}, but a join that follows joins of other rooms runs with them (joins
   * of distinct rooms commute): a client with 16 joins in flight gets them written in one
   * round trip, not 16 one after the other. A join that names a room of one still running
   * waits for it, and any other write waits for all of them.
   */
  private serialJoin<T>(rooms: readonly string[], fn: () => Promise<T>): Promise<T> {
    return this.ops.run('join', rooms, fn);
  }
}

/** How long a closing peer gets to complete the close handshake before it is cut off. */
const CLOSE_GRACE_MS = 2000;
/**
 * The same for a slow consumer: its close frame waits behind a backlog it reads slowly by
 * definition, and a client that learns 3008 (not 1006) knows why it was dropped. The
 * backlog is already bounded by `maxBufferedBytes`.
 */
const SLOW_CLOSE_GRACE_MS = 5000;
