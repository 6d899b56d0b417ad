import { IndexRepairs } from './index-repairs.js';
import { randomBytes } from 'node:crypto';
import type { Decoder } from '@msgpack/msgpack';
import {
  createHistory,
  MemoryBus,
  type Bus,
  type BusSubscription,
  type History,
} from '@roomfabric/bus';
import { MemoryChannelStore, type ChannelStore } from '@roomfabric/channels';
import {
  createJsonLogger,
  Fabric,
  FabricService,
  logLevelFromEnv,
  publishPresenceEvents,
  publishRoomEvents,
  RemoteSocket,
  type Logger,
  type OperatorHost,
} from '@roomfabric/fabric';
import { MemoryMembership, type MemberInfo, type Membership } from '@roomfabric/membership';
import {
  CloseCode,
  createFrameDecoder,
  ErrorCode,
  PING_BYTES,
  RoomfabricError,
  Subject,
} from '@roomfabric/protocol';
import { ConnectionLimits } from './connection-limits.js';
import type { EdgeContext } from './context.js';
import { Delivery } from './delivery.js';
import { FloodGuard } from './flood-guard.js';
import { Handshakes } from './handshake.js';
import { HistoryHolds } from './history/holds.js';
import { joinTellingPositions } from './history/join.js';
import { JwtVerifier } from './jwt-auth.js';
import { LeaseKeeper } from './lease.js';
import { resolveEdgeLimits, type EdgeLimits } from './limits.js';
import { LocalRooms } from './local-rooms.js';
import { NodeControl } from './node-control.js';
import { OpeningSockets } from './opening-sockets.js';
import { positiveInt, positiveMs, resolvePolicy, type EdgeOptions } from './options.js';
import { ClientRules } from './policy.js';
import { Sender } from './sender.js';
import type { DisconnectReason, Socket } from './socket.js';
import { newCounters, type EdgeCounters, type EdgeStats } from './stats.js';

const DEFAULT_HEARTBEAT_MS = 25_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** How many rooms `stats().busInByRoom` lists: the busiest. */
const STATS_TOP_ROOMS = 100;
/** What every client hears before the close of a graceful shutdown. */
const SHUTDOWN_ERROR = new RoomfabricError(
  ErrorCode.SERVER_SHUTDOWN,
  'the node is shutting down: reconnect (to another node)',
  { temporary: true },
);

/** What the node tells the public `Edge` (its events). */
export interface NodeEvents {
  connection(socket: Socket): void;
  disconnect(socket: Socket, reason: DisconnectReason): void;
  roomCreated(room: string): void;
  roomDeleted(room: string): void;
  /** A background failure, for the edge's `error` listeners (false: nobody listens). */
  error(err: Error): boolean;
}

/**
 * The node behind an `Edge`: its shared state (it is the {@link EdgeContext} every module
 * receives), the modules wired together, and its start and stop. The public API is
 * `Edge`'s; this is what it stands on.
 */
export class EdgeNode implements EdgeContext<Socket> {
  readonly nodeId: string;
  readonly limits: EdgeLimits;
  readonly bus: Bus;
  readonly membership: Membership;
  readonly history: History | undefined;
  readonly recoveryLimit: number;
  readonly channelStore: ChannelStore | undefined;
  readonly logger: Logger;
  readonly decoder: Decoder;
  readonly counters: EdgeCounters = newCounters();
  readonly busInByRoom = new Map<string, number>();
  indexHold: Promise<void> | undefined = undefined;
  readonly indexRepairs = new IndexRepairs();
  readonly sockets = new Map<string, Socket>();
  readonly opening = new OpeningSockets<Socket>();
  readonly localRooms: LocalRooms<Socket>;
  readonly holds = new HistoryHolds<Socket>();
  readonly sender = new Sender();
  readonly floodGuard: FloodGuard;
  readonly connectionLimits: ConnectionLimits;
  readonly fabric: Fabric;
  readonly operatorHost: OperatorHost<Socket | RemoteSocket>;
  readonly heartbeatMs: number;
  readonly started: Promise<void>;
  readonly handshakes: Handshakes;
  readonly delivery: Delivery;
  private readonly control: NodeControl;
  private readonly rules: ClientRules;
  private readonly lease: LeaseKeeper;
  private readonly service: FabricService | undefined;
  private readonly owns: { bus: boolean; membership: boolean; history: boolean; channels: boolean };
  private allSub: BusSubscription | undefined;
  private nodeSub: BusSubscription | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopWatchingBus: (() => void) | undefined;
  private isStarted = false;
  private closing = false;

