import { decode, encode } from '@msgpack/msgpack';
import { ErrorCode, RoomfabricError, isRoomfabricError } from '@roomfabric/protocol';
import { Redis, type RedisOptions } from 'ioredis';
import type {
  RoomEvent,
  MemberInfo,
  Membership,
  MovedMember,
  NodeSnapshotSocket,
  PresenceEvent,
  PresenceMember,
  PresenceStats,
  PurgedSocket,
  RaidResult,
} from './membership.js';
import { distinctRooms, positiveInteger } from './validate.js';
import { RedisKeys } from './redis-keys.js';
import { type ScriptName, scripts } from './redis-scripts.js';

/** Options of {@link RedisMembership}. */
export interface RedisMembershipOptions {
  /** `redis://host:port/db`. Ignored when `redis` is given. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** First part of every key name; must not contain `{` or `}`. Default `rf`. */
  keyPrefix?: string;
  /**
   * An existing ioredis connection to use (without an ioredis `keyPrefix`). `close()` then
   * leaves it open; its owner handles its `error` events.
   */
  redis?: Redis;
  /** A command that gets no answer in this time fails. Default 2000 ms. */
  commandTimeoutMs?: number;
  /** How long a raid result is kept, so a repeated raid id does not run again. Default 1 h. */
  raidResultTtlMs?: number;
  /** Sockets per script call in {@link RedisMembership.reassert}. Default 500. */
  reassertChunk?: number;
  /** Connection errors of an owned connection (they also reject the calls they affect). */
  onError?: (err: Error) => void;
}

type Arg = string | Buffer | number;
type ScriptFn = (...args: Arg[]) => Promise<unknown>;

const noData = Buffer.alloc(0);

