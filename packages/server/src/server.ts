import {
  createHistory,
  NatsBus,
  type Bus,
  type History,
  type HistoryPolicy,
} from '@roomfabric/bus';
import { RedisMembership, type MemberInfo, type Membership } from '@roomfabric/membership';
import {
  assertChannelName,
  assertRoomId,
  BusMessageType,
  channelRoom,
  decodeBusMessage,
  ErrorCode,
  RoomfabricError,
  Subject,
  type RaidReport,
  type SocketLeftMessage,
} from '@roomfabric/protocol';
import { KvChannelStore, type ChannelStore } from '@roomfabric/channels';
import {
  Channels,
  createJsonLogger,
  Fabric,
  logLevelFromEnv,
  Operator,
  RemoteSocket,
  subscribePresence,
  type Logger,
  type PresenceEvent,
  type PresenceMember,
  type PresenceStats,
} from '@roomfabric/fabric';

export interface ServerOptions {
  /** NATS server URL(s); or pass `bus`. */
  nats?: string | readonly string[];
  /**
   * The Redis index: a `redis://` or `rediss://` URL, several (the seed nodes of a Redis
   * Cluster), or `redis-cluster://[user:password@]h1:p1,h2:p2`; or pass `membership`.
   */
  redis?: string | readonly string[];
  bus?: Bus;
  membership?: Membership;
  logger?: Logger;
  /** Timeout of requests to nodes and to the membership service, ms. Default 5000. */
  requestTimeoutMs?: number;
  /**
   * Rooms that keep history (docs/history.md): the same policies as the edges, so that
   * emits to those rooms are stored and recoverable. In embedded mode pass the edge's
   * own `edge.history` instead, which holds the entries.
   */
  history?: readonly HistoryPolicy[] | History;
  /**
   * Where persistent channels live (docs/channels.md). Default: a `KvChannelStore` on the
   * NATS connection when the bus is a `NatsBus` (the bucket is created on first use);
   * none over another bus. In embedded mode pass the edge's `channels.store`.
   */
  channels?: ChannelStore;
}

/**
 * Connects a backend to the fabric, without holding any socket: emit to rooms, read the
 * index, make sockets anywhere join, leave or disconnect, and run raids.
 *
 * @example
 * const rf = await createServer({ nats: 'nats://127.0.0.1:4222', redis: 'redis://127.0.0.1:6379' });
 * await rf.to('match:7').except('spectators').emit('score', { home: 2, away: 1 });
 * await rf.raid('channel:alice', 'channel:bob');
 */
export async function createServer(options: ServerOptions): Promise<RoomfabricServer> {
  const ownsBus = options.bus === undefined;
  const ownsMembership = options.membership === undefined;
  if (!options.bus && !options.nats)
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'createServer needs `nats` or `bus`');
  if (!options.membership && !options.redis) {
    throw new RoomfabricError(
      ErrorCode.INVALID_ARGUMENT,
      'createServer needs `redis` or `membership`',
    );
  }
  const servers = typeof options.nats === 'string' ? [options.nats] : [...(options.nats ?? [])];
  const bus = options.bus ?? (await NatsBus.connect({ servers, name: 'roomfabric-server' }));
  let membership: Membership;
  let history: History | undefined;
  try {
    history = Array.isArray(options.history)
      ? createHistory(bus, options.history)
      : (options.history as History | undefined);
    // A history store that cannot work fails here, not on the first emit to a history room.
    if (Array.isArray(options.history)) await history!.ready();
    membership = options.membership ?? new RedisMembership({ url: options.redis! });
  } catch (err) {
    if (Array.isArray(options.history)) await history?.close();
    if (ownsBus) await bus.close();
    throw err;
  }
  const logger = (options.logger ?? createJsonLogger({ level: logLevelFromEnv('warn') })).child({
    component: 'server',
  });
  const fabric = new Fabric({
    bus,
    membership,
    logger,
    history,
    requestTimeoutMs: options.requestTimeoutMs,
  });
  const channels =
    options.channels ?? (bus instanceof NatsBus ? new KvChannelStore({ nc: bus.nc }) : undefined);
  return new RoomfabricServer(fabric, ownsBus, ownsMembership, {
    store: channels,
    owned: options.channels === undefined,
  });
}