  constructor(
    options: EdgeOptions,
    private readonly events: NodeEvents,
  ) {
    this.nodeId = options.nodeId ?? `node-${randomBytes(4).toString('hex')}`;
    this.limits = resolveEdgeLimits(options.limits);
    const jwt = options.auth ? new JwtVerifier(options.auth) : undefined;
    this.rules = new ClientRules(resolvePolicy(options.policy ?? (jwt ? 'open' : 'closed')), !!jwt);
    this.heartbeatMs = positiveMs('heartbeatMs', options.heartbeatMs, DEFAULT_HEARTBEAT_MS);
    this.connectionLimits = new ConnectionLimits(this.limits);
    this.floodGuard = new FloodGuard(
      this.limits.maxFramesPerSecondPerUser,
      this.limits.maxFramesPerSecondPerNode,
    );
    this.logger = (options.logger ?? createJsonLogger({ level: logLevelFromEnv('warn') })).child({
      component: 'edge',
      node: this.nodeId,
    });
    const ownsBus = options.bus === undefined;
    const ownsMembership = options.membership === undefined;
    this.bus = options.bus ?? new MemoryBus();
    this.membership = options.membership ?? new MemoryMembership();
    // Embedded mode keeps channels in the process, like the bus and the index.
    const ownsChannels = options.channels === undefined && ownsBus && ownsMembership;
    this.channelStore = options.channels ?? (ownsChannels ? new MemoryChannelStore() : undefined);
    this.owns = {
      bus: ownsBus,
      membership: ownsMembership,
      history: Array.isArray(options.history),
      channels: ownsChannels,
    };
    this.decoder = createFrameDecoder(this.limits);
    this.history = Array.isArray(options.history)
      ? createHistory(this.bus, options.history)
      : (options.history as History | undefined);
    this.recoveryLimit = positiveInt('recoveryLimit', options.recoveryLimit, 1000);
    this.handshakes = new Handshakes(
      this,
      jwt,
      positiveMs('handshakeTimeoutMs', options.handshakeTimeoutMs, DEFAULT_HANDSHAKE_TIMEOUT_MS),
    );
    this.control = new NodeControl(this, (msg, sockets, room, offset) =>
      this.delivery.deliverTo(msg, sockets, room, offset),
    );
    this.delivery = new Delivery(this, this.control);
    this.localRooms = new LocalRooms<Socket>(
      this.bus,
      (room, payload, headers) =>
        this.guarded(() => this.delivery.onRoomMessage(room, payload, headers)),
      (room) => events.roomCreated(room),
      (room) => {
        this.control.onRoomDeleted(room);
        // Counted per local room while it exists: the map stays as small as the node's rooms.
        this.busInByRoom.delete(room);
        events.roomDeleted(room);
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
      toSocket: (m: MemberInfo) => this.sockets.get(m.socketId) ?? new RemoteSocket(this.fabric, m),
      onEmitError: this.onBackgroundError,
      onPublished: (count) => (this.counters.busOut += count),
    };
    this.lease = new LeaseKeeper(
      this,
      () => this.registeredSockets(),
      positiveMs('leaseIntervalMs', options.leaseIntervalMs, 1000),
      positiveMs('leaseTtlMs', options.leaseTtlMs, 5000),
    );
    // Embedded mode runs the fabric service in-process, so raids work with one command.
    this.service =
      ownsBus && ownsMembership
        ? new FabricService({ bus: this.bus, membership: this.membership, logger: this.logger })
        : undefined;
    this.started = this.start();
    this.started.catch(() => undefined);
  }

  /** True once the node serves: subscriptions registered, lease held, bus connected. */
  get ready(): boolean {
    return this.isStarted && !this.closing && this.lease.healthy && this.bus.status === 'connected';
  }

  readonly onBackgroundError = (err: unknown): void => {
    this.counters.backgroundErrors++;
    const error = err instanceof Error ? err : new Error(String(err));
    this.logger.warn({ err: error }, 'background operation failed');
    this.events.error(error);
  };

  mayJoin(socket: Socket, room: string): boolean {
    return this.rules.mayJoin(socket, room);
  }

  mayPublish(socket: Socket, rooms: readonly string[], event: string): boolean {
    return this.rules.mayPublish(socket, rooms, event);
  }

  appJoin(socket: Socket, rooms: readonly string[]): Promise<void> {
    return joinTellingPositions(this, socket, rooms);
  }

  register(socket: Socket): void {
    this.sockets.set(socket.id, socket);
    this.counters.connections++;
    try {
      this.events.connection(socket);
    } catch (err) {
      this.onBackgroundError(err);
    }
  }

  closed(socket: Socket, reason: DisconnectReason): void {
    this.handshakes.pending.delete(socket);
    if (socket.countedUser !== undefined) {
      this.connectionLimits.removeUser(socket.countedUser);
      this.floodGuard.removeUser(socket.countedUser);
      socket.countedUser = undefined;
    }
    const wasOpen = socket.connected;
    if (wasOpen) this.sockets.delete(socket.id);
    socket.handleClose(reason);
    if (!wasOpen) return;
    try {
      this.events.disconnect(socket, reason);
    } catch (err) {
      this.onBackgroundError(err);
    }
  }

  /** Counters and sizes of this node. */
  stats(): EdgeStats {
    return {
      nodeId: this.nodeId,
      sockets: this.sockets.size,
      rooms: this.localRooms.size,
      ...this.counters,
      busInByRoom: Object.fromEntries(
        [...this.busInByRoom].sort((a, b) => b[1] - a[1]).slice(0, STATS_TOP_ROOMS),
      ),
      leaseReasserts: this.lease.reasserts,
      leaseFailures: this.lease.failures,
    };
  }

  /** Closes every client with 1001 (reconnect elsewhere); resolves once they are gone. */
  async closeClients(): Promise<void> {
    this.closing = true;
    clearInterval(this.heartbeat);
    this.stopWatchingBus?.();
    const closed = [...this.sockets.values(), ...this.handshakes.pending].map(
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
  }

  /** After the clients: stops the lease, subscriptions and services, drops the lease. */
  async release(): Promise<void> {
    await this.started.catch(() => undefined);
    await this.lease.stop();
    await this.service?.close();
    this.control.close();
    this.allSub?.unsubscribe();
    this.nodeSub?.unsubscribe();
    this.localRooms.clear();
    // The sockets were removed one by one as they closed; the lease goes last.
    await this.membership.dropLease(this.nodeId).catch(this.onBackgroundError);
    if (this.owns.history) await this.history?.close();
    if (this.owns.bus) await this.bus.close();
    if (this.owns.membership) await this.membership.close();
    if (this.owns.channels) await this.channelStore?.close();
  }

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

  /** Sockets the index should hold: open ones, and those being added to it. */
  private registeredSockets(): Socket[] {
    const out = [...this.sockets.values()].filter((s) => s.connected);
    for (const s of this.handshakes.pending) if (s.registered && s.state !== 'closed') out.push(s);
    return out;
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

  /** Pings every open socket; drops those that sent nothing since the previous beat. */
  private beat(): void {
    for (const socket of this.sockets.values()) {
      if (!socket.alive) {
        this.logger.debug({ socket: socket.id }, 'heartbeat timeout');
        socket.ws.terminate();
        continue;
      }
      socket.alive = false;
      socket.enqueue(PING_BYTES, false);
    }
  }
}
