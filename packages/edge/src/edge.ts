import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, BlockList } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Decoder } from '@msgpack/msgpack';
import {
  createHistory,
  MemoryBus,
  type Bus,
  type BusSubscription,
  type History,
} from '@roomfabric/bus';
import { MemoryMembership, type MemberInfo, type Membership } from '@roomfabric/membership';
import {
  CloseCode,
  createFrameDecoder,
  ErrorCode,
  matchesRoomPattern,
  PING_BYTES,
  RoomfabricError,
  Subject,
  type RaidReport,
} from '@roomfabric/protocol';
import { MemoryChannelStore, type ChannelStore } from '@roomfabric/channels';
import {
  Channels,
  createJsonLogger,
  Fabric,
  logLevelFromEnv,
  FabricService,
  Operator,
  publishPresenceEvents,
  publishRoomEvents,
  RemoteSocket,
  type Logger,
  type OperatorHost,
} from '@roomfabric/fabric';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  clientAddress,
  ConnectionLimits,
  DEFAULT_TRUSTED_PROXIES,
  trustedProxyList,
} from './connection-limits.js';
import { FloodGuard } from './flood-guard.js';
import { LocalRooms } from './local-rooms.js';
import {
  DEFAULT_UPGRADE_TIMEOUT_MS,
  hardenHttpServer,
  othersAnswerUpgrades,
  refuseUpgrade,
} from './http-server.js';
import { handleHttp } from './http.js';
import { Handshakes } from './handshake.js';
import { JwtVerifier } from './jwt-auth.js';
import { LeaseKeeper } from './lease.js';
import { Delivery } from './delivery.js';
import { newCounters, type EdgeCounters, type EdgeStats } from './stats.js';
import { NodeControl } from './node-control.js';
import { OpeningSockets } from './opening-sockets.js';
import { TickStream, type TickStreamOptions } from './tick-stream.js';
import {
  positiveInt,
  positiveMs,
  resolveEdgeLimits,
  resolvePolicy,
  resolveStatsAccess,
  type ClientPolicy,
  type EdgeLimits,
  type EdgeOptions,
} from './options.js';
import { SharedBatch } from './sender.js';
import type { DisconnectReason, Socket } from './socket.js';

/** Connect-time middleware: call `next()` to accept, `next(err)` to refuse (close 4500). */
export type Middleware = (socket: Socket, next: (err?: Error) => void) => void | Promise<void>;

/** What `fetchSockets` returns on an edge: its own sockets as `Socket`, others as `RemoteSocket`. */
export type FabricSocket = Socket | RemoteSocket;

export interface EdgeEvents {
  connection: [socket: Socket];
  disconnect: [socket: Socket, reason: DisconnectReason];
  'room:created': [room: string];
  'room:deleted': [room: string];
  error: [err: Error];
}

const DEFAULT_HEARTBEAT_MS = 25_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Runs `fn`, turning a synchronous throw into a rejection. */
function settle<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}

/** What every client hears before the close of a graceful shutdown. */
const SHUTDOWN_ERROR = new RoomfabricError(
  ErrorCode.SERVER_SHUTDOWN,
  'the node is shutting down: reconnect (to another node)',
  { temporary: true },
);
/** How many rooms `stats().busInByRoom` lists: the busiest. */
const STATS_TOP_ROOMS = 100;

/**
 * Creates an edge node. Without `bus` and `membership` it runs in embedded mode (in-memory
 * bus and index). Call `listen(port)`, or pass `server` to share an HTTP server.
 *
 * @example
 * const edge = createEdge({ policy: 'open' });
 * edge.on('connection', (socket) => {
 *   socket.on('chat', (text) => socket.to('lobby').emit('chat', text));
 * });
 * await edge.listen(8080);
 */
export function createEdge(options: EdgeOptions = {}): Edge {
  return new Edge(options);
}

export class Edge extends EventEmitter<EdgeEvents> {
  readonly nodeId: string;
  readonly path: string;
  /** @internal */ readonly limits: EdgeLimits;
  /** @internal */ readonly bus: Bus;
  /** @internal */ readonly membership: Membership;
  /** @internal */ readonly logger: Logger;
  /** @internal */ readonly decoder: Decoder;
  /** @internal */ readonly localRooms: LocalRooms;
  /** @internal Rooms that keep history (undefined: none do). */
  readonly history: History | undefined;
  /** @internal */ readonly recoveryLimit: number;
  private readonly ownsHistory: boolean;
  /** @internal */ readonly counters: EdgeCounters = newCounters();

