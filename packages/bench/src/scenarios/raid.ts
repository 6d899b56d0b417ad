import type { RaidReport } from '@roomfabric/protocol';
import type { ChildHandle } from '../child.js';
import { CpuMeter, describeCpu } from '../cpu.js';
import { LoadFleet } from '../load/fleet.js';
import { startProfiles, stopProfiles, topFunctions } from '../profile.js';
import {
  PEER_REDIS_NOTE,
  RedisShareMeter,
  nodeSlots,
  roomSlot,
  sharesGoal,
  sharesTable,
  type RedisShare,
} from '../redis-shares.js';
import { fmt, table, type Progress } from '../report.js';
import { check, ratio, type Check, type CommonOptions, type ScenarioResult } from '../scenario.js';
import {
  sioUrl,
  startEdges,
  runOursAndPeer,
  startPublisher,
  startSioNodes,
  type Infra,
} from '../systems.js';

/** Which pair of rooms is raided: two slots of the index, or one (a shared `{tag}`). */
export type RaidRooms = 'cross-slot' | 'same-slot';

/** Options of the raid scenario. */
export interface RaidOptions extends CommonOptions {
  clients: number;
  nodes: number;
  /** Default `cross-slot`. */
  raidRooms?: RaidRooms;
  /** Our index on a Redis Cluster of this many primaries; default one Redis. */
  redisCluster?: number;
}

/** Figures of one system. */
export interface RaidFigures {
  movers: number;
  /** Ours: the atomic index move (Redis script), ms. */
  commitMs?: number;
  /** Ours: the raid call, prepare to last commit sent, ms. */
  raidCallMs?: number;
  /** Ours: raid start until every mover had its MOVED frame, ms. */
  allMovedMs?: number;
  /**
   * Raid start until every mover got the first broadcast to the new room (published right
   * after the raid call returned), ms. The figure both systems have.
   */
  allReachedMs: number;
  /**
   * Before the raid: one broadcast to the old room until every member had it, ms. The floor
   * for "tell every mover" on this machine (one write per socket either way).
   */
  broadcastMs: number;
  moved: number;
  reached: number;
  /** From the raid until every mover got the next message, % of one core per component. */
  cpu: Record<string, number>;
  /** Ours with `--redis-cluster`: each primary's part of the raid. */
  redisShares?: RedisShare[];
}

/**
 * The rooms raided, `from` and `to`, of the same length (the same frame length for the load
 * clients). Cross-slot: untagged, so each room has a slot of its own (`rf:{r:<room>}`);
 * same-slot: a shared tag, `rf:{g:raid}` for both, so the raid is one room-slot script.
 */
export const RAID_ROOMS: Record<RaidRooms, readonly [string, string]> = {
  'cross-slot': ['raid-a', 'raid-b'],
  'same-slot': ['{raid}a', '{raid}b'],
};

/**
 * raid: `clients` members of one room spread over the nodes, moved into another room. Ours:
 * `createServer().raid(from, to)` (atomic in Redis, one MOVED per mover). Socket.IO: the
 * adapter's `socketsJoin(to)` + `socketsLeave(from)` from the emitter (two requests, not
 * atomic, no notice to the client).
 */
export async function raid(o: RaidOptions, progress: Progress): Promise<ScenarioResult> {
  const checks: Check[] = [];
  const kind = o.raidRooms ?? 'cross-slot';
  const [from, to] = RAID_ROOMS[kind];
  let where = '';
  let nodes = '';
  const { ours, peer } = await runOursAndPeer(
    { withMembership: true, noPeer: o.noPeer, redisCluster: o.redisCluster },
    progress,
    checks,
    async (system, infra) => {
      if (system === 'ours') {
        where = await describeRooms(infra, from, to);
        const ids = Array.from({ length: o.nodes }, (_, i) => `e${i + 1}`);
        if (infra.cluster) nodes = await nodeSlots(infra.cluster, ids);
      }
      return runSystem(system, infra, o, from, to, progress, checks);
    },
  );
  const text = table(
    [
      'system',
      'movers',
      '1 broadcast ms',
      'index commit ms',
      'raid call ms',
      'all MOVED ms',
      'all got next msg ms',
    ],
    [
      [
        'roomfabric',
        ours.movers,
        ours.broadcastMs,
        ours.commitMs!,
        ours.raidCallMs!,
        ours.allMovedMs!,
        ours.allReachedMs,
      ],
      ...(peer
        ? [
            [
              'socket.io + redis-adapter',
              peer.movers,
              peer.broadcastMs,
              'n/a (no index)',
              'n/a',
              'n/a (no event)',
              peer.allReachedMs,
            ],
          ]
        : []),
    ],
  );
  const lines = [
    `rooms: ${kind}, ${where}`,
    `index: ${o.redisCluster === undefined ? 'one Redis' : `a Redis Cluster of ${o.redisCluster} primaries; the edges' node slots: ${nodes}`}`,
    '',
    text,
    '',
    'CPU from the raid until every mover got the next message (% of one core; the machine has 100% per core):',
    `  roomfabric (${fmt(ours.allReachedMs)} ms): ${describeCpu(ours.cpu)}`,
    ...(peer
      ? [`  socket.io + redis-adapter (${fmt(peer.allReachedMs)} ms): ${describeCpu(peer.cpu)}`]
      : []),
  ];
  if (ours.redisShares) {
    lines.push('', sharesTable(ours.redisShares, 'from the raid until the next message'));
  }
  return {
    scenario: 'raid',
    params: { ...o, raidRooms: kind, from, to },
    ours,
    peer,
    ratio: { allReached: ratio(ours.allReachedMs, peer?.allReachedMs) },
    goals: [
      { goal: 'commit <= 200 ms', value: `${fmt(ours.commitMs!)} ms`, met: ours.commitMs! <= 200 },
      {
        goal: 'every mover notified <= 1.5 s',
        value: `${fmt(ours.allMovedMs!)} ms`,
        met: ours.allMovedMs! <= 1500,
      },
      ...(ours.redisShares ? [sharesGoal(ours.redisShares)] : []),
    ],
    checks,
    table: lines.join('\n'),
    ...(o.redisCluster !== undefined && { notes: [`note: ${PEER_REDIS_NOTE}`] }),
  };
}

