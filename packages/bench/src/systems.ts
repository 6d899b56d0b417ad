import { pathToFileURL, fileURLToPath } from 'node:url';
import {
  freePort,
  startEdge,
  startMembership,
  startNats,
  startRedis,
  startRedisCluster,
  type EdgeHandle,
  type NatsHandle,
  type RedisClusterHandle,
  type RedisHandle,
  type ServiceHandle,
} from '@roomfabric/testkit';
import { forkChild, type ChildHandle } from './child.js';

/*
 * Starting the systems under test, each node a process of its own: Roomfabric edges
 * (`roomfabric edge` through the testkit), Socket.IO nodes with the Redis adapter, and plain
 * `ws` servers. Every one of them can carry the probe (memory after GC, CPU profiles).
 */

/** NATS and Redis (and, for raids, the membership service) shared by a scenario's systems. */
export interface Infra {
  nats: NatsHandle;
  /** The one Redis: the peer's adapter and emitter, and our index unless `cluster` is set. */
  redis: RedisHandle;
  /**
   * A Redis Cluster for our index (`--redis-cluster N`); the peer keeps `redis` (its adapter
   * only publishes and subscribes).
   */
  cluster: RedisClusterHandle | undefined;
  /**
   * What our edges, membership service and publisher get as `--redis` / `redis`: the one
   * Redis URL, or `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,...` (every node a seed).
   */
  indexUrl: string;
  /** The redis-server processes of our index (the cluster's, or the one Redis), for CPU. */
  indexPids: Array<number | undefined>;
  membership: ServiceHandle | undefined;
  stop(): Promise<void>;
}

/** Options of {@link startInfra}. */
export interface InfraOptions {
  /** Start the membership service too. */
  withMembership?: boolean;
  /** Extra arguments for `roomfabric membership`. */
  membershipArgs?: string[];
  /** Our index on a Redis Cluster of this many primaries (no replicas); default one Redis. */
  redisCluster?: number;
}

/** `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,...` for every node of `cluster`. */
export function clusterSeeds(cluster: RedisClusterHandle): string {
  return `redis-cluster://${cluster.nodes.map((node) => `127.0.0.1:${node.port}`).join(',')}`;
}

/**
 * Starts the testkit's NATS and Redis on free ports, a Redis Cluster for our index if
 * asked, and then the membership service if asked (on the index). Whatever started is
 * stopped again when a later part fails.
 */
