import { CpuMeter, describeCpu } from '../cpu.js';
import { LoadFleet } from '../load/fleet.js';
import { startProfiles, stopProfiles, topFunctions, type HotFunction } from '../profile.js';
import {
  PEER_REDIS_NOTE,
  RedisShareMeter,
  nodeSlots,
  sharesGoal,
  sharesTable,
  type RedisShare,
} from '../redis-shares.js';
import { fmt, table, type Progress } from '../report.js';
import { check, ratio, type Check, type CommonOptions, type ScenarioResult } from '../scenario.js';
import { sioUrl, startEdges, runOursAndPeer, startSioNodes, type Infra } from '../systems.js';

/** Options of the joins scenario. */
export interface JoinsOptions extends CommonOptions {
  clients: number;
  /** JOINs per client, each to a room of its own (an edge allows 128 rooms per socket). */
  perClient: number;
  /** JOINs in flight per client. */
  window: number;
  /**
   * When > 0: every join goes to one of this many rooms shared by all clients (each client
   * joins distinct ones; the first joins create them). 0: each join to a new room.
   */
  sharedRooms: number;
  /** Nodes of each system; the clients are spread over them evenly. */
  nodes: number;
  /** Our index on a Redis Cluster of this many primaries; default one Redis. */
  redisCluster?: number;
}

/** Figures of one system. */
export interface JoinsFigures {
  nodes: number;
  clients: number;
  joins: number;
  acked: number;
  failed: number;
  seconds: number;
  ackedPerSec: number;
  /** `ackedPerSec` / nodes. */
  ackedPerSecPerNode: number;
  cpu: Record<string, number>;
  /** Ours with `--redis-cluster`: each primary's part of the joins. */
  redisShares?: RedisShare[];
  /** Ours with `--redis-cluster`: the primary of each edge's node slot. */
  nodeSlots?: string;
  profile?: Record<string, HotFunction[]>;
}

/**
 * joins: clients on one node (or spread over `nodes`) each join `perClient` rooms of their own (or, with
 * `sharedRooms`, distinct rooms of a shared set), `window` at a time, and wait for the
 * acks. Ours: JOIN frames; the ack comes once the local set is updated,
 * the NATS subscription for the (new) room is confirmed and the Redis index is written.
 * Socket.IO: an `emitWithAck('join')` whose handler calls `socket.join(room)` — a local Set
 * update; the Redis adapter keeps no index, so it writes nothing. With `redisCluster`, our
 * index is on a Redis Cluster (the peer keeps its one Redis) and the result says how the
 * joins' Redis commands spread over its primaries.
 */
export async function joins(o: JoinsOptions, progress: Progress): Promise<ScenarioResult> {
  if (o.sharedRooms > 0 && o.sharedRooms < o.perClient) {
    throw new Error(`--join-rooms must be at least --per-client (${o.perClient})`);
  }
  const checks: Check[] = [];
  const { ours, peer } = await runOursAndPeer(
    { withMembership: false, noPeer: o.noPeer, redisCluster: o.redisCluster },
    progress,
    checks,
    (system, infra) => runSystem(system, infra, o, progress, checks),
  );
  const row = (name: string, f: JoinsFigures) => [
    name,
    f.clients,
    `${f.acked}/${f.joins}`,
    f.seconds,
    f.ackedPerSec,
    ...(o.nodes > 1 ? [f.ackedPerSecPerNode] : []),
    describeCpu(f.cpu),
  ];
  const lines = [
    o.sharedRooms > 0
      ? `rooms: ${fmt(o.sharedRooms)} shared by the clients (about ${fmt(Math.round((o.clients * o.perClient) / o.sharedRooms))} members each); the first join of each creates it`
      : 'rooms: every join to a new room of its own (a NATS subscription and a new index entry each)',
    table(
      [
        `system (${o.nodes} node${o.nodes > 1 ? 's' : ''})`,
        'clients',
        'acked',
        'seconds',
        'acked joins/s',
        ...(o.nodes > 1 ? ['per node'] : []),
        'cpu',
      ],
      [
        row(
          o.redisCluster === undefined
            ? 'roomfabric (Redis index on)'
            : `roomfabric (index on ${o.redisCluster}-primary cluster)`,
          ours,
        ),
        ...(peer ? [row('socket.io + redis-adapter', peer)] : []),
      ],
    ),
  ];
  if (ours.redisShares) {
    lines.push('', sharesTable(ours.redisShares, 'during the joins'));
    lines.push(`each edge's node slot: ${ours.nodeSlots ?? '?'}`);
  }
  for (const [file, top] of Object.entries(ours.profile ?? {})) {
    lines.push(
      '',
      `top self time, ${file}:`,
      ...top.map((t) => `  ${String(t.selfPct).padStart(5)}%  ${t.fn}`),
    );
  }
  return {
    scenario: 'joins',
    params: { ...o },
    ours,
    peer,
    ratio: { ackedPerSec: ratio(ours.ackedPerSec, peer?.ackedPerSec) },
    goals: [
      {
        goal: '>= 50,000 acked joins/s per edge',
        value: `${fmt(ours.ackedPerSecPerNode)}/s`,
        met: ours.ackedPerSecPerNode >= 50_000,
      },
      ...(ours.redisShares ? [sharesGoal(ours.redisShares)] : []),
    ],
    checks,
    table: lines.join('\n'),
    ...(o.redisCluster !== undefined && { notes: [`note: ${PEER_REDIS_NOTE}`] }),
  };
}