/**
 * `raid-a (slot 2043, redis-1) -> raid-b (slot 14306, redis-3): two slots`: where the two
 * rooms' keys live in our index (the primary only on a cluster).
 */
async function describeRooms(infra: Infra, from: string, to: string): Promise<string> {
  const one = async (room: string) => {
    const slot = roomSlot(room);
    const primary = infra.cluster ? `, ${(await infra.cluster.primaryForSlot(slot)).name}` : '';
    return `${room} (slot ${slot}${primary})`;
  };
  const same = roomSlot(from) === roomSlot(to);
  return `${await one(from)} -> ${await one(to)}: ${same ? 'one slot, one script' : 'two slots, the cross-slot steps'}`;
}

async function runSystem(
  system: 'ours' | 'peer',
  infra: Infra,
  o: RaidOptions,
  from: string,
  to: string,
  progress: Progress,
  checks: Check[],
): Promise<RaidFigures> {
  progress.step(`${system}: starting ${o.nodes} nodes`);
  const nodes =
    system === 'ours'
      ? await startEdges(infra, o.nodes, { probe: o.cpuProf !== undefined })
      : await startSioNodes(infra, o.nodes);
  let publisher: ChildHandle | undefined;
  let fleet: LoadFleet | undefined;
  try {
    publisher = await startPublisher(system === 'ours' ? 'rf' : 'sio', infra, o.dataBytes);
    fleet = await LoadFleet.start(o.loadProcs);
    progress.step(`${system}: connecting ${o.clients} members of ${from}`);
    const groups = nodes.urls.map((url, i) => ({
      url: system === 'peer' ? sioUrl(url, [from]) : url,
      count: Math.floor(o.clients / o.nodes) + (i < o.clients % o.nodes ? 1 : 0),
      rooms: system === 'ours' ? [from] : [],
      eventRoom: to,
    }));
    const failed = await fleet.connect(system === 'ours' ? 'rf' : 'sio', groups, (n) =>
      progress.update(`${n}/${o.clients}`),
    );
    if (failed > 0) throw new Error(`${failed} clients could not connect`);
    progress.step(`${system}: one broadcast to all ${o.clients} members (the floor)`);
    const b0 = performance.now();
    await publisher.call('burst', { rooms: [from], n: 1 });
    await fleet.waitFor('frames', 1, 60_000);
    const broadcastMs = performance.now() - b0;
    progress.step(`${system}: raid ${from} -> ${to}`);
    const cpu = new CpuMeter({
      servers: nodes.pids,
      nats: [infra.nats.pid],
      // Ours: every redis-server of the index (the cluster's together); the peer: its Redis.
      redis: system === 'ours' ? infra.indexPids : [infra.redis.pid],
      ...(system === 'ours' && { membership: [infra.membership?.pid] }),
      publisher: [publisher.pid],
      load: fleet.pids,
    });
    const shares =
      system === 'ours' && infra.cluster ? await RedisShareMeter.start(infra.cluster) : undefined;
    cpu.start();
    const t0 = performance.now();
    let report: RaidReport | undefined;
    let allMovedMs: number | undefined;
    const since = () => performance.now() - t0;
    const reached = fleet.waitFor('frames', 2, 60_000).then(since);
    reached.catch(() => undefined);
    const profiling = system === 'ours' && o.cpuProf !== undefined;
    if (profiling) await startProfiles(nodes.probes);
    if (system === 'ours') {
      const moved = fleet.waitFor('moved', 1, 60_000).then(since);
      moved.catch(() => undefined);
      report = await publisher.call<RaidReport>('raid', { from, to }, 180_000);
      await publisher.call('burst', { rooms: [to], n: 1 });
      allMovedMs = await moved;
    } else {
      await publisher.call('sioMove', { from, to });
      await publisher.call('burst', { rooms: [to], n: 1 });
    }
    const allReachedMs = await reached;
    const usage = cpu.stop();
    const redisShares = await shares?.stop();
    if (profiling) {
      const files = await stopProfiles(nodes.probes, o.cpuProf!, 'raid');
      for (const f of files)
        progress.step(
          `${f}: ${topFunctions(f, 6)
            .map((t) => `${t.selfPct}% ${t.fn}`)
            .join(', ')}`,
        );
    }
    const { counters } = await fleet.stats();
    checks.push(check(`${system} frames (before and after)`, counters.frames, 2 * fleet.total));
    if (report) {
      checks.push(check('ours movers moved in the index', report.moved, fleet.total));
      checks.push(check('ours MOVED frames', counters.moved, fleet.total));
    }
    return {
      movers: fleet.total,
      ...(report && {
        commitMs: report.commitMs,
        raidCallMs: report.totalMs,
        allMovedMs: Math.round(allMovedMs! * 10) / 10,
      }),
      allReachedMs: Math.round(allReachedMs * 10) / 10,
      broadcastMs: Math.round(broadcastMs * 10) / 10,
      moved: counters.moved,
      reached: counters.frames,
      cpu: usage,
      ...(redisShares && { redisShares }),
    };
  } finally {
    progress.step(`${system}: stopping`);
    await fleet?.stop();
    await publisher?.call('close', null, 10_000).catch(() => undefined);
    await publisher?.stop();
    await nodes.stop();
  }
}
