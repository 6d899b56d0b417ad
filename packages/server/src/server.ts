import { NatsBus, type Bus } from '@roomfabric/bus';
import { RedisMembership, type MemberInfo, type Membership } from '@roomfabric/membership';
import {
  assertRoomId,
  BusMessageType,
  decodeBusMessage,
  ErrorCode,
  RoomfabricError,
  Subject,
  type SocketLeftMessage,
} from '@roomfabric/protocol';
import { Fabric } from './fabric.js';
import { createJsonLogger, logLevelFromEnv, type Logger } from './logger.js';
import { Operator } from './operator.js';
import type { RaidReport } from './raid.js';
import { RemoteSocket } from './remote-socket.js';

export interface ServerOptions {
  /** NATS server URL(s); or pass `bus`. */
  nats?: string | readonly string[];
  /** Redis URL; or pass `membership`. */
  redis?: string;
  bus?: Bus;
  membership?: Membership;
  logger?: Logger;
  /** Timeout of requests to nodes and to the membership service, ms. Default 5000. */
  requestTimeoutMs?: number;
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
  try {
    membership = options.membership ?? new RedisMembership({ url: options.redis! });
  } catch (err) {
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
    requestTimeoutMs: options.requestTimeoutMs,
  });
  return new RoomfabricServer(fabric, ownsBus, ownsMembership);
}

export class RoomfabricServer {
  private readonly root: Operator<RemoteSocket>;
  private closed = false;

  /** @internal Use {@link createServer}. */
  constructor(
    readonly fabric: Fabric,
    private readonly ownsBus: boolean,
    private readonly ownsMembership: boolean,
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
   * Calls `handler` for every socket the fabric removed on its own (its node died).
   * Resolves with a function that stops it.
   */
  async onSocketLeft(
    handler: (event: Omit<SocketLeftMessage, 'type'>) => void,
  ): Promise<() => void> {
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

  /** Releases the NATS and Redis connections it opened. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsBus) await this.fabric.bus.close();
    if (this.ownsMembership) await this.fabric.membership.close();
  }
}
