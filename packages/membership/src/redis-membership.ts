/**
 * `RedisMembership`, the public class of the global room index on Redis or Redis Cluster
 * (docs/redis-keys.md), and its options. It owns what composes the parts: the connection
 * (`redis-connection.ts`), the key builders, the per-turn batcher (`redis-batch.ts`), the
 * node index (`redis-node-index.ts`), the sockets this instance registered, the per-socket
 * order of changes and the room and presence listeners, all handed to the other modules as
 * one `MembershipContext` (`redis-context.ts`). A call here only routes: the connection
 * maps its store failures, and its steps are in `redis-sockets.ts` (socket lifecycle,
 * joins, leaves), `redis-reads.ts`, `redis-node-ops.ts` (leases, purges, re-asserts) or
 * `redis-raid.ts`.
 */
import type { Cluster, Redis } from 'ioredis';
import type {
  RoomEvent,
  MemberInfo,
  Membership,
  NodeSnapshotSocket,
  ReassertOptions,
  PresenceEvent,
  PresenceMember,
  PresenceStats,
  PurgedSocket,
  RaidResult,
} from './membership.js';
import { distinctRooms } from './validate.js';
import { RedisKeys } from './redis-keys.js';
import { type BatchFlush, Batcher } from './redis-batch.js';
import { runRaid } from './redis-raid.js';
import { packArgs, type Changes } from './redis-values.js';
import { parseRedisTarget, type RedisTarget } from './redis-target.js';
import { RedisConnection, startupNode } from './redis-connection.js';
import type { MembershipContext } from './redis-context.js';
import { NodeIndex } from './redis-node-index.js';
import { SocketOrder, addSocket, join, leave, removeSocket } from './redis-sockets.js';
import * as reads from './redis-reads.js';
import * as nodeOps from './redis-node-ops.js';

/** Options of {@link RedisMembership}. */
export interface RedisMembershipOptions {
  /**
   * Where the index lives, as {@link parseRedisTarget} reads it: `redis://host:port/db` or
   * `rediss://` (one Redis), several such URLs (a list, or commas: the seed nodes of a Redis
   * Cluster), or `redis-cluster://[user:password@]h1:p1,h2:p2` (`rediss-cluster://` for
   * TLS). Ignored when `redis` or `cluster` is given. Default `redis://127.0.0.1:6379`.
   */
  url?: string | readonly string[];
  /**
   * A Redis Cluster to connect to: some of its nodes (`redis://host:port` or `host:port`);
   * the others are found from them. Credentials and TLS apply to every node. Ignored when
   * `redis` is given.
   */
  cluster?: { nodes: string[]; username?: string; password?: string; tls?: boolean };
  /** First part of every key name; must not contain `{` or `}`. Default `rf`. */
  keyPrefix?: string;
  /**
   * An existing ioredis connection, a `Redis` or a `Cluster` (without an ioredis
   * `keyPrefix`; best with `enableAutoPipelining: true`, which connections this class
   * creates have). `close()` then leaves it open; its owner handles its `error` events.
   */
  redis?: Redis | Cluster;
  /** A command that gets no answer in this time fails. Default 2000 ms. */
  commandTimeoutMs?: number;
  /** How long a raid result is kept, so a repeated raid id does not run again. Default 1 h. */
  raidResultTtlMs?: number;
  /** Sockets per step in {@link RedisMembership.reassert}. Default 500. */
  reassertChunk?: number;
  /**
   * When the calls of one event-loop turn are sent, coalesced into one script call per slot:
   * once the turn's microtasks ran (default) or at `setImmediate`.
   */
  batchFlush?: BatchFlush;
  /** Connection errors of an owned connection (they also reject the calls they affect). */
  onError?: (err: Error) => void;
}

/** Where an owned connection goes: `cluster`, else `url` as {@link parseRedisTarget} reads it. */
function targetOf(options: RedisMembershipOptions): RedisTarget {
  return options.cluster
    ? {
        kind: 'cluster',
        seeds: options.cluster.nodes.map(startupNode),
        tls: options.cluster.tls ?? false,
        ...(options.cluster.username !== undefined && { username: options.cluster.username }),
        ...(options.cluster.password !== undefined && { password: options.cluster.password }),
      }
    : parseRedisTarget(options.url ?? 'redis://127.0.0.1:6379');
}

