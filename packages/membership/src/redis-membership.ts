import { randomBytes } from 'node:crypto';
import { ErrorCode, RoomfabricError, isRoomfabricError } from '@roomfabric/protocol';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type {
  RoomEvent,
  MemberInfo,
  Membership,
  NodeSnapshotSocket,
  PresenceEvent,
  PresenceMember,
  PresenceStats,
  PurgedSocket,
  RaidResult,
} from './membership.js';
import { distinctRooms, positiveInteger } from './validate.js';
import { type NodeKeys, RedisKeys } from './redis-keys.js';
import { type Arg, type BatchFlush, Batcher } from './redis-batch.js';
import { type RaidContext, runRaid } from './redis-raid.js';
import { RoomCode, type ScriptName, scripts } from './redis-scripts.js';
import {
  Changes,
  distinct,
  memberInfo,
  memberValue,
  packData,
  parseValue,
  settle,
  text,
  texts,
  unpackData,
} from './redis-values.js';
import { parseRedisTarget, type RedisTarget } from './redis-target.js';

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

type Connection = Redis | Cluster;
type ScriptFn = (...args: (Arg | Arg[])[]) => Promise<unknown>;

/** Ids per node operation of a members read (a call carries up to ~2000). */
const IDS_PER_OP = 1000;

/** Node ids go into member values before a NUL, so they must not hold one. */
function checkNodeId(nodeId: string): void {
  if (nodeId.includes('\0')) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'a node id must not contain NUL', {
      details: { nodeId },
    });
  }
}

const unknownSocket = (socketId: string) =>
  new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `unknown socket ${socketId}`);

/** The operations in flight for one socket: what the next one waits for. */
interface Chain {
  kind: string;
  /** What the operations running together wait for. */
  gate: Promise<unknown>;
  /** Settles once every operation in flight settled (it may reject). */
  tail: Promise<unknown>;
}

const resolved = Promise.resolve();
const noop = () => undefined;

/** A socket of a node being removed: what its node slot said about it. */
interface Leaving {
  socketId: string;
  data: unknown;
  rooms: string[];
}