export async function startInfra(options: InfraOptions = {}): Promise<Infra> {
  const started = await Promise.allSettled([
    startNats(),
    startRedis(),
    options.redisCluster === undefined
      ? Promise.resolve(undefined)
      : startRedisCluster({ primaries: options.redisCluster }),
  ] as const);
  const [natsResult, redisResult, clusterResult] = started;
  const nats = natsResult.status === 'fulfilled' ? natsResult.value : undefined;
  const redis = redisResult.status === 'fulfilled' ? redisResult.value : undefined;
  const cluster = clusterResult.status === 'fulfilled' ? clusterResult.value : undefined;
  let membership: ServiceHandle | undefined;
  const stop = async () => {
    await membership?.stop();
    await Promise.allSettled([nats?.stop(), redis?.stop(), cluster?.stop()]);
    await Promise.allSettled([
      membership?.[Symbol.asyncDispose](),
      nats?.[Symbol.asyncDispose](),
      redis?.[Symbol.asyncDispose](),
    ]);
  };
  try {
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const indexUrl = cluster ? clusterSeeds(cluster) : redis!.url;
    if (options.withMembership) {
      membership = await startMembership({
        nats: nats!.url,
        redis: indexUrl,
        args: options.membershipArgs ?? [],
      });
    }
    return {
      nats: nats!,
      redis: redis!,
      cluster,
      indexUrl,
      indexPids: cluster ? cluster.nodes.map((node) => node.pid) : [redis!.pid],
      membership,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The nodes of one system. */
export interface NodeSet {
  /** Client URL of each node (without room parameters). */
  urls: string[];
  pids: Array<number | undefined>;
  /** Probe base URL of each node, when started with the probe. */
  probes: string[];
  /**
   * Per-node stats: `GET /stats` of an edge, the `stats` request of a peer; `{ killed: true }`
   * for a node killed with {@link NodeSet.kill}.
   */
  stats(): Promise<Array<Record<string, unknown>>>;
  /** Kills node `i` with SIGKILL (a crash: no drain, no goodbye); resolves once it is gone. */
  kill(i: number): Promise<void>;
  stop(): Promise<void>;
}

/** What {@link NodeSet.stats} says of a killed node. */
const KILLED: Record<string, unknown> = { killed: true };

/** Where the probe is, as a module URL. */
const PROBE = pathToFileURL(fileURLToPath(new URL('probe.js', import.meta.url))).href;

/** Options of the node starters. */
export interface NodeOptions {
  /** Load the probe (and --expose-gc). */
  probe?: boolean;
  /** Extra arguments for `roomfabric edge`. */
  args?: string[];
}

/**
 * Starts `n` edges (`roomfabric edge`, node ids e1..eN) on the infra's NATS and our index
 * (the one Redis, or the cluster's seeds), one after the other. The probe goes in through NODE_OPTIONS, since the testkit starts the CLI.
 */
export async function startEdges(
  infra: Infra,
  n: number,
  options: NodeOptions = {},
): Promise<NodeSet> {
  const edges: EdgeHandle[] = [];
  const probes: string[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const saved = { opts: process.env.NODE_OPTIONS, port: process.env.RF_BENCH_PROBE_PORT };
      if (options.probe) {
        const port = await freePort();
        process.env.NODE_OPTIONS = `${saved.opts ?? ''} --expose-gc --import=${PROBE}`.trim();
        process.env.RF_BENCH_PROBE_PORT = String(port);
        probes.push(`http://127.0.0.1:${port}`);
      }
      try {
        edges.push(
          await startEdge({
            nats: infra.nats.url,
            redis: infra.indexUrl,
            nodeId: `e${i + 1}`,
            args: [
              // --stats-public: the bus scenario reads busInByRoom from /stats.
              ...['--policy', 'open', '--insecure', '--heartbeat-ms', '3600000', '--stats-public'],
              ...(options.args ?? []),
            ],
          }),
        );
      } finally {
        restore('NODE_OPTIONS', saved.opts);
        restore('RF_BENCH_PROBE_PORT', saved.port);
      }
    }
  } catch (err) {
    await Promise.allSettled(edges.map((e) => e[Symbol.asyncDispose]()));
    throw err;
  }
  return {
    urls: edges.map((e) => e.url),
    pids: edges.map((e) => e.pid),
    probes,
    stats: () => Promise.all(edges.map((e) => (e.running ? e.stats() : KILLED))),
    kill: (i) => edges[i]!.kill('SIGKILL'),
    async stop() {
      await Promise.allSettled(edges.map((e) => e[Symbol.asyncDispose]()));
    },
  };
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

async function forkNodes(
  n: number,
  name: string,
  script: string,
  args: (i: number) => string[],
  options: NodeOptions,
  url: (port: number) => string,
): Promise<NodeSet> {
  const children: ChildHandle[] = [];
  const probes: string[] = [];
  const urls: string[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const env: NodeJS.ProcessEnv = {};
      const nodeArgs: string[] = [];
      if (options.probe) {
        const port = await freePort();
        env.RF_BENCH_PROBE_PORT = String(port);
        nodeArgs.push('--expose-gc', `--import=${PROBE}`);
        probes.push(`http://127.0.0.1:${port}`);
      }
      const child = forkChild(`${name}-${i + 1}`, script, { args: args(i), nodeArgs, env });
      children.push(child);
      const ready = await child.waitEvent('ready');
      urls.push(url(ready.port as number));
    }
  } catch (err) {
    await Promise.allSettled(children.map((c) => c.stop()));
    throw err;
  }
  return {
    urls,
    pids: children.map((c) => c.pid),
    probes,
    stats: () =>
      Promise.all(
        children.map((c) =>
          c.pid === undefined ? KILLED : c.call<Record<string, unknown>>('stats'),
        ),
      ),
    kill: (i) => children[i]!.kill(),
    async stop() {
      await Promise.allSettled(children.map((c) => c.stop()));
    },
  };
}

/** Starts `n` Socket.IO nodes with the Redis adapter on the infra's Redis. */
export function startSioNodes(
  infra: Infra,
  n: number,
  options: NodeOptions = {},
): Promise<NodeSet> {
  return forkNodes(
    n,
    'sio',
    'peers/sio-server.js',
    () => [infra.redis.url],
    options,
    (port) => `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`,
  );
}

/**
 * Starts `n` plain ws servers: `ceiling` ones each subscribed to `subjects[i]` on the infra's
 * NATS, or `idle` ones.
 */
export function startWsNodes(
  n: number,
  mode: 'ceiling' | 'idle',
  infra: Infra | undefined,
  subjects: string[] = [],
  options: NodeOptions = {},
): Promise<NodeSet> {
  return forkNodes(
    n,
    `ws-${mode}`,
    'peers/ws-server.js',
    (i) => (mode === 'ceiling' ? [mode, infra!.nats.url, subjects[i]!] : [mode]),
    options,
    (port) => `ws://127.0.0.1:${port}/`,
  );
}

/** Socket.IO client URL for a node URL and the rooms the server should join. */
export function sioUrl(nodeUrl: string, rooms: string[]): string {
  return rooms.length === 0 ? nodeUrl : `${nodeUrl}&rooms=${encodeURIComponent(rooms.join(','))}`;
}

/** GET a probe endpoint of a node, as JSON. */
export async function probe(base: string, path: string): Promise<Record<string, number>> {
  const res = await fetch(`${base}${path}`);
  if (!res.ok) throw new Error(`GET ${base}${path}: HTTP ${res.status}`);
  return (await res.json()) as Record<string, number>;
}

/**
 * Forks the publisher child (`publisher.js`) and connects it the way `kind` publishes:
 * our server API (`rf`, on our index: the one Redis or the cluster), the Socket.IO Redis
 * emitter (`sio`, on the one Redis) or the ws ceiling. The child is stopped again if it
 * cannot be set up.
 */
export async function startPublisher(
  kind: string,
  infra: Infra,
  dataBytes: number,
): Promise<ChildHandle> {
  const publisher = forkChild('publisher', 'publisher.js');
  try {
    await publisher.waitEvent('ready');
    await publisher.call('init', {
      kind,
      nats: [infra.nats.url],
      redis: kind === 'rf' ? infra.indexUrl : infra.redis.url,
      dataBytes,
    });
    return publisher;
  } catch (err) {
    await publisher.stop();
    throw err;
  }
}

/**
 * Starts NATS and Redis (a Redis Cluster for our index, and the membership service, when
 * asked), runs our system and then, unless `noPeer`, Socket.IO on them, and stops them
 * again whatever happens.
 */
export async function runOursAndPeer<F, C>(
  options: InfraOptions & { noPeer?: boolean },
  progress: { step(text: string): void; end(): void },
  checks: C[],
  runSystem: (system: 'ours' | 'peer', infra: Infra, checks: C[]) => Promise<F>,
): Promise<{ ours: F; peer: F | undefined }> {
  const parts = ['NATS', 'Redis'];
  if (options.redisCluster !== undefined) {
    parts.push(`a Redis Cluster of ${options.redisCluster} primaries (our index)`);
  }
  if (options.withMembership) parts.push('the membership service');
  const what = `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)!}`;
  progress.step(`starting ${what}`);
  const infra = await startInfra(options);
  try {
    const ours = await runSystem('ours', infra, checks);
    const peer = options.noPeer ? undefined : await runSystem('peer', infra, checks);
    return { ours, peer };
  } finally {
    progress.step(`stopping ${what}`);
    await infra.stop();
    progress.end();
  }
}