/**
 * The global index in Redis or Redis Cluster (ioredis 5), laid out so that every script
 * touches the keys of one hash slot (`docs/redis-keys.md`): a room's slot (its members and
 * presence counts), a node's slot (its sockets, their info and reverse sets, its lease), a
 * socket's pointer to its node, and two global keys. A change that spans slots is a few
 * slot-local steps in an order that keeps every node's reverse index a superset of the rooms
 * that list its sockets, so a purge or re-assert can always find every entry. Decisions
 * (added, removed, occupied, vacated, presence) are made in the room's slot, atomically.
 *
 * The calls of one event-loop turn are coalesced: one script call per room slot and per
 * node, sent together. Scripts load once per connection (EVALSHA with an EVAL fallback).
 * Lease deadlines use the Redis clock (`TIME`). Failures reject with
 * `RF_MEMBERSHIP_UNAVAILABLE` (temporary) within about `commandTimeoutMs` per step.
 *
 * @example
 * const membership = new RedisMembership({ cluster: { nodes: ['redis://10.0.0.1:7000'] } });
 * await membership.renewLease('edge-1', 10_000);
 */
export class RedisMembership implements Membership {
  private readonly redis: RedisConnection;
  /** What the modules share (the raid steps take it as their `RaidContext`). */
  private readonly ctx: MembershipContext;
  private readonly order = new SocketOrder();
  private readonly roomListeners = new Set<(event: RoomEvent) => void>();
  private readonly presenceListeners = new Set<(event: PresenceEvent) => void>();

  constructor(options: RedisMembershipOptions = {}) {
    const keys = new RedisKeys(options.keyPrefix ?? 'rf');
    const timeout = options.commandTimeoutMs ?? 2000;
    const redis = (this.redis = new RedisConnection(
      options.redis
        ? { redis: options.redis }
        : { target: targetOf(options), onError: options.onError ?? (() => undefined) },
      timeout,
    ));
    const batch = new Batcher({
      sendRoom: (anchor, argv) => redis.script('room', [anchor], [packArgs(argv)]),
      sendNode: (anchor, argv) => redis.script('node', [anchor], [packArgs(argv)], true),
      ...(options.batchFlush && { flush: options.batchFlush }),
    });
    this.ctx = {
      redis,
      keys,
      batch,
      nodes: new NodeIndex(redis, keys),
      own: new Map(),
      script: (name, keys, args, buffers) => redis.script(name, keys, args, buffers),
      hkeys: (key) => redis.cmd((r) => r.hkeys(key)),
      reporting: () => this.presenceListeners.size > 0,
      report: (changes) => this.report(changes),
      raidTtlMs: options.raidResultTtlMs ?? 3_600_000,
      raidingAfterMs: 4 * timeout,
      reassertChunk: Math.max(1, options.reassertChunk ?? 500),
      leases: new Map(),
    };
  }

  /** Script calls the batcher sent so far (tests and benchmarks). @internal */
  get batchedCalls(): number {
    return this.ctx.batch.calls;
  }

  addSocket(member: MemberInfo): Promise<void> {
    return this.redis.call('addSocket', () =>
      this.order.serial(member.socketId, 'add', () => addSocket(this.ctx, member)),
    );
  }

  removeSocket(socketId: string): Promise<string[]> {
    return this.redis.call('removeSocket', () =>
      this.order.serial(socketId, 'remove', () => removeSocket(this.ctx, socketId)),
    );
  }

  join(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.redis.call('join', () =>
      this.order.serial(socketId, 'join', () => join(this.ctx, socketId, rooms)),
    );
  }

  leave(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.redis.call('leave', () =>
      this.order.serial(socketId, 'leave', () => leave(this.ctx, socketId, rooms)),
    );
  }

  members(room: string): Promise<MemberInfo[]> {
    return this.redis.call('members', () => reads.readMembers(this.ctx, room));
  }

  presence(room: string): Promise<PresenceMember[]> {
    return this.redis.call('presence', () => reads.readPresence(this.ctx, room));
  }

  presenceStats(room: string): Promise<PresenceStats> {
    return this.redis.call('presenceStats', () => reads.presenceStats(this.ctx, room));
  }

  count(room: string): Promise<number> {
    return this.redis.call('count', () => reads.count(this.ctx, room));
  }

  nodesOf(room: string): Promise<string[]> {
    return this.redis.call('nodesOf', () => reads.nodesOf(this.ctx, room));
  }

  roomsOf(socketId: string): Promise<string[]> {
    return this.redis.call('roomsOf', () => reads.roomsOf(this.ctx, socketId));
  }

  socket(socketId: string): Promise<MemberInfo | undefined> {
    return this.redis.call('socket', () => reads.socketInfo(this.ctx, socketId));
  }