/** Connection options under which a call fails in bounded time instead of hanging. */
function connectionOptions(commandTimeout: number): RedisOptions {
  return {
    // Queued commands fail after one reconnect attempt; commandTimeout bounds the rest.
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    enableAutoPipelining: true,
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
 * The same bounds for a cluster: per node connection, plus slot refreshes and redirects;
 * the credentials and TLS of every node.
 */
function clusterOptions(
  commandTimeout: number,
  auth: { username?: string; password?: string; tls?: boolean },
): ClusterOptions {
  const { retryStrategy, enableAutoPipelining: _, ...node } = connectionOptions(commandTimeout);
  return {
    enableAutoPipelining: true,
    enableOfflineQueue: true,
    redisOptions: {
      ...node,
      ...(auth.username !== undefined && { username: auth.username }),
      ...(auth.password !== undefined && { password: auth.password }),
      ...(auth.tls && { tls: {} }),
    },
    clusterRetryStrategy: retryStrategy as (times: number) => number,
    slotsRefreshTimeout: commandTimeout,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    maxRedirections: 16,
  };
}

/** A startup node of a cluster: `redis://host:port` or `host:port`. */
function startupNode(address: string): { host: string; port: number } {
  const url = new URL(address.includes('://') ? address : `redis://${address}`);
  return { host: url.hostname || '127.0.0.1', port: Number(url.port || 6379) };
}

/** A socket this instance registered: the edge that owns it is the only writer of its rooms. */
interface OwnSocket {
  nodeId: string;
  data: unknown;
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
  private readonly redis: Connection;
  /**
   * A second connection, for lease renewals only: under a flood of joins the main
   * connection's queue can hold thousands of commands, and a renewal queued behind them
   * would time out, get the node reported unready and, past the TTL, purged while alive.
   * Created on the first lease call (only edges renew leases).
   */
  private leaseLane: Connection | undefined;
  private readonly ownsConnection: boolean;
  private readonly keys: RedisKeys;
  private readonly batch: Batcher;
  private readonly roomListeners = new Set<(event: RoomEvent) => void>();
  private readonly presenceListeners = new Set<(event: PresenceEvent) => void>();
  /** Sockets registered through this instance (removed on removeSocket and purge). */
  private readonly own = new Map<string, OwnSocket>();
  /** Per socket: the operations in flight, so that one socket's changes apply in order. */
  private readonly chains = new Map<string, Chain>();
  private readonly raidTtlMs: number;
  private readonly chunk: number;
  private readonly timeoutMs: number;
  private closed = false;
  /** The latest connection error since the connection was last ready. */
  private connectionError: Error | undefined;
  private readonly raidContext: RaidContext;
  /** The startup nodes of an owned cluster (for error messages). */
  private readonly startup: { host: string; port: number }[];
  /** The `rf:nodes` SADD being gathered in this turn ({@link listNode}). */
  private listing: { ids: Set<string>; sent: Promise<unknown> } | undefined;

  constructor(options: RedisMembershipOptions = {}) {
    this.keys = new RedisKeys(options.keyPrefix ?? 'rf');
    this.raidTtlMs = options.raidResultTtlMs ?? 3_600_000;
    this.chunk = Math.max(1, options.reassertChunk ?? 500);
    this.ownsConnection = options.redis === undefined;
    const timeout = (this.timeoutMs = options.commandTimeoutMs ?? 2000);
    const target: RedisTarget | undefined = options.redis
      ? undefined
      : options.cluster
        ? {
            kind: 'cluster',
            seeds: options.cluster.nodes.map(startupNode),
            tls: options.cluster.tls ?? false,
            ...(options.cluster.username !== undefined && { username: options.cluster.username }),
            ...(options.cluster.password !== undefined && { password: options.cluster.password }),
          }
        : parseRedisTarget(options.url ?? 'redis://127.0.0.1:6379');
    this.startup = target?.kind === 'cluster' ? target.seeds : [];
    this.redis =
      options.redis ??
      (target?.kind === 'cluster'
        ? new Cluster(target.seeds, clusterOptions(timeout, target))
        : new Redis(target!.url, connectionOptions(timeout)));
    if (this.ownsConnection) this.redis.on('error', options.onError ?? (() => undefined));
    // Named by the message of calls that fail while Redis cannot be reached.
    this.redis.on('error', (err: Error) => (this.connectionError = err));
    this.redis.on('ready', () => (this.connectionError = undefined));
    defineScripts(this.redis);
    this.batch = new Batcher({
      sendRoom: (anchor, argv) => this.script('room', [anchor], argv),
      sendNode: (anchor, argv) => this.script('node', [anchor], argv, true),
      ...(options.batchFlush && { flush: options.batchFlush }),
    });
    this.raidContext = {
      keys: this.keys,
      batch: this.batch,
      script: (name, keys, args, buffers) => this.script(name, keys, args, buffers),
      hkeys: (key) => this.cmd((r) => r.hkeys(key)),
      reporting: () => this.presenceListeners.size > 0,
      report: (changes) => this.report(changes),
      raidTtlMs: this.raidTtlMs,
      raidingAfterMs: 4 * this.timeoutMs,
    };
  }

  /** Script calls the batcher sent so far (tests and benchmarks). @internal */
  get batchedCalls(): number {
    return this.batch.calls;
  }

  addSocket(member: MemberInfo): Promise<void> {
    return this.call('addSocket', () =>
      this.serial(member.socketId, 'add', async () => {
        const { socketId, nodeId, data } = member;
        checkNodeId(nodeId);
        const user = member.user || undefined;
        const node = this.keys.node(nodeId);
        const [registered, previous] = await Promise.all([
          this.batch.node(node, ['A', socketId, packData(data), user ?? '']),
          this.cmd((r) => r.set(this.keys.pointer(socketId), nodeId, 'GET')),
          this.listNode(nodeId),
        ]);
        const [, , oldData, rooms] = registered as [number, Buffer, Buffer, Buffer[]];
        const value = memberValue(nodeId, user);
        const changes = new Changes();
        try {
          // Same node, another user: the rooms it is in move its presence.
          await this.revalue(texts(rooms), socketId, value, unpackData(oldData), data, changes);
          if (previous !== null && previous !== nodeId) {
            await this.migrate(socketId, previous, node, value, data, changes);
          }
        } finally {
          this.report(changes);
        }
        this.own.set(socketId, { nodeId, data });
      }),
    );
  }

  /** Sets a socket's member value in `rooms` where it is a member (its presence follows). */
  private revalue(
    rooms: readonly string[],
    socketId: string,
    value: string,
    oldData: unknown,
    data: unknown,
    changes: Changes,
  ): Promise<void> {
    const user = parseValue(value).user;
    return settle(
      rooms.map((room) =>
        this.batch.room(this.keys.room(room), 'R', [socketId, value]).then(([code, left]) => {
          const was = Number(code) & RoomCode.USER_LEFT ? oldData : data;
          changes.note(room, code, socketId, user, left, was);
        }),
      ),
    );
  }

  /**
   * A socket registered on `node` that was on `from` before: its rooms join the new node's
   * reverse set first, then the room entries name the new node, then the old node forgets
   * it (once its reverse set names no room that was not moved).
   */
  private async migrate(
    socketId: string,
    from: string,
    node: NodeKeys,
    value: string,
    data: unknown,
    changes: Changes,
  ): Promise<void> {
    const old = this.keys.node(from);
    const [, , oldData, rawRooms] = (await this.batch.node(old, ['G', socketId])) as [
      number,
      Buffer,
      Buffer,
      Buffer[],
    ];
    const moved: string[] = [];
    let rooms = texts(rawRooms);
    for (let round = 0; round < 5; round++) {
      if (rooms.length > 0) {
        await this.batch.node(node, ['J', socketId, rooms.length, ...rooms], 1 + rooms.length);
        await this.revalue(rooms, socketId, value, unpackData(oldData), data, changes);
        moved.push(...rooms);
      }
      const [deleted, left, extra] = (await this.batch.node(
        old,
        ['D', socketId, moved.length, ...moved],
        1 + moved.length,
      )) as [number, number, Buffer[]];
      rooms = texts(extra);
      if (deleted === 1 || rooms.length === 0) {
        if (left === 0) await this.forgetIfEmpty(from);
        return;
      }
    }
  }

  removeSocket(socketId: string): Promise<string[]> {
    return this.call('removeSocket', () =>
      this.serial(socketId, 'remove', async () => {
        const nodeId = await this.nodeOf(socketId);
        if (nodeId === null) {
          this.own.delete(socketId);
          return [];
        }
        const node = this.keys.node(nodeId);
        const [exists, , rawData, rawRooms] = (await this.batch.node(node, ['G', socketId])) as [
          number,
          Buffer,
          Buffer,
          Buffer[],
        ];
        const leaving = {
          socketId,
          data: unpackData(rawData),
          rooms: exists === 1 ? texts(rawRooms) : [],
        };
        const changes = new Changes();
        let gone: Awaited<ReturnType<RedisMembership['removeFully']>>;
        try {
          gone = await this.removeFully(node, leaving, changes);
        } finally {
          this.report(changes);
        }
        await this.script('pointerDrop', [this.keys.pointer(socketId)], [nodeId]);
        if (gone.left === 0) await this.forgetIfEmpty(nodeId);
        this.own.delete(socketId);
        return gone.rooms;
      }),
    );
  }

  /**
   * Takes a socket of `node` out of its rooms (entries that name this node only), then
   * deletes it from the node's slot. The delete goes through only when the socket's reverse
   * set names no other room: one added meanwhile (by a raid) is taken out first and the
   * delete retried, so no room is left listing a deleted socket.
   */
  private async removeFully(
    node: NodeKeys,
    s: Leaving,
    changes: Changes,
  ): Promise<{ deleted: boolean; left: number; rooms: string[] }> {
    const done: string[] = [];
    let todo = s.rooms;
    for (let round = 0; ; round++) {
      await settle(
        todo.map((room) =>
          this.batch
            .room(this.keys.room(room), 'L', [s.socketId, node.node])
            .then(([code, left]) => changes.note(room, code, s.socketId, undefined, left, s.data)),
        ),
      );
      done.push(...todo);
      const [deleted, left, extra] = (await this.batch.node(
        node,
        ['D', s.socketId, done.length, ...done],
        1 + done.length,
      )) as [number, number, Buffer[]];
      todo = texts(extra);
      if (deleted === 1 || todo.length === 0 || round === 4) {
        return { deleted: deleted === 1, left, rooms: done };
      }
    }
  }

  join(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.call('join', () =>
      this.serial(socketId, 'join', async () => {
        const list = distinct(rooms);
        const own = this.own.get(socketId);
        const nodeId = own?.nodeId ?? (await this.pointer(socketId));
        if (nodeId === null) throw unknownSocket(socketId);
        const node = this.keys.node(nodeId);
        // First the node's reverse set (so it covers every room that will list the socket).
        const want = this.presenceListeners.size > 0 && own === undefined;
        const [known, rawUser, rawData] = (await this.batch.node(
          node,
          ['J', socketId, list.length, ...list],
          1 + list.length,
          want,
        )) as [number, Buffer?, Buffer?];
        if (known !== 1) throw unknownSocket(socketId);
        const user = text(rawUser) || undefined;
        const data = own ? own.data : unpackData(rawData);
        const value = memberValue(nodeId, user);
        const changes = new Changes();
        try {
          const codes: number[] = [];
          if (list.length === 1) {
            // The common case, without the bookkeeping of many rooms.
            const room = list[0]!;
            const [code, left] = await this.batch.room(this.keys.room(room), 'J', [
              socketId,
              value,
            ]);
            codes[0] = Number(code);
            changes.note(room, code, socketId, user, left, data);
          } else {
            await settle(
              list.map((room, i) =>
                this.batch
                  .room(this.keys.room(room), 'J', [socketId, value])
                  .then(([code, left]) => {
                    codes[i] = Number(code);
                    changes.note(room, code, socketId, user, left, data);
                  }),
              ),
            );
          }
          // Added while a raid from the room runs: that raid may have taken the room out of
          // the reverse set between the two writes above, so write it once more.
          const again = list.filter((_, i) => (codes[i]! & RoomCode.RAIDING) !== 0);
          if (again.length > 0) {
            await this.batch.node(node, ['J', socketId, again.length, ...again], 1 + again.length);
          }
          return list.filter((_, i) => (codes[i]! & RoomCode.ADDED) !== 0);
        } finally {
          this.report(changes);
        }
      }),
    );
  }

  leave(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.call('leave', () =>
      this.serial(socketId, 'leave', async () => {
        const list = distinct(rooms);
        const own = this.own.get(socketId);
        const nodeId = own?.nodeId ?? (await this.pointer(socketId));
        if (nodeId === null || list.length === 0) return [];
        const node = this.keys.node(nodeId);
        let data = own?.data;
        if (!own && this.presenceListeners.size > 0) {
          const [, , d] = (await this.batch.node(node, ['I', 1, socketId], 2)) as unknown[];
          data = unpackData(d);
        }
        // First the rooms, then the reverse set.
        const left = new Set<string>();
        const changes = new Changes();
        try {
          await settle(
            list.map((room) =>
              this.batch.room(this.keys.room(room), 'L', [socketId, '']).then(([code, user]) => {
                if (Number(code) & RoomCode.REMOVED) left.add(room);
                changes.note(room, code, socketId, undefined, user, data);
              }),
            ),
          );
        } finally {
          this.report(changes);
        }
        await this.batch.node(node, ['S', socketId, list.length, ...list], 1 + list.length);
        return list.filter((room) => left.has(room));
      }),
    );
  }

  members(room: string): Promise<MemberInfo[]> {
    return this.call('members', () => this.readMembers(room, false));
  }

  presence(room: string): Promise<PresenceMember[]> {
    return this.call('presence', async () => {
      const members = await this.readMembers(room, true);
      return members.map((m) => ({
        socketId: m.socketId,
        nodeId: m.nodeId,
        user: m.user ?? '',
        data: m.data,
      }));
    });
  }

  /**
   * The room's hash (one read), then each member's data from its node's slot, one script
   * call per node. A member whose info is gone (or names another node) by then is left out.
   */
  private async readMembers(room: string, usersOnly: boolean): Promise<MemberInfo[]> {
    const entries = await this.cmd((r) => r.hgetall(this.keys.room(room).members));
    const byNode = new Map<string, { socketId: string; user: string | undefined }[]>();
    for (const [socketId, value] of Object.entries(entries)) {
      const { nodeId, user } = parseValue(value);
      if (usersOnly && !user) continue;
      let list = byNode.get(nodeId);
      if (!list) byNode.set(nodeId, (list = []));
      list.push({ socketId, user });
    }
    const out: MemberInfo[] = [];
    const reads: Promise<void>[] = [];
    for (const [nodeId, list] of byNode) {
      const node = this.keys.node(nodeId);
      for (let i = 0; i < list.length; i += IDS_PER_OP) {
        const part = list.slice(i, i + IDS_PER_OP);
        const ids = part.map((m) => m.socketId);
        reads.push(
          this.batch.node(node, ['I', ids.length, ...ids], 1 + ids.length).then((reply) => {
            const flat = reply as unknown[];
            part.forEach((m, j) => {
              if (flat[3 * j] === null || text(flat[3 * j]) !== nodeId) return;
              out.push(memberInfo(m.socketId, nodeId, m.user, unpackData(flat[3 * j + 2])));
            });
          }),
        );
      }
    }
    await settle(reads);
    return out;
  }

  presenceStats(room: string): Promise<PresenceStats> {
    return this.call('presenceStats', async () => {
      const [sockets, users] = await this.batch.room(this.keys.room(room), 'C');
      return { sockets: Number(sockets ?? 0), users: Number(users ?? 0) };
    });
  }

  count(room: string): Promise<number> {
    return this.call('count', () => this.cmd((r) => r.hlen(this.keys.room(room).members)));
  }

  roomsOf(socketId: string): Promise<string[]> {
    return this.call('roomsOf', async () => {
      const nodeId = await this.pointer(socketId);
      if (nodeId === null) return [];
      return this.cmd((r) => r.smembers(this.keys.node(nodeId).rooms(socketId)));
    });
  }

  socket(socketId: string): Promise<MemberInfo | undefined> {
    return this.call('socket', async () => {
      const nodeId = await this.pointer(socketId);
      if (nodeId === null) return undefined;
      const [node, user, data] = (await this.batch.node(
        this.keys.node(nodeId),
        ['I', 1, socketId],
        2,
      )) as unknown[];
      if (node === null || node === undefined) return undefined;
      return memberInfo(socketId, text(node), user ? text(user) : undefined, unpackData(data));
    });
  }

  socketsOf(nodeId: string): Promise<string[]> {
    return this.call('socketsOf', () =>
      this.cmd((r) => r.smembers(this.keys.node(nodeId).sockets)),
    );
  }

  /** Nodes with a live lease or with sockets in the index. */
  nodes(): Promise<string[]> {
    return this.call('nodes', () => this.nodeList());
  }

  private async nodeList(): Promise<string[]> {
    const [withSockets, live] = await Promise.all([
      this.cmd((r) => r.smembers(this.keys.nodes())),
      this.script('leases', [this.keys.leases()], ['live']) as Promise<string[]>,
    ]);
    return distinct([...withSockets, ...live]);
  }

  /**
   * Sockets in the index, and nodes as {@link nodes} counts them. One read per node (not one
   * snapshot: a socket that moves node meanwhile may count twice or not at all).
   */
  /**
   * Resolves once the index answers: one Redis answers a PING; a Redis Cluster must serve
   * every one of its 16,384 slots (`CLUSTER INFO` says `cluster_state:ok`), since the rooms
   * of a slot without a primary could be neither joined nor left. Rejects with
   * `RF_MEMBERSHIP_UNAVAILABLE` (temporary: a failover may be under way) saying which.
   */
  ready(): Promise<void> {
    return this.call('ready', async () => {
      const cluster = this.redis;
      if (cluster instanceof Cluster) {
        // Asked of a seed node directly: ioredis keeps a Cluster client whose cluster_state
        // is not ok from ever becoming ready, so through it this would say only "cannot reach".
        const seen = await this.clusterState(cluster);
        if (seen && seen.state !== 'ok') {
          throw new RoomfabricError(
            ErrorCode.MEMBERSHIP_UNAVAILABLE,
            `the Redis Cluster at ${redisAddress(cluster, this.startup)} does not serve every slot (cluster_state:${seen.state}, ${seen.slotsOk} of 16384 slots ok): a primary is down with no replica to take over; check with redis-cli --cluster check <host:port>`,
            { temporary: true, details: seen },
          );
        }
      }
      await this.cmd((r) => r.ping());
    });
  }

  /** `CLUSTER INFO` of the first seed node that answers, or undefined when none does. */
  private async clusterState(
    cluster: Cluster,
  ): Promise<{ state: string; slotsOk: string } | undefined> {
    const seeds =
      this.startup.length > 0
        ? this.startup
        : cluster.nodes('all').map((n) => ({
            host: n.options.host ?? '127.0.0.1',
            port: n.options.port ?? 6379,
          }));
    for (const seed of seeds) {
      const probe = new Redis({
        ...cluster.options.redisOptions,
        host: seed.host,
        port: seed.port,
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        connectTimeout: this.timeoutMs,
        commandTimeout: this.timeoutMs,
      });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        const info = String(await probe.cluster('INFO'));
        const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1] ?? '?';
        return { state: field('cluster_state'), slotsOk: field('cluster_slots_ok') };
      } catch {
        continue; // the next seed may answer
      } finally {
        probe.disconnect();
      }
    }
    return undefined;
  }

  totals(): Promise<{ sockets: number; nodes: number }> {
    return this.call('totals', async () => {
      const nodes = await this.nodeList();
      const counts = await Promise.all(
        nodes.map((n) => this.cmd((r) => r.scard(this.keys.node(n).sockets))),
      );
      return { sockets: counts.reduce((a, b) => a + b, 0), nodes: nodes.length };
    });
  }

  /**
   * The node's lease key (its slot), then its deadline in the leases ZSET, in that order, so
   * that a purge forgetting the node at the same time sees the lease or keeps the deadline.
   */
  renewLease(nodeId: string, ttlMs: number): Promise<boolean> {
    return this.call('renewLease', async () => {
      positiveInteger('ttlMs', ttlMs);
      const lane = this.lane();
      const node = this.keys.node(nodeId);
      const existed = await this.script(
        'nodeLease',
        [node.sockets],
        [node.base, 'renew', ttlMs],
        false,
        lane,
      );
      await this.script('leases', [this.keys.leases()], ['renew', nodeId, ttlMs], false, lane);
      return existed === 1;
    });
  }

  dropLease(nodeId: string): Promise<void> {
    return this.call('dropLease', async () => {
      const node = this.keys.node(nodeId);
      const left = await this.script('nodeLease', [node.sockets], [node.base, 'drop']);
      const keep = Number(left) > 0 ? '1' : '0';
      await this.script('leases', [this.keys.leases()], ['drop', nodeId, keep]);
    });
  }

  expiredNodes(): Promise<string[]> {
    return this.call('expiredNodes', async () => {
      return (await this.script('leases', [this.keys.leases()], ['expired'])) as string[];
    });
  }

  /**
   * Takes the node's purge lock (waiting while another purger holds it), reads up to `batch`
   * sockets with their rooms if the lease is not alive, takes them out of their rooms, then
   * deletes them from the node's slot; reports only the sockets it deleted itself.
   */
  purgeNode(nodeId: string, batch = 500): Promise<PurgedSocket[]> {
    return this.call('purgeNode', async () => {
      positiveInteger('batch', batch);
      const node = this.keys.node(nodeId);
      const token = await this.lock(node);
      try {
        for (let attempt = 0; attempt < 10; attempt++) {
          const reply = (await this.batch.node(node, ['P', batch], 1)) as unknown[];
          const count = Number(reply[0]);
          if (count < 0) return []; // the lease is alive
          if (count === 0) {
            await this.forgetNode(nodeId);
            return [];
          }
          const found: Leaving[] = [];
          for (let i = 1; i + 4 < reply.length + 1 && found.length < count; i += 5) {
            found.push({
              socketId: text(reply[i]),
              data: unpackData(reply[i + 3]),
              rooms: texts(reply[i + 4]),
            });
          }
          const purged = await this.dropSockets(node, found, true);
          if (purged.length > 0) return purged;
        }
        return [];
      } finally {
        await this.script('nodeLease', [node.sockets], [node.base, 'unlock', token]).catch(
          () => undefined, // it expires
        );
      }
    });
  }

  /** The purge lock of a node: SET NX PX, retried every 10 ms while another purger has it. */
  private async lock(node: NodeKeys): Promise<string> {
    const token = randomBytes(8).toString('hex');
    const ttl = 4 * this.timeoutMs;
    const deadline = Date.now() + ttl + this.timeoutMs;
    for (;;) {
      const taken = await this.script('nodeLease', [node.sockets], [node.base, 'lock', token, ttl]);
      if (taken === 1) return token;
      if (Date.now() > deadline) {
        throw new RoomfabricError(
          ErrorCode.MEMBERSHIP_UNAVAILABLE,
          `another purger has held node ${node.node} for ${ttl} ms`,
          { temporary: true },
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Removes sockets of a node ({@link removeFully}, all at once). Resolves with the ones
   * deleted by this call. When that empties the node, it leaves `rf:nodes`, and with
   * `purging` its lease deadline too.
   */
  private async dropSockets(
    node: NodeKeys,
    sockets: readonly Leaving[],
    purging = false,
  ): Promise<PurgedSocket[]> {
    const changes = new Changes();
    let results: Awaited<ReturnType<RedisMembership['removeFully']>>[];
    try {
      results = await Promise.all(sockets.map((s) => this.removeFully(node, s, changes)));
    } finally {
      this.report(changes);
    }
    const purged: PurgedSocket[] = [];
    const pointers: Promise<unknown>[] = [];
    sockets.forEach((s, i) => {
      if (!results[i]?.deleted) return;
      purged.push({ socketId: s.socketId, rooms: results[i].rooms });
      this.own.delete(s.socketId);
      pointers.push(this.script('pointerDrop', [this.keys.pointer(s.socketId)], [node.node]));
    });
    await Promise.all(pointers);
    if (results.length > 0 && Math.min(...results.map((r) => r.left)) === 0) {
      await (purging ? this.forgetNode(node.node) : this.forgetIfEmpty(node.node));
    }
    return purged;
  }

  /**
   * SADD `rf:nodes`: the registrations of one turn share one command (its own slot). Sent
   * with the node-slot writes, before the caller resolves, so a node with sockets is listed.
   */
  private listNode(nodeId: string): Promise<unknown> {
    let pending = this.listing;
    if (!pending) {
      const ids = new Set<string>();
      const sent = new Promise<unknown>((resolve, reject) =>
        queueMicrotask(() => {
          this.listing = undefined;
          this.cmd((r) => r.sadd(this.keys.nodes(), ...ids)).then(resolve, reject);
        }),
      );
      pending = this.listing = { ids, sent };
    }
    pending.ids.add(nodeId);
    return pending.sent;
  }

  /** Takes a node out of `rf:nodes`, then puts it back if a socket arrived meanwhile. */
  private async forgetIfEmpty(nodeId: string): Promise<void> {
    const node = this.keys.node(nodeId);
    await this.cmd((r) => r.srem(this.keys.nodes(), nodeId));
    const [left] = (await this.script('nodeLease', [node.sockets], [node.base, 'check'])) as [
      number,
      number,
    ];
    if (left > 0) await this.cmd((r) => r.sadd(this.keys.nodes(), nodeId));
  }

  /**
   * Forgets a purged node (no sockets, lease lapsed): out of the leases and `rf:nodes`; then,
   * if it renewed or got a socket meanwhile, back in with what its slot says.
   */
  private async forgetNode(nodeId: string): Promise<void> {
    const node = this.keys.node(nodeId);
    await Promise.all([
      this.script('leases', [this.keys.leases()], ['forget', nodeId]),
      this.cmd((r) => r.srem(this.keys.nodes(), nodeId)),
    ]);
    const [left, pttl] = (await this.script('nodeLease', [node.sockets], [node.base, 'check'])) as [
      number,
      number,
    ];
    if (left > 0) await this.cmd((r) => r.sadd(this.keys.nodes(), nodeId));
    if (pttl > 0) await this.script('leases', [this.keys.leases()], ['restore', nodeId, pttl]);
  }

  /**
   * Chunked: first removes the node's sockets missing from `sockets`, then writes the
   * listed ones `reassertChunk` at a time, each step in the invariant's order (the node's
   * reverse sets grow first, shrink last). Each socket's rooms become exactly the listed
   * ones; the whole snapshot is not one step, so the node must not change its own
   * membership meanwhile.
   */
  reassert(nodeId: string, sockets: readonly NodeSnapshotSocket[]): Promise<void> {
    return this.call('reassert', async () => {
      checkNodeId(nodeId);
      const node = this.keys.node(nodeId);
      const listed = new Set(sockets.map((s) => s.socketId));
      const current = await this.cmd((r) => r.smembers(node.sockets));
      const stale = current.filter((id) => !listed.has(id));
      for (let i = 0; i < stale.length; i += this.chunk) {
        const ids = stale.slice(i, i + this.chunk);
        const read = (await Promise.all(ids.map((id) => this.batch.node(node, ['G', id])))) as [
          number,
          Buffer,
          Buffer,
          Buffer[],
        ][];
        await this.dropSockets(
          node,
          ids.map((socketId, j) => ({
            socketId,
            data: unpackData(read[j]?.[2]),
            rooms: read[j]?.[0] === 1 ? texts(read[j]?.[3]) : [],
          })),
        );
      }
      for (let i = 0; i < sockets.length; i += this.chunk) {
        await this.upsert(node, sockets.slice(i, i + this.chunk));
      }
      if (sockets.length > 0) await this.cmd((r) => r.sadd(this.keys.nodes(), nodeId));
      else await this.forgetIfEmpty(nodeId);
    });
  }

  /** One re-assert chunk: node slot (info, reverse sets grown), rooms, then reverse sets shrunk. */
  private async upsert(node: NodeKeys, sockets: readonly NodeSnapshotSocket[]): Promise<void> {
    const nodeId = node.node;
    const written = await Promise.all(
      sockets.map((s) => {
        const rooms = distinct(s.rooms);
        const args = ['U', s.socketId, packData(s.data), s.user || '', rooms.length, ...rooms];
        return Promise.all([
          this.batch.node(node, args, 1 + rooms.length) as Promise<[number, Buffer, Buffer[]]>,
          this.cmd((r) => r.set(this.keys.pointer(s.socketId), nodeId, 'GET')),
        ]);
      }),
    );
    // A socket that was registered on another node: its rooms there count as its rooms.
    const elsewhere = new Map<number, string>();
    written.forEach(([, previous], i) => {
      if (previous !== null && previous !== nodeId) elsewhere.set(i, previous);
    });
    const oldRooms = new Map<number, string[]>();
    await Promise.all(
      [...elsewhere].map(async ([i, from]) => {
        const reply = (await this.batch.node(this.keys.node(from), [
          'G',
          sockets[i]!.socketId,
        ])) as [number, Buffer, Buffer, Buffer[]];
        oldRooms.set(i, texts(reply[3]));
      }),
    );
    const changes = new Changes();
    const shrink: { socketId: string; rooms: string[] }[] = [];
    try {
      const ops: Promise<void>[] = [];
      sockets.forEach((s, i) => {
        const user = s.user || undefined;
        const value = memberValue(nodeId, user);
        const wanted = new Set(s.rooms);
        const before = new Set([...texts(written[i]![0][2]), ...(oldRooms.get(i) ?? [])]);
        const gone = [...before].filter((r) => !wanted.has(r));
        if (gone.length > 0) shrink.push({ socketId: s.socketId, rooms: gone });
        for (const room of wanted) {
          ops.push(
            this.batch.room(this.keys.room(room), 'J', [s.socketId, value]).then(([code, left]) => {
              changes.note(room, code, s.socketId, user, left, s.data);
            }),
          );
        }
        for (const room of gone) {
          ops.push(
            this.batch.room(this.keys.room(room), 'L', [s.socketId, '']).then(([code, left]) => {
              changes.note(room, code, s.socketId, undefined, left, s.data);
            }),
          );
        }
        const own = this.own.get(s.socketId);
        if (own) this.own.set(s.socketId, { nodeId, data: s.data });
      });
      await settle(ops);
    } finally {
      this.report(changes);
    }
    await Promise.all(
      shrink.map((s) =>
        this.batch.node(node, ['S', s.socketId, s.rooms.length, ...s.rooms], 1 + s.rooms.length),
      ),
    );
    // Last, the old node forgets the sockets that came from it (entries naming it only).
    const moved = new Changes();
    try {
      await Promise.all(
        [...elsewhere].map(async ([i, from]) => {
          const s = sockets[i]!;
          const leaving = { socketId: s.socketId, data: s.data, rooms: oldRooms.get(i) ?? [] };
          const { left } = await this.removeFully(this.keys.node(from), leaving, moved);
          if (left === 0) await this.forgetIfEmpty(from);
        }),
      );
    } finally {
      this.report(moved);
    }
  }

  /**
   * Rejects with `RF_INVALID_ARGUMENT` when `from` and `to` are the same room. Rooms of one
   * slot (a shared `{tag}`) move in one script; others in the steps of the cross-slot
   * protocol (docs/redis-keys.md, "Raids"). A retry with the same id resumes a raid that
   * stopped half way and returns the result of one that completed.
   */
  raid(raidId: string, from: string, to: string): Promise<RaidResult> {
    return this.call('raid', async () => {
      distinctRooms(from, to);
      return runRaid(this.raidContext, raidId, this.keys.room(from), this.keys.room(to));
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
    if (this.closed) return;
    this.closed = true;
    this.own.clear();
    // The lease lane is always this instance's own (a duplicate of a given connection).
    const lane = this.leaseLane;
    if (lane?.status === 'ready') await lane.quit().catch(() => undefined);
    lane?.disconnect();
    if (!this.ownsConnection) return;
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }

  /** The lease lane, opened on first use with the main connection's options. */
  private lane(): Connection {
    if (!this.leaseLane) {
      const lane = this.redis.duplicate();
      lane.on('error', () => undefined); // failures reject the renewals they affect
      defineScripts(lane);
      this.leaseLane = lane;
    }
    return this.leaseLane;
  }

  /** The node a socket is registered on: this instance's own sockets from memory. */
  private async nodeOf(socketId: string): Promise<string | null> {
    return this.own.get(socketId)?.nodeId ?? this.pointer(socketId);
  }

  /** The socket's pointer: the node it is registered on, or null. */
  private pointer(socketId: string): Promise<string | null> {
    return this.cmd((r) => r.get(this.keys.pointer(socketId)));
  }

  /**
   * Runs `fn` after the operations already in flight for this socket, so one socket's
   * changes apply in the order they were asked for. Joins after joins (or leaves after
   * leaves) commute and run together, so they can share a batch.
   */
  private serial<T>(socketId: string, kind: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(socketId);
    let run: Promise<T>;
    let entry: Chain;
    if (prev === undefined) {
      run = fn();
      entry = { kind, gate: resolved, tail: run };
    } else if (prev.kind === kind && (kind === 'join' || kind === 'leave')) {
      run = prev.gate.then(fn);
      entry = { kind, gate: prev.gate, tail: Promise.allSettled([prev.tail, run]) };
    } else {
      const gate = prev.tail.then(noop, noop);
      run = gate.then(fn);
      entry = { kind, gate, tail: run };
    }
    this.chains.set(socketId, entry);
    const release = () => {
      if (this.chains.get(socketId) === entry) this.chains.delete(socketId);
    };
    entry.tail.then(release, release);
    return run;
  }

  /** Runs a script by name; KEYS[1] routes it to its slot. */
  private script(
    name: ScriptName,
    keys: string[],
    args: Arg[],
    buffers = false,
    connection: Connection = this.redis,
  ): Promise<unknown> {
    const commands = connection as unknown as Record<string, ScriptFn>;
    const fn = commands[`rfm_${name}${buffers ? 'Buffer' : ''}`];
    if (!fn) throw new Error(`script ${name} is not defined`);
    // ARGV as one array (ioredis flattens it): a raid's step carries 100,000 arguments, too
    // many to spread into a call.
    return this.cmd(() => fn.call(connection, ...keys, args), connection);
  }

  /**
   * Sends one command. A `Cluster` keeps a command in its offline queue for as long as no
   * node answers (measured: a call made with every node down never settled), so on a cluster
   * each command also fails after `commandTimeoutMs`, like a `Redis` connection's do.
   */
  private cmd<T>(
    send: (r: Connection) => Promise<T>,
    connection: Connection = this.redis,
  ): Promise<T> {
    const sent = send(connection);
    if (!(connection instanceof Cluster)) return sent;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer from the cluster in ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      sent.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err as Error);
        },
      );
    });
  }

  /**
   * What to say when a call failed because Redis cannot be reached (the connection is not
   * ready): where it should be, why it is not, and what to check. Undefined while connected.
   */
  private unreachable(): string | undefined {
    if (this.redis.status === 'ready') return undefined;
    const why = this.connectionError?.message ?? `connection ${this.redis.status}`;
    return `cannot reach Redis at ${redisAddress(this.redis, this.startup)} (${why}): is redis-server running? is the port right?`;
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

function defineScripts(connection: Connection): void {
  for (const [name, s] of Object.entries(scripts)) connection.defineCommand(`rfm_${name}`, s);
}

/**
 * Where a connection goes, without credentials: `redis://host:port/db`, or a cluster's
 * nodes (those it knows, else the ones it was started from).
 */
function redisAddress(
  redis: Connection,
  startup: readonly { host: string; port: number }[],
): string {
  if (redis instanceof Cluster) {
    const known = redis
      .nodes('all')
      .map((n) => `${n.options.host ?? '?'}:${n.options.port ?? '?'}`);
    const nodes = known.length > 0 ? known : startup.map((n) => `${n.host}:${n.port}`);
    return nodes.length > 0 ? `cluster ${nodes.join(',')}` : 'a Redis Cluster';
  }
  const { host, port, db, path, tls } = redis.options;
  if (path) return path;
  return `${tls ? 'rediss' : 'redis'}://${host ?? '127.0.0.1'}:${port ?? 6379}${db ? `/${db}` : ''}`;
}
