/**
 * The public types of {@link startRedisCluster}'s cluster: the handle, its nodes, their
 * slot ranges and the wait options (the implementations are in `redis-cluster-node.ts` and
 * `redis-cluster-handle.ts`).
 */
import type { RespValue } from './resp.js';
import type { ServiceHandle } from './service-handle.js';

/** Number of hash slots of a Redis cluster. */
export const REDIS_CLUSTER_SLOTS = 16384;

/** What a cluster node is right now, as its `ROLE` says. */
export type RedisClusterRole = 'primary' | 'replica';

/** One redis-server of a cluster started by {@link startRedisCluster}. */
export interface RedisClusterNode extends ServiceHandle {
  /** e.g. `redis://127.0.0.1:7001`. */
  readonly url: string;
  /** Client port (kept across restarts). */
  readonly port: number;
  /** Cluster bus port (kept across restarts). */
  readonly busPort: number;
  /** Cluster node id (40 hex digits); the same after `restart()`, which reuses the node's config file. */
  readonly id: string;
  /** `primary` or `replica`, asked with `ROLE`; rejects when the node does not answer. */
  role(): Promise<RedisClusterRole>;
  /** One command to this node only (no `MOVED` redirects); rejects on an error reply. */
  command(...args: (string | number)[]): Promise<RespValue>;
  /**
   * `redis-cli -c -h 127.0.0.1 -p <port> ...args`: a cluster client that follows `MOVED`.
   * Resolves with its stdout without the final newline; redis-cli prints an error reply
   * (`ERR ...`) there too and still exits 0. Killed, and rejects, after 5 s.
   */
  cli(...args: (string | number)[]): Promise<string>;
}

/** A range of slots and the nodes that serve it, from `CLUSTER NODES`. */
export interface RedisClusterSlotRange {
  start: number;
  end: number;
  primary: RedisClusterNode;
  /** Replicas that are not marked failed. */
  replicas: RedisClusterNode[];
}

/** Options of {@link RedisClusterHandle.waitHealthy} and {@link RedisClusterHandle.waitForFailover}. */
export interface RedisClusterWaitOptions {
  /** Default 15 s. */
  timeoutMs?: number;
}

/** A Redis cluster started by {@link startRedisCluster}. */
export interface RedisClusterHandle {
  /**
   * Every node, named `redis-1` .. `redis-N`; the first `primaries` were made primaries by
   * `redis-cli --cluster create`, the rest their replicas (roles change on failover).
   */
  readonly nodes: RedisClusterNode[];
  /** URLs of every node, in order. */
  readonly urls: string[];
  /** The temp dir with every node's `nodes-<port>.conf`; removed by `stop()`. */
  readonly dir: string;
  /** Slot ranges and their nodes, as the first running node that answers sees them. */
  slots(): Promise<RedisClusterSlotRange[]>;
  /** `CLUSTER KEYSLOT key`. */
  keySlot(key: string): Promise<number>;
  /** The primary serving `slot` (see {@link RedisClusterHandle.slots}). */
  primaryForSlot(slot: number): Promise<RedisClusterNode>;
  /** The primary serving the slot of `key`. */
  primaryForKey(key: string): Promise<RedisClusterNode>;
  /** The nodes that serve slots, in slot order. */
  primaries(): Promise<RedisClusterNode[]>;
  /**
   * Waits until every running node says `cluster_state:ok` and `cluster_slots_ok:16384`,
   * all of them agree on which (running) primary serves each slot, none sees another
   * running node as failing or unknown, and every running replica's link to its primary is
   * up. Resolves with the ms it took; the error names what is missing and quotes the tail
   * of every node's log. After a primary was killed this is the wait for its failover;
   * after a `restart()`, the wait for the node to rejoin.
   */
  waitHealthy(options?: RedisClusterWaitOptions): Promise<number>;
  /**
   * After `killed` (a primary) was killed: waits until the cluster is healthy again with
   * another node serving the slots `killed` served at the last healthy check (the start or
   * a `waitHealthy()`), and resolves with that node and the ms the wait took.
   */
  waitForFailover(
    killed: RedisClusterNode,
    options?: RedisClusterWaitOptions,
  ): Promise<{ primary: RedisClusterNode; ms: number }>;
  /** The tail of every node's captured output, labelled, for failed-test reports. */
  output(): string;
  /** SIGKILLs every node (nothing is worth saving) and removes the temp dir. */
  stop(): Promise<void>;
  /** Same as {@link RedisClusterHandle.stop}. */
  [Symbol.asyncDispose](): Promise<void>;
}
