/**
 * The Redis connection of `RedisMembership` (`redis-membership.ts`): opening one Redis or a
 * Redis Cluster (or taking a given connection) with the options under which every call fails
 * in bounded time instead of hanging, the scripts of `redis-scripts.ts` defined on it, the
 * lease lane (a second connection for lease renewals), sending commands and scripts (on a
 * cluster, with a timeout of their own), the `ready()` check (a cluster must serve every
 * slot), closing, and mapping a failed call to `RF_MEMBERSHIP_UNAVAILABLE` with a message
 * that says where Redis should be and why it cannot be reached.
 */
import { ErrorCode, RoomfabricError, isRoomfabricError } from '@roomfabric/protocol';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { callAsync } from './ordered-ops.js';
import type { Arg } from './redis-batch.js';
import { type ScriptName, scripts } from './redis-scripts.js';
import type { RedisSeed, RedisTarget } from './redis-target.js';

export type Connection = Redis | Cluster;
type ScriptFn = (...args: (Arg | Arg[])[]) => Promise<unknown>;

/** What to connect to: a connection its owner keeps open, or a target to open one to. */
export type ConnectionSource =
  { redis: Connection } | { target: RedisTarget; onError: (err: Error) => void };

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
export function startupNode(address: string): RedisSeed {
  const url = new URL(address.includes('://') ? address : `redis://${address}`);
  return { host: url.hostname || '127.0.0.1', port: Number(url.port || 6379) };
}

function defineScripts(connection: Connection): void {
  for (const [name, s] of Object.entries(scripts)) connection.defineCommand(`rfm_${name}`, s);
}

/**
 * Where a connection goes, without credentials: `redis://host:port/db`, or a cluster's
 * nodes (those it knows, else the ones it was started from).
 */
function redisAddress(redis: Connection, startup: readonly RedisSeed[]): string {
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

/** The connection of one `RedisMembership`, its lease lane, and how its calls fail. */
export class RedisConnection {
  private readonly redis: Connection;
  /**
   * A second connection, for lease renewals only: under a flood of joins the main
   * connection's queue can hold thousands of commands, and a renewal queued behind them
   * would time out, get the node reported unready and, past the TTL, purged while alive.
   * Created on the first lease call (only edges renew leases).
   */
  private leaseLane: Connection | undefined;
  private readonly ownsConnection: boolean;
  /** The startup nodes of an owned cluster (for error messages). */
  private readonly startup: RedisSeed[];
  /** The latest connection error since the connection was last ready. */
  private connectionError: Error | undefined;
  private isClosed = false;
  /** What {@link mayHaveLostWrites} saw last. */
  private lastEpoch: string | undefined;

  constructor(
    source: ConnectionSource,
    readonly timeoutMs: number,
  ) {
    if ('redis' in source) {
      this.redis = source.redis;
      this.ownsConnection = false;
      this.startup = [];
    } else {
      const { target } = source;
      this.redis =
        target.kind === 'cluster'
          ? new Cluster(target.seeds, clusterOptions(timeoutMs, target))
          : new Redis(target.url, connectionOptions(timeoutMs));
      this.ownsConnection = true;
      this.startup = target.kind === 'cluster' ? target.seeds : [];
      this.redis.on('error', source.onError);
    }
    // Named by the message of calls that fail while Redis cannot be reached.
    this.redis.on('error', (err: Error) => (this.connectionError = err));
    this.redis.on('ready', () => (this.connectionError = undefined));
    defineScripts(this.redis);
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** The lease lane, opened on first use with the main connection's options. */
  lane(): Connection {
    if (!this.leaseLane) {
      const lane = this.redis.duplicate();
      lane.on('error', () => undefined); // failures reject the renewals they affect
      defineScripts(lane);
      this.leaseLane = lane;
    }
    return this.leaseLane;
  }

  /** Runs a script by name; KEYS[1] routes it to its slot. */
  script(
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
  cmd<T>(send: (r: Connection) => Promise<T>, connection: Connection = this.redis): Promise<T> {
    if (!(connection instanceof Cluster)) return send(connection);
    // ioredis's auto-pipelining on a cluster does not follow MOVED (redis/ioredis#2075:
    // after the slots moved, its commands keep going to the old node, measured here for
    // as long as a cluster restarted with a new layout ran). A MOVED command did not run,
    // so it is sent once more after the slot map is read again.
    const sent = send(connection).catch(async (err: unknown) => {
      if (!(err instanceof Error) || !/^(MOVED|ASK) /.test(err.message)) throw err;
      await new Promise<void>((done) => connection.refreshSlotsCache(() => done()));
      return send(connection);
    });
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

  /** Rejects after close; maps every store failure to `RF_MEMBERSHIP_UNAVAILABLE`. */
  call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.isClosed) {
      return Promise.reject(
        new RoomfabricError(ErrorCode.MEMBERSHIP_UNAVAILABLE, 'the membership index is closed'),
      );
    }
    // Not an async function: every join goes through here, and each await is a promise more.
    return callAsync(fn).catch((err: unknown) => {
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

  /**
   * True when the store may have lost acknowledged writes since the previous call: on a
   * cluster a failover happened (`cluster_current_epoch` grew: a replica that may lack
   * the last writes of its primary took over), on one Redis the server restarted (its
   * `run_id` changed: it may have reloaded a snapshot older than the last writes). The
   * first call only records what it sees.
   */
  async mayHaveLostWrites(connection: Connection = this.redis): Promise<boolean> {
    const cluster = connection instanceof Cluster;
    const info = String(
      await this.cmd((r) => (cluster ? r.cluster('INFO') : r.info('server')), connection),
    );
    const seen = new RegExp(`^${cluster ? 'cluster_current_epoch' : 'run_id'}:(\\S+)`, 'm').exec(
      info,
    )?.[1];
    if (seen === undefined) return false;
    const before = this.lastEpoch;
    if (cluster) {
      // Nodes learn a new epoch by gossip: only a larger one than any seen counts.
      if (before !== undefined && Number(seen) <= Number(before)) return false;
    } else if (seen === before) return false;
    this.lastEpoch = seen;
    return before !== undefined;
  }

  /** `RedisMembership.ready`, without the error mapping of {@link call}. */
  async ready(): Promise<void> {
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

  /**
   * Makes every later {@link call} reject, then closes the lease lane, and the main
   * connection when this opened it (a given one stays open).
   */
  async close(): Promise<void> {
    this.isClosed = true;
    // The lease lane is always this instance's own (a duplicate of a given connection).
    const lane = this.leaseLane;
    if (lane?.status === 'ready') await lane.quit().catch(() => undefined);
    lane?.disconnect();
    if (!this.ownsConnection) return;
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }
}
