import { EventEmitter } from 'node:events';
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Bus, History } from '@roomfabric/bus';
import { Channels, Operator, type Logger } from '@roomfabric/fabric';
import type { Membership } from '@roomfabric/membership';
import { ErrorCode, RoomfabricError, type RaidReport } from '@roomfabric/protocol';
import { DEFAULT_TRUSTED_PROXIES, trustedProxyList } from './connection-limits.js';
import type { Middleware } from './handshake.js';
import { DEFAULT_UPGRADE_TIMEOUT_MS, hardenHttpServer, LISTEN_BACKLOG } from './http-server.js';
import { handleHttp, type OperationalView } from './http.js';
import { EdgeNode } from './node.js';
import { positiveMs, resolveStatsAccess, type EdgeOptions } from './options.js';
import type { DisconnectReason, FabricSocket, Socket } from './socket.js';
import type { EdgeCounters, EdgeStats } from './stats.js';
import { TickStream, type TickStreamOptions } from './tick-stream.js';
import { Upgrades } from './upgrades.js';

export type { Middleware } from './handshake.js';
export type { FabricSocket } from './socket.js';

export interface EdgeEvents {
  connection: [socket: Socket];
  disconnect: [socket: Socket, reason: DisconnectReason];
  'room:created': [room: string];
  'room:deleted': [room: string];
  error: [err: Error];
}

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

/**
 * An edge node's public API: the WebSocket endpoint and the node's HTTP endpoints, the
 * Socket.IO-style broadcast and selection API over the whole fabric, raids, channels,
 * streams, lifecycle events and shutdown. What it stands on is the node (node.ts), whose
 * modules share one context and never see this object.
 */
export class Edge extends EventEmitter<EdgeEvents> implements OperationalView {
  readonly nodeId: string;
  readonly path: string;
  private readonly node: EdgeNode;
  private readonly upgrades: Upgrades;
  private readonly upgradeTimeoutMs: number;
  /** @internal Who may see room names on `/stats` (`EdgeOptions.stats`). */
  readonly statsAccess: { public: boolean; token: string | undefined };
  private ownsHttpServer = false;
  private channelApi: Channels<FabricSocket> | undefined;
  private readonly streams = new Set<TickStream>();
  private closing: Promise<void> | undefined;

  constructor(options: EdgeOptions = {}) {
    super();
    this.path = options.path ?? '/ws';
    this.statsAccess = resolveStatsAccess(options.stats);
    this.upgradeTimeoutMs = positiveMs(
      'upgradeTimeoutMs',
      options.upgradeTimeoutMs,
      DEFAULT_UPGRADE_TIMEOUT_MS,
    );
    const proxies = trustedProxyList(options.trustedProxies ?? DEFAULT_TRUSTED_PROXIES);
    this.node = new EdgeNode(options, {
      connection: (socket) => super.emit('connection', socket),
      disconnect: (socket, reason) => super.emit('disconnect', socket, reason),
      roomCreated: (room) => super.emit('room:created', room),
      roomDeleted: (room) => super.emit('room:deleted', room),
      error: (err) => this.listenerCount('error') > 0 && super.emit('error', err),
    });
    this.nodeId = this.node.nodeId;
    this.upgrades = new Upgrades({
      path: this.path,
      maxFrameBytes: this.node.limits.maxFrameBytes,
      timeoutMs: this.upgradeTimeoutMs,
      proxies,
      connectionLimits: this.node.connectionLimits,
      counters: this.node.counters,
      closing: () => this.closing !== undefined,
      accept: (ws, req) => this.node.handshakes.accept(ws, req),
    });
    if (options.server) this.attach(options.server);
  }

  /** Sockets connected to this node, by id. */
  get sockets(): ReadonlyMap<string, Socket> {
    return this.node.sockets;
  }