  socketsOf(nodeId: string): Promise<string[]> {
    return this.redis.call('socketsOf', () => reads.socketsOf(this.ctx, nodeId));
  }

  /** Nodes with a live lease or with sockets in the index. */
  nodes(): Promise<string[]> {
    return this.redis.call('nodes', () => this.ctx.nodes.all());
  }

  /**
   * Resolves once the index answers: one Redis answers a PING; a Redis Cluster must serve
   * every one of its 16,384 slots (`CLUSTER INFO` says `cluster_state:ok`), since the rooms
   * of a slot without a primary could be neither joined nor left. Rejects with
   * `RF_MEMBERSHIP_UNAVAILABLE` (temporary: a failover may be under way) saying which.
   */
  ready(): Promise<void> {
    return this.redis.call('ready', () => this.redis.ready());
  }

  /**
   * Sockets in the index, and nodes as {@link nodes} counts them. One read per node (not one
   * snapshot: a socket that moves node meanwhile may count twice or not at all).
   */
  totals(): Promise<{ sockets: number; nodes: number }> {
    return this.redis.call('totals', () => reads.totals(this.ctx));
  }

  /**
   * The node's lease key (its slot), then its deadline in the leases ZSET, in that order, so
   * that a purge forgetting the node at the same time sees the lease or keeps the deadline.
   */
  renewLease(nodeId: string, ttlMs: number): Promise<boolean> {
    return this.redis.call('renewLease', () => nodeOps.renewLease(this.ctx, nodeId, ttlMs));
  }

  dropLease(nodeId: string): Promise<void> {
    return this.redis.call('dropLease', () => nodeOps.dropLease(this.ctx, nodeId));
  }

  expiredNodes(): Promise<string[]> {
    return this.redis.call('expiredNodes', () => nodeOps.expiredNodes(this.ctx));
  }

  /**
   * Takes the node's purge lock (waiting while another purger holds it), reads up to `batch`
   * sockets with their rooms if the lease is not alive, takes them out of their rooms, then
   * deletes them from the node's slot; reports only the sockets it deleted itself.
   */
  purgeNode(nodeId: string, batch = 500): Promise<PurgedSocket[]> {
    return this.redis.call('purgeNode', () => nodeOps.purgeNode(this.ctx, nodeId, batch));
  }

  /**
   * Chunked: first removes the node's sockets missing from `sockets`, then writes the
   * listed ones `reassertChunk` at a time, each step in the invariant's order (the node's
   * reverse sets grow first, shrink last). Each socket's rooms become exactly the listed
   * ones; the whole snapshot is not one step, so the node must not change its own
   * membership meanwhile. The scrub pairs are then removed from their rooms, each where
   * the room's entry names the node (one step per room slot).
   */
  reassert(
    nodeId: string,
    sockets: readonly NodeSnapshotSocket[],
    options: ReassertOptions = {},
  ): Promise<void> {
    return this.redis.call('reassert', () => nodeOps.reassert(this.ctx, nodeId, sockets, options));
  }

  /**
   * Rejects with `RF_INVALID_ARGUMENT` when `from` and `to` are the same room. Rooms of one
   * slot (a shared `{tag}`) move in one script; others in the steps of the cross-slot
   * protocol (docs/redis-keys.md, "Raids"). A retry with the same id resumes a raid that
   * stopped half way and returns the result of one that completed.
   */
  raid(raidId: string, from: string, to: string): Promise<RaidResult> {
    return this.redis.call('raid', async () => {
      distinctRooms(from, to);
      return runRaid(this.ctx, raidId, this.ctx.keys.room(from), this.ctx.keys.room(to));
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

  /** Reports one call's events: rooms occupied, then presence transitions, then rooms vacated. */
  private report(changes: Changes): void {
    if (this.roomListeners.size > 0) {
      for (const room of changes.occupied) this.reportRoom({ room, kind: 'occupied' });
    }
    if (this.presenceListeners.size > 0) {
      for (const event of changes.presence) {
        for (const listener of this.presenceListeners) listener(event);
      }
    }
    if (this.roomListeners.size > 0) {
      for (const room of changes.vacated) this.reportRoom({ room, kind: 'vacated' });
    }
  }

  private reportRoom(event: RoomEvent): void {
    for (const listener of this.roomListeners) listener(event);
  }

  async close(): Promise<void> {
    if (this.redis.closed) return;
    this.ctx.own.clear();
    await this.redis.close();
  }
}
