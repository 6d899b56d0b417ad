/**
 * {@link startRedisCluster}: its options and the start itself (nodes on free ports, then
 * `redis-cli --cluster create`, then the health wait); the handle and node types it
 * returns are re-exported from `redis-cluster-types.ts`.
 */
import { makeTempDir, removeTempDir } from './child-registry.js';
import { findBinary } from './find-binary.js';
import { freePorts, retryOnAddressInUse } from './free-port.js';
import { RedisCluster } from './redis-cluster-handle.js';
import { ClusterNode, runRedisCli, type ClusterConfig } from './redis-cluster-node.js';
import type { RedisClusterHandle } from './redis-cluster-types.js';
import { DEFAULT_READY_TIMEOUT_MS } from './service-handle.js';

export {
  REDIS_CLUSTER_SLOTS,
  type RedisClusterHandle,
  type RedisClusterNode,
  type RedisClusterRole,
  type RedisClusterSlotRange,
  type RedisClusterWaitOptions,
} from './redis-cluster-types.js';

/** Options of {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** Primaries, at least 3 (`redis-cli --cluster create` needs 3); default 3. */
  primaries?: number;
  /** Replicas per primary; default 0. */
  replicas?: number;
  /** `cluster-node-timeout`: how soon a silent node counts as failing; default 1000 ms. */
  nodeTimeoutMs?: number;
  /** Extra redis-server arguments for every node. */
  args?: string[];
  /** Bound on the whole start (nodes, `--cluster create`, health); default 15 s. */
  timeoutMs?: number;
}

/**
 * Starts a real Redis cluster of `primaries * (1 + replicas)` redis-server processes on
 * free 127.0.0.1 ports (client and bus port each), persistence off, every node's cluster
 * config in one temp dir; joins them with `redis-cli --cluster create` and resolves once
 * every node says `cluster_state:ok` and serves all 16384 slots (see
 * {@link RedisClusterHandle.waitHealthy}). Processes only: needs `redis-server` and
 * `redis-cli` on PATH. A short `cluster-node-timeout` and `cluster-replica-validity-factor 0`
 * make a replica take over a killed primary within a few seconds. If any step fails, every
 * node is killed and the temp dir removed before the error is rethrown.
 *
 * @example
 * await using cluster = await startRedisCluster({ replicas: 1 });
 * const primary = await cluster.primaryForKey('room:1');
 * await primary.kill();
 * const { primary: promoted } = await cluster.waitForFailover(primary);
 */
export async function startRedisCluster(
  options: StartRedisClusterOptions = {},
): Promise<RedisClusterHandle> {
  const { primaries = 3, replicas = 0, nodeTimeoutMs = 1000, args = [] } = options;
  if (!Number.isInteger(primaries) || primaries < 3) {
    throw new Error(`startRedisCluster: primaries must be an integer >= 3, not ${primaries}`);
  }
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw new Error(`startRedisCluster: replicas must be an integer >= 0, not ${replicas}`);
  }
  const server = findBinary('redis-server');
  const cli = findBinary('redis-cli');
  if (server === undefined || cli === undefined) {
    const missing = [server ? [] : ['redis-server'], cli ? [] : ['redis-cli']].flat();
    throw new Error(
      `startRedisCluster: ${missing.join(' and ')} not found on PATH (the cluster runs as processes): install redis-server (apt-get install redis-server, or https://redis.io/docs)`,
    );
  }
  const config = {
    server,
    cli,
    count: primaries * (1 + replicas),
    replicas,
    nodeTimeoutMs,
    args,
    timeoutMs: options.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
  };
  return retryOnAddressInUse(() => startOnce(config));
}

/** One attempt on fresh ports; kills everything and removes the temp dir when it fails. */
async function startOnce(config: ClusterConfig): Promise<RedisClusterHandle> {
  const deadline = Date.now() + config.timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  const dir = await makeTempDir('redis-cluster');
  let cluster: RedisCluster | undefined;
  try {
    const ports = await freePorts(config.count * 2);
    const nodes = Array.from(
      { length: config.count },
      (_, i) =>
        new ClusterNode({
          ...config,
          name: `redis-${i + 1}`,
          dir,
          port: ports[i * 2] as number,
          busPort: ports[i * 2 + 1] as number,
        }),
    );
    const started = new RedisCluster(nodes, dir);
    cluster = started;
    const results = await Promise.allSettled(nodes.map((node) => node.start()));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const create = ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`)];
    create.push('--cluster-replicas', String(config.replicas), '--cluster-yes');
    await runRedisCli(config.cli, create, left()).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}${started.logTails()}`);
    });
    await started.waitHealthy({ timeoutMs: left() }, true);
    return started;
  } catch (err) {
    if (cluster) await cluster.stop();
    else await removeTempDir(dir);
    throw err;
  }
}