  /**
   * Listens on `port` (0 picks a free one) with a small HTTP server of its own: the
   * WebSocket endpoint at `path` and the operational endpoints (`handleHttp`). Resolves
   * with the bound address.
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
    if (this.upgrades.attached) {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'the edge already has an HTTP server');
    }
    const server = createServer((req, res) => {
      if (handleHttp(this, req, res)) return;
      res.writeHead(req.url?.split('?')[0] === this.path ? 426 : 404).end();
    });
    this.ownsHttpServer = true;
    hardenHttpServer(server, this.upgradeTimeoutMs);
    this.attach(server);
    await this.node.started;
    await new Promise<void>((resolve, reject) => {
      const onError = (cause: Error) =>
        reject(
          new RoomfabricError(
            ErrorCode.LISTEN_FAILED,
            `cannot listen on ${host}:${port}: ${cause.message}`,
            { cause },
          ),
        );
      server.once('error', onError);
      server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  /** Serves WebSocket upgrades for `path` on an existing HTTP server. */
  attach(server: HttpServer): this {
    this.upgrades.attach(server);
    return this;
  }

  /**
   * Accepts one upgrade request (for custom servers). Refused with 503 while the edge
   * closes; an upgrade that is not done within `upgradeTimeoutMs` is cut off.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.upgrades.handle(req, socket, head);
  }

  /** Adds connect middleware, run in order after the client's CONNECT frame. */
  use(middleware: Middleware): this {
    if (typeof middleware !== 'function') {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'use() needs a middleware function');
    }
    this.node.handshakes.middlewares.push(middleware);
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
    return settle(() => {
      this.assertNotClosed();
      return this.node.fabric.requestRaid(from, to, options);
    });
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
    const store = this.node.channelStore;
    if (!store) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        'this edge has no channel store (EdgeOptions.channels)',
      );
    }
    this.channelApi ??= new Channels(store, this.node.operatorHost);
    return this.channelApi;
  }

  /**
   * True once the node serves: subscriptions registered, lease held, bus connected. What
   * `GET /readyz` reports.
   */
  get ready(): boolean {
    return !this.closing && this.node.ready;
  }

  /** Resolves once the node is started (subscriptions registered, first lease taken). */
  whenStarted(): Promise<void> {
    return this.node.started;
  }

  /** True once `close()` was called. */
  get isClosing(): boolean {
    return this.closing !== undefined;
  }

  /** Answers `/healthz`, `/readyz`, `/stats` and `/metrics` for an HTTP server of your own; false for other paths. */
  handleHttp(req: IncomingMessage, res: ServerResponse): boolean {
    return handleHttp(this, req, res);
  }

  /** Counters and sizes of this node. */
  stats(): EdgeStats {
    return this.node.stats();
  }

  /** Bus messages this node received for `room` since this node last created it (0 once it is gone). */
  busMessagesFor(room: string): number {
    return this.node.busInByRoom.get(room) ?? 0;
  }

  /** @internal The node's live counters (metrics read them at scrape time). */
  get counters(): EdgeCounters {
    return this.node.counters;
  }

  /** @internal The node's bus (what the edge was given, or its embedded one). */
  get bus(): Bus {
    return this.node.bus;
  }

  /** @internal The node's index (what the edge was given, or its embedded one). */
  get membership(): Membership {
    return this.node.membership;
  }

  /** @internal The history the node keeps (undefined: none). */
  get history(): History | undefined {
    return this.node.history;
  }

  /** @internal */
  get busStatus(): string {
    return this.node.bus.status;
  }

  /** @internal */
  get logger(): Logger {
    return this.node.logger;
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

  private operator(): Operator<FabricSocket> {
    this.assertNotClosed();
    return new Operator(this.node.operatorHost);
  }

  /** Throws `RF_EDGE_CLOSED` once `close()` was called. */
  private assertNotClosed(): void {
    if (this.closing) {
      throw new RoomfabricError(ErrorCode.EDGE_CLOSED, `edge ${this.nodeId} is closed`);
    }
  }

  private async shutdown(): Promise<void> {
    for (const stream of this.streams) stream.close();
    await this.node.closeClients();
    this.upgrades.close();
    const server = this.upgrades.attached;
    if (this.ownsHttpServer && server) {
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      // Requests still in progress (a stalled client) are not waited for.
      server.closeAllConnections();
      await done;
    }
    await this.node.release();
  }
}

/** Runs `fn`, turning a synchronous throw into a rejection. */
function settle<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}

const LIFECYCLE: Record<keyof EdgeEvents, true> = {
  connection: true,
  disconnect: true,
  'room:created': true,
  'room:deleted': true,
  error: true,
};