/** msgpack bytes of `data`; an empty string stands for `undefined`. */
function packData(data: unknown): Buffer {
  if (data === undefined) return noData;
  let bytes: Uint8Array;
  try {
    bytes = encode(data);
  } catch (err) {
    throw new RoomfabricError(
      ErrorCode.INVALID_ARGUMENT,
      'socket data is not msgpack-serialisable',
      {
        cause: err,
      },
    );
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function unpackData(bytes: Buffer | null | undefined): unknown {
  return bytes && bytes.length > 0 ? decode(bytes) : undefined;
}

function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

const texts = (values: unknown): string[] => (values as unknown[]).map(text);

/** The user as scripts take it: `''` for none. */
const userArg = (user: string | undefined): string => user ?? '';

/** Flat `[socket, node, user, data, ...]` from the `members` script, user `''` for none. */
function* memberRows(
  flat: Buffer[],
): Generator<{ socketId: string; nodeId: string; user: string; data: unknown }> {
  for (let i = 0; i + 3 < flat.length; i += 4) {
    yield {
      socketId: text(flat[i]),
      nodeId: text(flat[i + 1]),
      user: text(flat[i + 2]),
      data: unpackData(flat[i + 3]),
    };
  }
}

/** A `MemberInfo` with `user` only when it has one. */
function memberInfo(socketId: string, nodeId: string, user: string, data: unknown): MemberInfo {
  return user === '' ? { socketId, nodeId, data } : { socketId, nodeId, user, data };
}

/** Connection options under which a call fails in bounded time instead of hanging. */
function connectionOptions(commandTimeout: number): RedisOptions {
  return {
    // Queued commands fail after one reconnect attempt; commandTimeout bounds the rest.
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    commandTimeout,
    connectTimeout: commandTimeout,
    // close() waits this long for a socket that never reports 'close' (one that failed to
    // connect): not ioredis's 2 s, which kept a process that gave up on Redis alive.
    disconnectTimeout: Math.min(commandTimeout, 500),
    // Reconnect forever: 100, 200, 400 ... capped at 2 s.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
  };
}

/**
 * The global index in Redis (ioredis 5). Each change is one Lua script, loaded once per
 * connection and run by SHA (EVALSHA with an EVAL fallback, so a Redis that restarted empty
 * works again at once). Lease deadlines use the Redis clock (`TIME`), so the callers'
 * clocks do not matter. Failures reject with `RF_MEMBERSHIP_UNAVAILABLE` (temporary)
 * within about `commandTimeoutMs`. Key layout: `docs/redis-keys.md`.
 *
 * @example
 * const membership = new RedisMembership({ url: 'redis://127.0.0.1:6379' });
 * await membership.renewLease('edge-1', 10_000);
 */
export class RedisMembership implements Membership {
  private readonly redis: Redis;
  /**
   * A second connection, for lease renewals only: under a flood of joins the main
   * connection's queue can hold thousands of commands, and a renewal queued behind them
   * would time out, get the node reported unready and, past the TTL, purged while alive.
   * Created on the first lease call (only edges renew leases).
   */
  private leaseLane: Redis | undefined;
  private readonly ownsConnection: boolean;
  private readonly keys: RedisKeys;
  private readonly roomListeners = new Set<(event: RoomEvent) => void>();
  private readonly presenceListeners = new Set<(event: PresenceEvent) => void>();
  private readonly raidTtlMs: number;
  private readonly chunk: number;
  private closed = false;
  /** The latest connection error since the connection was last ready. */
  private connectionError: Error | undefined;

  constructor(options: RedisMembershipOptions = {}) {
    this.keys = new RedisKeys(options.keyPrefix ?? 'rf');
    this.raidTtlMs = options.raidResultTtlMs ?? 3_600_000;
    this.chunk = Math.max(1, options.reassertChunk ?? 500);
    this.ownsConnection = options.redis === undefined;
    const timeout = options.commandTimeoutMs ?? 2000;
    this.redis =
      options.redis ??
      new Redis(options.url ?? 'redis://127.0.0.1:6379', connectionOptions(timeout));
    if (this.ownsConnection) this.redis.on('error', options.onError ?? (() => undefined));
    // Named by the message of calls that fail while Redis cannot be reached.
    this.redis.on('error', (err: Error) => (this.connectionError = err));
    this.redis.on('ready', () => (this.connectionError = undefined));
    for (const [name, s] of Object.entries(scripts)) {
      this.redis.defineCommand(`rfm_${name}`, s);
    }
  }

  addSocket(member: MemberInfo): Promise<void> {
    const { socketId, nodeId } = member;
    return this.call('addSocket', async () => {
      const keys = [this.keys.socketInfo(socketId), this.keys.nodeSockets(nodeId)];
      const args = [socketId, nodeId, packData(member.data), userArg(member.user)];
      this.withEvents(await this.script('addSocket', keys, args, true));
    });
  }

  removeSocket(socketId: string): Promise<string[]> {
    return this.call('removeSocket', async () => {
      const keys = [this.keys.socketInfo(socketId)];
      return texts(this.withEvents(await this.script('removeSocket', keys, [socketId], true)));
    });
  }

  join(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.call('join', async () => {
      const keys = [this.keys.socketInfo(socketId), this.keys.socketRooms(socketId)];
      const raw = await this.script('join', keys, [socketId, ...rooms], true);
      if (raw === null) {
        throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `unknown socket ${socketId}`);
      }
      return texts(this.withEvents(raw));
    });
  }

  leave(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.call('leave', async () => {
      const keys = [this.keys.socketRooms(socketId), this.keys.socketInfo(socketId)];
      return texts(this.withEvents(await this.script('leave', keys, [socketId, ...rooms], true)));
    });
  }

  members(room: string): Promise<MemberInfo[]> {
    return this.call('members', async () => {
      const raw = await this.script('members', [this.keys.room(room)], ['all'], true);
      const out: MemberInfo[] = [];
      for (const m of memberRows(raw as Buffer[])) {
        out.push(memberInfo(m.socketId, m.nodeId, m.user, m.data));
      }
      return out;
    });
  }

  presence(room: string): Promise<PresenceMember[]> {
    return this.call('presence', async () => {
      const raw = await this.script('members', [this.keys.room(room)], ['users'], true);
      return [...memberRows(raw as Buffer[])];
    });
  }

  presenceStats(room: string): Promise<PresenceStats> {
    return this.call('presenceStats', async () => {
      const keys = [this.keys.room(room), this.keys.roomUsers(room)];
      const [sockets, users] = (await this.script('presenceStats', keys, [])) as number[];
      return { sockets: sockets ?? 0, users: users ?? 0 };
    });
  }

  count(room: string): Promise<number> {
    return this.call('count', () => this.redis.hlen(this.keys.room(room)));
  }

  roomsOf(socketId: string): Promise<string[]> {
    return this.call('roomsOf', () => this.redis.smembers(this.keys.socketRooms(socketId)));
  }

  socket(socketId: string): Promise<MemberInfo | undefined> {
    return this.call('socket', async () => {
      const info = this.keys.socketInfo(socketId);
      const [node, data, user] = await this.redis.hmgetBuffer(info, 'n', 'd', 'u');
      if (!node) return undefined;
      return memberInfo(socketId, text(node), user ? text(user) : '', unpackData(data));
    });
  }

  socketsOf(nodeId: string): Promise<string[]> {
    return this.call('socketsOf', () => this.redis.smembers(this.keys.nodeSockets(nodeId)));
  }

  /** Nodes with a live lease or with sockets in the index. */
  nodes(): Promise<string[]> {
    return this.call('nodes', async () => {
      return (await this.script('nodes', [this.keys.leases()], ['list'])) as string[];
    });
  }

  /** Sockets in the index, and nodes as {@link nodes} counts them; read in one step. */
  totals(): Promise<{ sockets: number; nodes: number }> {
    return this.call('totals', async () => {
      const counts = (await this.script('nodes', [this.keys.leases()], ['count'])) as number[];
      return { sockets: counts[0] ?? 0, nodes: counts[1] ?? 0 };
    });
  }

  renewLease(nodeId: string, ttlMs: number): Promise<boolean> {
    return this.call('renewLease', async () => {
      positiveInteger('ttlMs', ttlMs);
      const keys = [this.keys.lease(nodeId), this.keys.leases()];
      return (await this.script('renewLease', keys, [nodeId, ttlMs], false, this.lane())) === 1;
    });
  }

  dropLease(nodeId: string): Promise<void> {
    return this.call('dropLease', async () => {
      const k = this.keys;
      await this.script(
        'dropLease',
        [k.lease(nodeId), k.leases(), k.nodeSockets(nodeId)],
        [nodeId],
      );
    });
  }

  expiredNodes(): Promise<string[]> {
    return this.call('expiredNodes', async () => {
      return (await this.script('expiredNodes', [this.keys.leases()], [])) as string[];
    });
  }

  purgeNode(nodeId: string, batch = 500): Promise<PurgedSocket[]> {
    return this.call('purgeNode', async () => {
      positiveInteger('batch', batch);
      const k = this.keys;
      const keys = [k.lease(nodeId), k.nodeSockets(nodeId), k.leases()];
      const out = this.withEvents<[Buffer, Buffer[]][]>(
        await this.script('purgeNode', keys, [nodeId, batch], true),
      );
      return out.map(([socketId, rooms]) => ({ socketId: text(socketId), rooms: texts(rooms) }));
    });
  }

  /**
   * Chunked: first removes the node's sockets missing from `sockets`, then writes the
   * listed ones `reassertChunk` at a time. Each socket changes atomically; the whole
   * snapshot does not, so the node must not change its own membership meanwhile.
   */
  reassert(nodeId: string, sockets: readonly NodeSnapshotSocket[]): Promise<void> {
    return this.call('reassert', async () => {
      const listed = new Set(sockets.map((s) => s.socketId));
      const current = await this.redis.smembers(this.keys.nodeSockets(nodeId));
      const stale = current.filter((id) => !listed.has(id));
      const nodeKey = [this.keys.nodeSockets(nodeId)];
      for (let i = 0; i < stale.length; i += this.chunk) {
        const args = [nodeId, ...stale.slice(i, i + this.chunk)];
        this.withEvents(await this.script('reassertPrune', nodeKey, args, true));
      }
      for (let i = 0; i < sockets.length; i += this.chunk) {
        const args: Arg[] = [nodeId];
        for (const s of sockets.slice(i, i + this.chunk)) {
          args.push(s.socketId, packData(s.data), userArg(s.user), s.rooms.length, ...s.rooms);
        }
        this.withEvents(await this.script('reassertUpsert', nodeKey, args, true));
      }
    });
  }

  /** Rejects with `RF_INVALID_ARGUMENT` when `from` and `to` are the same room. */
  raid(raidId: string, from: string, to: string): Promise<RaidResult> {
    return this.call('raid', async () => {
      distinctRooms(from, to);
      const k = this.keys;
      const keys = [k.raid(raidId), k.room(from), k.room(to), k.roomUsers(from), k.roomUsers(to)];
      // Without a presence listener the script skips reading each mover's user.
      const report = this.presenceListeners.size > 0 ? '1' : '0';
      const [repeated, packed] = this.withEvents<[number, Buffer]>(
        await this.script('raid', keys, [from, to, this.raidTtlMs, report], true),
      );
      return { moved: unpackMoved(packed), repeated: repeated === 1 };
    });
  }

  onRoomEvent(listener: (event: RoomEvent) => void): () => void {
    this.roomListeners.add(listener);
    return () => this.roomListeners.delete(listener);
  }

  onPresence(listener: (event: PresenceEvent) => void): () => void {
    this.presenceListeners.add(listener);
    return () => this.presenceListeners.delete(listener);
  }

  /**
   * Unwraps `{ result, occupied, vacated, presence, moves? }` from a changing script and
   * reports the events: rooms occupied, then presence transitions, then rooms vacated.
   * `presence` is flat `[room, kind, user, socket, data, ...]`; `moves` (raids only) is
   * `[from, to, then per user: user, socket, data, joined]`: a leave of `from` and, when
   * `joined` is 1, a join of `to`.
   */
  private withEvents<T>(raw: unknown): T {
    const [result, occupied, vacated, presence, moves = []] = raw as [
      T,
      Buffer[],
      Buffer[],
      Buffer[],
      Array<Buffer | number>?,
    ];
    if (this.roomListeners.size > 0) {
      for (const r of occupied) this.reportRoom({ room: text(r), kind: 'occupied' });
    }
    if (this.presenceListeners.size > 0) {
      for (let i = 0; i + 4 < presence.length; i += 5) {
        this.reportPresence({
          room: text(presence[i]),
          kind: text(presence[i + 1]) === 'join' ? 'join' : 'leave',
          user: text(presence[i + 2]),
          socketId: text(presence[i + 3]),
          data: unpackData(presence[i + 4]),
        });
      }
      const [from, to] = moves.map(text);
      for (let i = 2; i + 3 < moves.length; i += 4) {
        const user = text(moves[i]);
        const socketId = text(moves[i + 1]);
        const data = unpackData(moves[i + 2] as Buffer);
        this.reportPresence({ room: from!, kind: 'leave', user, socketId, data });
        if (moves[i + 3] === 1)
          this.reportPresence({ room: to!, kind: 'join', user, socketId, data });
      }
    }
    if (this.roomListeners.size > 0) {
      for (const r of vacated) this.reportRoom({ room: text(r), kind: 'vacated' });
    }
    return result;
  }

  private reportRoom(event: RoomEvent): void {
    for (const listener of this.roomListeners) listener(event);
  }

  private reportPresence(event: PresenceEvent): void {
    for (const listener of this.presenceListeners) listener(event);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The lease lane is always this instance's own (a duplicate of a given connection).
    const lane = this.leaseLane;
    if (lane?.status === 'ready') await lane.quit().catch(() => undefined);
    lane?.disconnect();
    if (!this.ownsConnection) return;
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }

  /** The lease lane, opened on first use with the main connection's options. */
  private lane(): Redis {
    if (!this.leaseLane) {
      const lane = this.redis.duplicate();
      lane.on('error', () => undefined); // failures reject the renewals they affect
      for (const [name, s] of Object.entries(scripts)) lane.defineCommand(`rfm_${name}`, s);
      this.leaseLane = lane;
    }
    return this.leaseLane;
  }

  /** Runs a script by name: the prefix goes first in ARGV. */
  private script(
    name: ScriptName,
    keys: string[],
    args: Arg[],
    buffers = false,
    connection: Redis = this.redis,
  ): Promise<unknown> {
    const commands = connection as unknown as Record<string, ScriptFn>;
    const fn = commands[`rfm_${name}${buffers ? 'Buffer' : ''}`];
    if (!fn) throw new Error(`script ${name} is not defined`);
    return fn.call(connection, ...keys, this.keys.prefix, ...args);
  }

  /**
   * What to say when a call failed because Redis cannot be reached (the connection is not
   * ready): where it should be, why it is not, and what to check. Undefined while connected.
   */
  private unreachable(): string | undefined {
    if (this.redis.status === 'ready') return undefined;
    const why = this.connectionError?.message ?? `connection ${this.redis.status}`;
    return `cannot reach Redis at ${redisAddress(this.redis)} (${why}): is redis-server running? is the port right?`;
  }

  /** Rejects after close; maps every store failure to `RF_MEMBERSHIP_UNAVAILABLE`. */
  private async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) {
      throw new RoomfabricError(ErrorCode.MEMBERSHIP_UNAVAILABLE, 'the membership index is closed');
    }
    try {
      return await fn();
    } catch (err) {
      if (isRoomfabricError(err)) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      throw new RoomfabricError(
        ErrorCode.MEMBERSHIP_UNAVAILABLE,
        `membership ${op} failed: ${this.unreachable() ?? reason}`,
        {
          cause: err,
          temporary: true,
        },
      );
    }
  }
}

/** Where an ioredis connection goes, without credentials: `redis://host:port/db`. */
function redisAddress(redis: Redis): string {
  const { host, port, db, path, tls } = redis.options;
  if (path) return path;
  return `${tls ? 'rediss' : 'redis'}://${host ?? '127.0.0.1'}:${port ?? 6379}${db ? `/${db}` : ''}`;
}

function unpackMoved(packed: Buffer): MovedMember[] {
  const flat = decode(packed);
  const moved: MovedMember[] = [];
  if (!Array.isArray(flat)) return moved;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    moved.push({ socketId: String(flat[i]), nodeId: String(flat[i + 1]) });
  }
  return moved;
}
