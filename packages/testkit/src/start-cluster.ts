import { disposeAll } from './dispose-all.js';
import { type NatsHandle } from './nats-server.js';
import { type EdgeHandle, startEdge } from './start-edge.js';
import { startMembership } from './start-membership.js';
import { type NatsClusterHandle, startNatsCluster } from './start-nats-cluster.js';
import { startNats } from './start-nats.js';
import { type RedisHandle, startRedis } from './start-redis.js';
import { type ServiceHandle } from './service-handle.js';

/** A whole fabric started by {@link startCluster}. */
export interface ClusterHandle {
  /** One NATS server, or a 3-server cluster when `natsCluster` was set. */
  readonly nats: NatsHandle | NatsClusterHandle;
  /** Every NATS client URL (what the edges and membership were given). */
  readonly natsUrls: string[];
  readonly redis: RedisHandle;
  readonly membership: ServiceHandle;
  /** Edges with node ids `n1`, `n2`, ... */
  readonly edges: EdgeHandle[];
  /** Disposes everything in reverse start order: edges, membership, Redis, NATS. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@link startCluster}. */
export interface StartClusterOptions {
  /** Number of edges; default 3. */
  edges?: number;
  /** Run a 3-server NATS cluster instead of one server. */
  natsCluster?: boolean;
  /** Enable JetStream (for history and channels) on the NATS server, or every cluster member. */
  jetstream?: boolean;
  /** Extra arguments for every edge. */
  edgeArgs?: string[];
  /** Extra arguments for the membership service. */
  membershipArgs?: string[];
}

/**
 * Starts NATS (one server or a 3-server cluster) and Redis, then the membership service,
 * then the edges (`n1`..`nN`), each waited for; if any step fails, everything already
 * started is disposed before the error is rethrown.
 *
 * @example
 * await using fabric = await startCluster({ edges: 2 });
 * await fabric.edges[0].kill(); // a crashed node
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<ClusterHandle> {
  const { edges: edgeCount = 3, natsCluster = false } = options;
  const started: AsyncDisposable[] = [];
  const track = <T extends AsyncDisposable>(item: T): T => {
    started.push(item);
    return item;
  };
  const cleanUp = () => disposeAll([...started].reverse());
  try {
    // Both start at once; wait for both so that neither is left running unseen.
    const natsStart: Promise<NatsHandle | NatsClusterHandle> = natsCluster
      ? startNatsCluster(3, { jetstream: options.jetstream ?? false })
      : startNats({ jetstream: options.jetstream ?? false });
    const [natsResult, redisResult] = await Promise.allSettled([
      natsStart.then(track),
      startRedis().then(track),
    ]);
    if (natsResult.status === 'rejected') throw natsResult.reason;
    if (redisResult.status === 'rejected') throw redisResult.reason;
    const nats = natsResult.value;
    const redis = redisResult.value;
    const natsUrls = 'servers' in nats ? nats.urls : [nats.url];
    const membership = track(
      await startMembership({
        nats: natsUrls,
        redis: redis.url,
        ...(options.membershipArgs && { args: options.membershipArgs }),
      }),
    );
    const results = await Promise.allSettled(
      Array.from({ length: edgeCount }, (_, i) =>
        startEdge({
          nats: natsUrls,
          redis: redis.url,
          nodeId: `n${i + 1}`,
          ...(options.edgeArgs && { args: options.edgeArgs }),
        }).then(track),
      ),
    );
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const edges = results.map((result) => (result as PromiseFulfilledResult<EdgeHandle>).value);
    return { nats, natsUrls, redis, membership, edges, [Symbol.asyncDispose]: cleanUp };
  } catch (err) {
    await cleanUp().catch(() => {});
    throw err;
  }
}