export class RoomfabricServer {
  private readonly root: Operator<RemoteSocket>;
  private closed = false;
  private channelApi: Channels<RemoteSocket> | undefined;

  /** @internal Use {@link createServer}. */
  constructor(
    readonly fabric: Fabric,
    private readonly ownsBus: boolean,
    private readonly ownsMembership: boolean,
    private readonly channelStore: { store?: ChannelStore; owned?: boolean } = {},
  ) {
    this.root = new Operator<RemoteSocket>({
      fabric,
      toSocket: (m: MemberInfo) => new RemoteSocket(fabric, m),
      onEmitError: (err) => fabric.logger.warn({ err }, 'emit failed'),
    });
  }

  /** Targets the members of `room` (union with further `to` calls). */
  to(room: string | readonly string[]): Operator<RemoteSocket> {
    return this.root.to(room);
  }

  in(room: string | readonly string[]): Operator<RemoteSocket> {
    return this.root.to(room);
  }

  /** Targets every socket except the members of `room`. */
  except(room: string | readonly string[]): Operator<RemoteSocket> {
    return this.root.except(room);
  }

  get volatile(): Operator<RemoteSocket> {
    return this.root.volatile;
  }

  /** Sends an event to every socket of the fabric. */
  emit(event: string, data?: unknown): Promise<void> {
    return this.root.emit(event, data);
  }

  fetchSockets(): Promise<RemoteSocket[]> {
    return this.root.fetchSockets();
  }

  socketsJoin(room: string | readonly string[]): Promise<void> {
    return this.root.socketsJoin(room);
  }

  socketsLeave(room: string | readonly string[]): Promise<void> {
    return this.root.socketsLeave(room);
  }

  disconnectSockets(): Promise<void> {
    return this.root.disconnectSockets();
  }

  /**
   * Moves every member of `from` into `to` across the cluster, atomically in the index and
   * gap-free on the wire (each mover gets `from`'s messages, one `moved` event, then `to`'s).
   * Runs in the membership service; retried safely with the same `raidId`.
   */
  raid(
    from: string,
    to: string,
    options: { raidId?: string; timeoutMs?: number } = {},
  ): Promise<RaidReport> {
    return this.fabric.requestRaid(from, to, options);
  }

  /** How many sockets are in a room, from the index. */
  count(room: string): Promise<number> {
    assertRoomId(room);
    return this.fabric.membership.count(room);
  }

  /** Rooms of a socket, from the index. */
  roomsOf(socketId: string): Promise<string[]> {
    return this.fabric.membership.roomsOf(socketId);
  }

  /** Sockets and nodes in the whole cluster. */
  totals(): Promise<{ sockets: number; nodes: number }> {
    return this.fabric.membership.totals();
  }

  /**
   * The signed-in sockets of a room (those with a user; docs/presence.md), with user, node
   * and `socket.data`, from the index in one read: O(members). A user with three tabs is
   * listed three times; `new Set(list.map((m) => m.user))` gives the users.
   */
  presence(room: string): Promise<PresenceMember[]> {
    assertRoomId(room);
    return this.fabric.membership.presence(room);
  }

  /** Sockets (anonymous ones included) and distinct users in a room, from the index. O(1). */
  presenceStats(room: string): Promise<PresenceStats> {
    assertRoomId(room);
    return this.fabric.membership.presenceStats(room);
  }