async function runSystem(
  system: 'ours' | 'peer',
  infra: Infra,
  o: JoinsOptions,
  progress: Progress,
  checks: Check[],
): Promise<JoinsFigures> {
  progress.step(`${system}: starting ${o.nodes} node${o.nodes > 1 ? 's' : ''}`);
  const profiling = system === 'ours' && o.cpuProf !== undefined;
  const nodes =
    system === 'ours'
      ? await startEdges(infra, o.nodes, { probe: profiling })
      : await startSioNodes(infra, o.nodes);
  let fleet: LoadFleet | undefined;
  try {
    fleet = await LoadFleet.start(o.loadProcs);
    progress.step(`${system}: connecting ${o.clients} clients`);
    // The clients spread evenly over the nodes (the first ones get the remainder).
    const groups = nodes.urls.map((u, i) => ({
      url: system === 'peer' ? sioUrl(u, []) : u,
      count: Math.floor(o.clients / o.nodes) + (i < o.clients % o.nodes ? 1 : 0),
      rooms: [],
    }));
    const failed = await fleet.connect(system === 'ours' ? 'rf' : 'sio', groups, (n) =>
      progress.update(`${n}/${o.clients}`),
    );
    if (failed > 0) throw new Error(`${failed} clients could not connect`);
    const joins = o.clients * o.perClient;
    progress.step(`${system}: ${joins} joins, ${o.window} in flight per client`);
    const cpu = new CpuMeter({
      node: nodes.pids,
      nats: [infra.nats.pid],
      // Ours: every redis-server of the index (the cluster's together); the peer: its Redis.
      redis: system === 'ours' ? infra.indexPids : [infra.redis.pid],
      load: fleet.pids,
    }).start();
    const shares =
      system === 'ours' && infra.cluster ? await RedisShareMeter.start(infra.cluster) : undefined;
    if (profiling) await startProfiles(nodes.probes);
    const result = await fleet.joins({
      perClient: o.perClient,
      prefix: 'j',
      window: o.window,
      shared: o.sharedRooms,
    });
    const usage = cpu.stop();
    const redisShares = await shares?.stop();
    const edgeIds = nodes.urls.map((_, i) => `e${i + 1}`);
    const where = infra.cluster && (await nodeSlots(infra.cluster, edgeIds));
    let profile: Record<string, HotFunction[]> | undefined;
    if (profiling) {
      const files = await stopProfiles(nodes.probes, o.cpuProf!, 'joins');
      profile = Object.fromEntries(files.map((f) => [f, topFunctions(f)]));
    }
    checks.push(check(`${system} acked joins`, result.acks, joins));
    const seconds = result.ms / 1000;
    return {
      nodes: o.nodes,
      clients: fleet.total,
      joins,
      acked: result.acks,
      failed: result.failed,
      seconds: Math.round(seconds * 1000) / 1000,
      ackedPerSec: Math.round(result.acks / seconds),
      ackedPerSecPerNode: Math.round(result.acks / seconds / o.nodes),
      cpu: usage,
      ...(redisShares && { redisShares }),
      ...(where && { nodeSlots: where }),
      ...(profile && { profile }),
    };
  } finally {
    progress.step(`${system}: stopping`);
    await fleet?.stop();
    await nodes.stop();
  }
}
