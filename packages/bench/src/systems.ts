import { pathToFileURL, fileURLToPath } from 'node:url';
import {
  freePort,
  startEdge,
  startMembership,
  startNats,
  startRedis,
  type EdgeHandle,
  type NatsHandle,
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
  redis: RedisHandle;
  membership: ServiceHandle | undefined;
  stop(): Promise<void>;
}

/**
 * Starts the testkit's NATS and Redis on free ports, plus the membership service if asked
 * (with `membershipArgs` for `roomfabric membership`).
 */
export async function startInfra(
  withMembership = false,
  membershipArgs: string[] = [],
): Promise<Infra> {
  const [nats, redis] = await Promise.all([startNats(), startRedis()]);
  const membership = withMembership
    ? await startMembership({ nats: nats.url, redis: redis.url, args: membershipArgs })
    : undefined;
  return {
    nats,
    redis,
    membership,
    async stop() {
      await membership?.stop();
      await Promise.all([nats.stop(), redis.stop()]);
      await Promise.allSettled([
        membership?.[Symbol.asyncDispose](),
        nats[Symbol.asyncDispose](),
        redis[Symbol.asyncDispose](),
      ]);
    },
  };
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
 * Starts `n` edges (`roomfabric edge`, node ids e1..eN) on the infra's NATS and Redis, one
 * after the other. The probe goes in through NODE_OPTIONS, since the testkit starts the CLI.
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
            redis: infra.redis.url,
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
 * our server API (`rf`), the Socket.IO Redis emitter (`sio`) or the ws ceiling. The child
 * is stopped again if it cannot be set up.
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
      redis: infra.redis.url,
      dataBytes,
    });
    return publisher;
  } catch (err) {
    await publisher.stop();
    throw err;
  }
}

/**
 * Starts NATS and Redis (and the membership service when asked), runs our system and then,
 * unless `noPeer`, Socket.IO on them, and stops them again whatever happens.
 */
export async function runOursAndPeer<F, C>(
  options: { withMembership?: boolean; membershipArgs?: string[]; noPeer?: boolean },
  progress: { step(text: string): void; end(): void },
  checks: C[],
  runSystem: (system: 'ours' | 'peer', infra: Infra, checks: C[]) => Promise<F>,
): Promise<{ ours: F; peer: F | undefined }> {
  progress.step(
    options.withMembership
      ? 'starting NATS, Redis and the membership service'
      : 'starting NATS and Redis',
  );
  const infra = await startInfra(options.withMembership ?? false, options.membershipArgs);
  try {
    const ours = await runSystem('ours', infra, checks);
    const peer = options.noPeer ? undefined : await runSystem('peer', infra, checks);
    return { ours, peer };
  } finally {
    progress.step('stopping NATS and Redis');
    await infra.stop();
    progress.end();
  }
}