  /**
   * Calls `handler` when a user's first socket enters a room (`join`) or their last leaves
   * it (`leave`), anywhere in the cluster: of one room with `{ room }`, else of all rooms.
   * Events are NATS messages, at most once; reconcile with {@link presence} after a gap.
   * Resolves with a function that stops it.
   *
   * @example
   * await rf.onPresence(({ room, kind, user }) => console.log(`${user} ${kind} ${room}`));
   */
  onPresence(
    handler: (event: PresenceEvent) => void,
    options: { room?: string } = {},
  ): Promise<() => void> {
    const room = options?.room;
    if (room !== undefined) assertRoomId(room);
    if (typeof handler !== 'function') {
      return Promise.reject(
        new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'onPresence needs a handler function'),
      );
    }
    const { bus, logger } = this.fabric;
    return subscribePresence(bus, logger, handler, room);
  }

  /**
   * Calls `handler` for every socket the fabric removed on its own (its node died).
   * Resolves with a function that stops it.
   */
  async onSocketLeft(
    handler: (event: Omit<SocketLeftMessage, 'type'>) => void,
  ): Promise<() => void> {
    if (typeof handler !== 'function') {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        'onSocketLeft needs a handler function',
      );
    }
    const sub = await this.fabric.bus.subscribe(Subject.socketLeft, (payload) => {
      try {
        const msg = decodeBusMessage(payload);
        if (msg.type === BusMessageType.SOCKET_LEFT) {
          const { type: _type, ...event } = msg;
          handler(event);
        }
      } catch (err) {
        this.fabric.logger.debug({ err }, 'dropped a malformed socket-left event');
      }
    });
    return () => sub.unsubscribe();
  }

  /**
   * Calls `handler` when a room gets its first member anywhere in the cluster (`occupied`)
   * or loses its last (`vacated`). Resolves with a function that stops it.
   *
   * @example
   * await rf.onRoomEvent(({ room, kind }) => kind === 'vacated' && saveAndUnload(room));
   */
  async onRoomEvent(
    handler: (event: { room: string; kind: 'occupied' | 'vacated' }) => void,
  ): Promise<() => void> {
    if (typeof handler !== 'function') {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'onRoomEvent needs a handler function');
    }
    const sub = await this.fabric.bus.subscribe(Subject.roomEvents, (payload) => {
      try {
        const msg = decodeBusMessage(payload);
        if (msg.type === BusMessageType.ROOM_EVENT) handler({ room: msg.room, kind: msg.kind });
      } catch (err) {
        this.fabric.logger.debug({ err }, 'dropped a malformed room event');
      }
    });
    return () => sub.unsubscribe();
  }

  /**
   * Persistent channels (docs/channels.md): create and delete them, subscribe users durably
   * (their sockets join the channel's room now and on every connect), list subscribers.
   * Throws `RF_INVALID_ARGUMENT` when the server has no channel store (see
   * `ServerOptions.channels`).
   *
   * @example
   * await rf.channels.create('general');
   * await rf.channels.subscribe('ada', 'general');
   */
  get channels(): Channels<RemoteSocket> {
    if (this.channelApi) return this.channelApi;
    const store = this.channelStore.store;
    if (!store) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        'this server has no channel store: connect it with `nats`, or pass `channels`',
      );
    }
    const fabric = this.fabric;
    this.channelApi = new Channels(store, {
      fabric,
      toSocket: (m: MemberInfo) => new RemoteSocket(fabric, m),
      onEmitError: (err) => fabric.logger.warn({ err }, 'emit failed'),
    });
    return this.channelApi;
  }

  /**
   * Targets the live room of channel `name` (`channelRoom(name)`): the connected sockets
   * of its subscribers. Needs no channel store: an emit is a broadcast.
   *
   * @example
   * await rf.channel('general').emit('message', { text: 'hello' });
   */
  channel(name: string): Operator<RemoteSocket> {
    assertChannelName(name);
    return this.root.to(channelRoom(name));
  }

  /** Releases the NATS and Redis connections it opened. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.channelStore.owned) await this.channelStore.store?.close();
    if (this.ownsBus) await this.fabric.bus.close();
    if (this.ownsMembership) await this.fabric.membership.close();
  }
}