  /** @internal */ readonly busInByRoom = new Map<string, number>();
  /** @internal Bumped by every local membership change, so a re-assert can tell it raced one. */
  membershipVersion = 0;
  /** @internal */ readonly fabric: Fabric;
  /** @internal */ readonly operatorHost: OperatorHost<FabricSocket>;
  private readonly socketMap = new Map<string, Socket>();
  /** @internal */ readonly handshakes: Handshakes;
  /** @internal Sockets between the index and HELLO, reachable by cluster JOIN and LEAVE. */
  readonly opening = new OpeningSockets();
  /** @internal Where users' channels are read on connect (undefined: no channels). */
  readonly channelStore: ChannelStore | undefined;
  private readonly ownsChannels: boolean;
  private channelApi: Channels<FabricSocket> | undefined;
  private readonly policy: ClientPolicy;
  private readonly jwt: JwtVerifier | undefined;
  /** @internal */ readonly heartbeatMs: number;
  /** @internal Connections counted against the caps, by address and user. */
  readonly connectionLimits: ConnectionLimits;
  /** @internal The frame budgets shared by a user's sockets and by the node. */
  readonly floodGuard: FloodGuard;
  private readonly proxies: BlockList;
  /** @internal Who may see room names on `/stats` (`EdgeOptions.stats`). */
  readonly statsAccess: { public: boolean; token: string | undefined };
  private readonly upgradeTimeoutMs: number;
  /** Raw sockets of upgrade requests in progress, ended on close. */
  private readonly upgrading = new Set<Duplex>();
  private readonly ownsBus: boolean;
  private readonly ownsMembership: boolean;
  private readonly wss: WebSocketServer;
  /** @internal */ readonly started: Promise<void>;
  private httpServer: HttpServer | undefined;
  private ownsHttpServer = false;
  private allSub: BusSubscription | undefined;
  private nodeSub: BusSubscription | undefined;
  private readonly control: NodeControl;
  /** @internal The delivery path of bus messages to local sockets. */
  readonly delivery: Delivery;
  private readonly lease: LeaseKeeper;
  private readonly service: FabricService | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private dirty: Socket[] = [];
  private isStarted = false;
  private readonly streams = new Set<TickStream>();
  private flushPending = false;
  private stopWatchingBus: (() => void) | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: EdgeOptions = {}) {
    super();
    this.nodeId = options.nodeId ?? `node-${randomBytes(4).toString('hex')}`;
    this.path = options.path ?? '/ws';
    this.limits = resolveEdgeLimits(options.limits);
    this.jwt = options.auth ? new JwtVerifier(options.auth) : undefined;
    this.handshakes = new Handshakes(
      this,
      this.jwt,
      positiveMs('handshakeTimeoutMs', options.handshakeTimeoutMs, DEFAULT_HANDSHAKE_TIMEOUT_MS),
    );
    this.policy = resolvePolicy(options.policy ?? (this.jwt ? 'open' : 'closed'));
    this.heartbeatMs = positiveMs('heartbeatMs', options.heartbeatMs, DEFAULT_HEARTBEAT_MS);
    this.statsAccess = resolveStatsAccess(options.stats);
    this.connectionLimits = new ConnectionLimits(this.limits);
    this.proxies = trustedProxyList(options.trustedProxies ?? DEFAULT_TRUSTED_PROXIES);
    this.floodGuard = new FloodGuard(
      this.limits.maxFramesPerSecondPerUser,
      this.limits.maxFramesPerSecondPerNode,
    );
    this.upgradeTimeoutMs = positiveMs(
      'upgradeTimeoutMs',
      options.upgradeTimeoutMs,
      DEFAULT_UPGRADE_TIMEOUT_MS,
    );
    this.logger = (options.logger ?? createJsonLogger({ level: logLevelFromEnv('warn') })).child({
      component: 'edge',
      node: this.nodeId,
    });
    this.ownsBus = options.bus === undefined;
    this.ownsMembership = options.membership === undefined;
    this.bus = options.bus ?? new MemoryBus();
    this.membership = options.membership ?? new MemoryMembership();
    // Embedded mode keeps channels in the process, like the bus and the index.
    this.ownsChannels = options.channels === undefined && this.ownsBus && this.ownsMembership;
    this.channelStore =
      options.channels ?? (this.ownsChannels ? new MemoryChannelStore() : undefined);
    this.decoder = createFrameDecoder(this.limits);
    this.control = new NodeControl(this);
    this.ownsHistory = Array.isArray(options.history);
    this.history = Array.isArray(options.history)
      ? createHistory(this.bus, options.history)
      : (options.history as History | undefined);
    this.delivery = new Delivery(this, this.control);
    this.recoveryLimit = positiveInt('recoveryLimit', options.recoveryLimit, 1000);
    this.localRooms = new LocalRooms(
      this.bus,
      (room, payload, headers) =>
        this.guarded(() => this.delivery.onRoomMessage(room, payload, headers)),
      (room) => this.emit('room:created', room),
      (room) => {
        this.control.onRoomDeleted(room);
        // Counted per local room while it exists: the map stays as small as the node's rooms.
        this.busInByRoom.delete(room);
        this.emit('room:deleted', room);
      },
    );
    this.fabric = new Fabric({
      bus: this.bus,
      membership: this.membership,
      logger: this.logger,
      history: this.history,
    });
    publishRoomEvents(this.membership, this.bus, this.logger);
    publishPresenceEvents(this.membership, this.bus, this.logger, options.presence);
    this.operatorHost = {
      fabric: this.fabric,
      toSocket: (m: MemberInfo) =>
        this.socketMap.get(m.socketId) ?? new RemoteSocket(this.fabric, m),
      onEmitError: this.onBackgroundError,
      onPublished: (count) => (this.counters.busOut += count),
    };
    this.lease = new LeaseKeeper(
      this,
      positiveMs('leaseIntervalMs', options.leaseIntervalMs, 1000),
      positiveMs('leaseTtlMs', options.leaseTtlMs, 5000),
    );
    // Embedded mode runs the membership service in-process, so raids work with one command.
    this.service =
      this.ownsBus && this.ownsMembership
        ? new FabricService({ bus: this.bus, membership: this.membership, logger: this.logger })
        : undefined;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
      // The protocol uses no subprotocol: never echo one a client offers.
      handleProtocols: () => false,
    });
    this.wss.on('connection', (ws: WebSocket, req: IncomingMessage) =>
      this.handshakes.accept(ws, req),
    );
    this.started = this.start();
    this.started.catch(() => undefined);
    if (options.server) this.attach(options.server);
  }

  /** Sockets connected to this node, by id. */
  get sockets(): ReadonlyMap<string, Socket> {
    return this.socketMap;
  }

  /**
   * Listens on `port` (0 picks a free one) with a small HTTP server of its own: the
   * WebSocket endpoint at `path` and `GET /healthz`. Resolves with the bound address.
   */
  async listen(port = 0, host = '127.0.0.1'): Promise<AddressInfo> {
    this.assertNotClosed();
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        `listen() needs a port from 0 to 65535, got ${typeof port === 'number' ? port : typeof port}`,
      );
    }
    if (typeof host !== 'string' || host.length === 0) {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'listen() needs a host string');
    }
    if (this.httpServer) {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'the edge already has an HTTP server');
    }
    const server = createServer((req, res) => {
      if (handleHttp(this, req, res)) return;
      res.writeHead(req.url?.split('?')[0] === this.path ? 426 : 404).end();
    });
    this.ownsHttpServer = true;
    hardenHttpServer(server, this.upgradeTimeoutMs);
    this.attach(server);
    await this.started;
    await new Promise<void>((resolve, reject) => {
      const onError = (cause: Error) =>
        reject(
          new RoomfabricError(
            ErrorCode.LISTEN_FAILED,
            `cannot listen on ${host}:${port}: ${cause.message}`,
            {
              cause,
            },
          ),
        );
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  /** Serves WebSocket upgrades for `path` on an existing HTTP server. */
  attach(server: HttpServer): this {
    if (typeof (server as Partial<HttpServer> | null)?.on !== 'function') {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'attach() needs a node:http server');
    }
    if (this.httpServer && this.httpServer !== server) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        'the edge is attached to another server',
      );
    }
    this.httpServer = server;
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url?.split('?')[0] === this.path) {
        this.handleUpgrade(req, socket, head);
        return;
      }
      // Another path: another 'upgrade' listener's business if there is one. With none,
      // nobody would ever answer, and the socket would sit in CLOSE-WAIT for good.
      if (!othersAnswerUpgrades(server, onUpgrade)) refuseUpgrade(socket, 404, 'Not Found');
    };
    server.on('upgrade', onUpgrade);
    return this;
  }

  /**
   * Accepts one upgrade request (for custom servers). Refused with 503 while the edge
   * closes; an upgrade that is not done within `upgradeTimeoutMs` is cut off.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closing) {
      refuseUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    // Caps are checked before a WebSocket exists: a refusal costs one HTTP answer.
    const address = clientAddress(req, this.proxies);
    const refused = this.connectionLimits.open(address);
    if (refused !== 0) {
      this.counters.connectionsRefused++;
      refuseUpgrade(socket, refused, refused === 429 ? 'Too Many Requests' : 'Service Unavailable');
      return;
    }
    socket.once('close', () => this.connectionLimits.close(address));
    this.upgrading.add(socket);
    const timer = setTimeout(() => socket.destroy(), this.upgradeTimeoutMs).unref();
    const settle = () => {
      clearTimeout(timer);
      this.upgrading.delete(socket);
    };
    socket.once('close', settle);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      settle();
      socket.off('close', settle);
      this.wss.emit('connection', ws, req);
    });
  }

  /** Adds connect middleware, run in order after the client's CONNECT frame. */
  use(middleware: Middleware): this {
    if (typeof middleware !== 'function') {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'use() needs a middleware function');
    }
    this.handshakes.middlewares.push(middleware);
    return this;
  }

  /** Targets the members of `room` across the fabric (union with further `to` calls). */
  to(room: string | readonly string[]): Operator<FabricSocket> {
    return this.operator().to(room);
  }

  /** Same as {@link to}. */
  in(room: string | readonly string[]): Operator<FabricSocket> {
    return this.to(room);
  }

  /** Targets every socket except the members of `room`. */
  except(room: string | readonly string[]): Operator<FabricSocket> {
    return this.operator().except(room);
  }

  get volatile(): Operator<FabricSocket> {
    return this.operator().volatile;
  }

  /** Sends an event to every socket of the fabric. */
  override emit<K extends keyof EdgeEvents>(event: K, ...args: EdgeEvents[K]): boolean;
  override emit(event: string, data?: unknown): Promise<void>;
  override emit(event: string, ...args: unknown[]): boolean | Promise<void> {
    if (event in LIFECYCLE) return super.emit(event as keyof EdgeEvents, ...(args as [never]));
    return this.operator().emit(event, args[0]);
  }

  /** Every socket of the fabric: this node's as `Socket`, the others' as `RemoteSocket`. */
  fetchSockets(): Promise<FabricSocket[]> {
    return settle(() => this.operator().fetchSockets());
  }

  socketsJoin(room: string | readonly string[]): Promise<void> {
    return settle(() => this.operator().socketsJoin(room));
  }

  socketsLeave(room: string | readonly string[]): Promise<void> {
    return settle(() => this.operator().socketsLeave(room));
  }

  disconnectSockets(): Promise<void> {
    return settle(() => this.operator().disconnectSockets());
  }

  /**
   * A batched stream of high-rate state for a room (positions, cursors): latest value per
   * key, one message per tick. See {@link TickStream}. Closed with the edge.
   */
  stream(room: string, options: TickStreamOptions): TickStream {
    this.assertNotClosed();
    const stream = new TickStream(this, room, options);
    this.streams.add(stream);
    return stream;
  }

  /**
   * Moves every member of `from` into `to`, cluster-wide (see `RoomfabricServer.raid`).
   * Needs a membership service (embedded mode runs one in-process).
   */
  raid(
    from: string,
    to: string,
    options?: { raidId?: string; timeoutMs?: number },
  ): Promise<RaidReport> {
    try {
      this.assertNotClosed();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.fabric.requestRaid(from, to, options);
  }

  /**
   * Persistent channels (docs/channels.md), on this node's channel store: the same API as
   * `RoomfabricServer.channels`, which is how embedded mode manages channels (or pass
   * `channels.store` to `createServer` with the edge's bus and index). Throws
   * `RF_INVALID_ARGUMENT` when the edge has no channel store (`EdgeOptions.channels`).
   *
   * @example
   * const edge = createEdge({ auth: { secret } });
   * await edge.channels.create('general');
   * await edge.channels.subscribe('ada', 'general'); // her sockets join `$chan:general`
   */
  get channels(): Channels<FabricSocket> {
    if (!this.channelStore) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        'this edge has no channel store (EdgeOptions.channels)',
      );
    }
    this.channelApi ??= new Channels(this.channelStore, this.operatorHost);
    return this.channelApi;
  }

  /**
   * True once the node serves: subscriptions registered, lease held, bus connected. What
   * `GET /readyz` reports.
   */
  get ready(): boolean {
    return this.isStarted && !this.closing && this.lease.healthy && this.bus.status === 'connected';
  }

  /** Resolves once the node is started (subscriptions registered, first lease taken). */
  whenStarted(): Promise<void> {
    return this.started;
  }

  /** True once `close()` was called. */
  get isClosing(): boolean {
    return this.closing !== undefined;
  }

  /** Answers `/healthz`, `/readyz` and `/stats` for an HTTP server of your own; false for other paths. */
  handleHttp(req: IncomingMessage, res: ServerResponse): boolean {
    return handleHttp(this, req, res);
  }

  /** Counters and sizes of this node. */
  stats(): EdgeStats {
    return {
      nodeId: this.nodeId,
      sockets: this.socketMap.size,
      rooms: this.localRooms.size,
      ...this.counters,
      busInByRoom: Object.fromEntries(
        [...this.busInByRoom].sort((a, b) => b[1] - a[1]).slice(0, STATS_TOP_ROOMS),
      ),
      leaseReasserts: this.lease.reasserts,
      leaseFailures: this.lease.failures,
    };
  }

  /** Bus messages this node received for `room` since this node last created it (0 once it is gone). */
  busMessagesFor(room: string): number {
    return this.busInByRoom.get(room) ?? 0;
  }

  /**
   * Graceful shutdown: refuses new connections, closes every client with 1001 (going away;
   * clients reconnect elsewhere), removes them from the index, and releases the bus and
   * index when the edge created them.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** @internal */
  readonly onBackgroundError = (err: unknown): void => {
    this.counters.backgroundErrors++;
    const error = err instanceof Error ? err : new Error(String(err));
    this.logger.warn({ err: error }, 'background operation failed');
    if (this.listenerCount('error') > 0) super.emit('error', error);
  };

  /**
   * Runs the handling of one bus message: whatever it throws is counted and logged, since
   * a message on the bus (anyone with NATS access can publish one) must never take the
   * node down.
   */
  private guarded(handle: () => void): void {
    try {
      handle();
    } catch (err) {
      this.counters.busMalformed++;
      this.onBackgroundError(err);
    }
  }

  /** @internal Queues a socket for the end-of-turn flush. */
  scheduleFlush(socket: Socket): void {
    this.dirty.push(socket);
    if (!this.flushPending) {
      this.flushPending = true;
      setImmediate(this.flush);
    }
  }

  /** @internal Sockets the index should hold: open ones, and those being added to it. */
  registeredSockets(): Socket[] {
    const out = [...this.socketMap.values()].filter((s) => s.connected);
    for (const s of this.handshakes.pending) if (s.registered && s.state !== 'closed') out.push(s);
    return out;
  }

  /** @internal */
  mayJoin(socket: Socket, room: string): boolean {
    if (this.jwt && !matchesRoomPattern(socket.grant?.join ?? [], room)) return false;
    const rule = this.policy.join;
    return typeof rule === 'function' ? rule(socket, room) : rule;
  }

  /** @internal */
  mayPublish(socket: Socket, rooms: readonly string[], event: string): boolean {
    if (this.jwt && !rooms.every((r) => matchesRoomPattern(socket.grant?.publish ?? [], r)))
      return false;
    const rule = this.policy.publish;
    return typeof rule === 'function' ? rule(socket, rooms, event) : rule;
  }

  /** @internal The handshake is done: the socket joins the node's map, `connection` fires. */
  register(socket: Socket): void {
    this.socketMap.set(socket.id, socket);
    this.counters.connections++;
    try {
      super.emit('connection', socket);
    } catch (err) {
      this.onBackgroundError(err);
    }
  }

  /** @internal */
  handleClose(socket: Socket, reason: DisconnectReason): void {
    this.handshakes.pending.delete(socket);
    if (socket.countedUser !== undefined) {
      this.connectionLimits.removeUser(socket.countedUser);
      this.floodGuard.removeUser(socket.countedUser);
      socket.countedUser = undefined;
    }
    const wasOpen = socket.connected;
    if (wasOpen) this.socketMap.delete(socket.id);
    socket.handleClose(reason);
    if (wasOpen) this.emit('disconnect', socket, reason);
  }

  private async start(): Promise<void> {
    // First, before anything subscribes: a history store that cannot work refuses the start.
    await this.history?.ready();
    this.allSub = await this.bus.subscribe(Subject.all, (payload) =>
      this.guarded(() => this.delivery.onAllMessage(payload)),
    );
    this.nodeSub = await this.bus.subscribe(Subject.node(this.nodeId), (payload, _subject, reply) =>
      this.guarded(() => this.control.onNodeMessage(payload, reply)),
    );
    await this.service?.start();
    await this.lease.start();
    const gaps = this.delivery.gaps;
    if (gaps) {
      // What was stored while the bus was away never reached this node: look for it.
      let down = false;
      this.stopWatchingBus = this.bus.onStatus((status) => {
        if (status !== 'connected') down = true;
        else if (down) {
          down = false;
          gaps.checkAll().catch(this.onBackgroundError);
        }
      });
    }
    this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs);
    this.heartbeat.unref();
    this.isStarted = true;
  }

  private operator(): Operator<FabricSocket> {
    this.assertNotClosed();
    return new Operator(this.operatorHost);
  }

  /** Throws `RF_EDGE_CLOSED` once `close()` was called. */
  private assertNotClosed(): void {
    if (this.closing) {
      throw new RoomfabricError(ErrorCode.EDGE_CLOSED, `edge ${this.nodeId} is closed`);
    }
  }

  private readonly flush = (): void => {
    this.flushPending = false;
    const dirty = this.dirty;
    this.dirty = [];
    const shared = new SharedBatch();
    for (const socket of dirty) socket.flush(shared);
  };

  /** Pings every open socket; drops those that sent nothing since the previous beat. */
  private beat(): void {
    for (const socket of this.socketMap.values()) {
      if (!socket.alive) {
        this.logger.debug({ socket: socket.id }, 'heartbeat timeout');
        socket.ws.terminate();
        continue;
      }
      socket.alive = false;
      socket.enqueue(PING_BYTES, false);
    }
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.heartbeat);
    this.stopWatchingBus?.();
    for (const stream of this.streams) stream.close();
    const closed = [...this.socketMap.values(), ...this.handshakes.pending].map(
      (socket) =>
        new Promise<void>((resolve) => {
          socket.ws.once('close', () => resolve());
          socket.sendError(0, SHUTDOWN_ERROR);
          socket.close(CloseCode.GOING_AWAY, ErrorCode.SERVER_SHUTDOWN);
          // A peer that does not answer the close handshake is cut off.
          setTimeout(() => {
            socket.ws.terminate();
            resolve();
          }, 1000).unref();
        }),
    );
    await Promise.all(closed);
    this.wss.close();
    for (const socket of this.upgrading) socket.destroy();
    this.upgrading.clear();
    if (this.ownsHttpServer && this.httpServer) {
      const server = this.httpServer;
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      // Requests still in progress (a stalled client) are not waited for.
      server.closeAllConnections();
      await done;
    }
    await this.started.catch(() => undefined);
    await this.lease.stop();
    await this.service?.close();
    this.control.close();
    this.allSub?.unsubscribe();
    this.nodeSub?.unsubscribe();
    this.localRooms.clear();
    // The sockets were removed one by one as they closed; the lease goes last.
    await this.membership.dropLease(this.nodeId).catch(this.onBackgroundError);
    if (this.ownsHistory) await this.history?.close();
    if (this.ownsBus) await this.bus.close();
    if (this.ownsMembership) await this.membership.close();
    if (this.ownsChannels) await this.channelStore?.close();
  }
}

const LIFECYCLE: Record<keyof EdgeEvents, true> = {
  connection: true,
  disconnect: true,
  'room:created': true,
  'room:deleted': true,
  error: true,
};
