import type { RaidReport } from '@roomfabric/protocol';
import type { ChildHandle } from '../child.js';
import { LoadFleet } from '../load/fleet.js';
import { startProfiles, stopProfiles, topFunctions } from '../profile.js';
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

/** Options of the raid scenario. */
export interface RaidOptions extends CommonOptions {
  clients: number;
  nodes: number;
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
}

const FROM = 'raid-a';
const TO = 'raid-b'; // same length as FROM: the same frame length for the load clients

/**
 * raid: `clients` members of one room spread over the nodes, moved into another room. Ours:
 * `createServer().raid(from, to)` (atomic in Redis, one MOVED per mover). Socket.IO: the
 * adapter's `socketsJoin(to)` + `socketsLeave(from)` from the emitter (two requests, not
 * atomic, no notice to the client).
 */
export async function raid(o: RaidOptions, progress: Progress): Promise<ScenarioResult> {
  const checks: Check[] = [];
  const { ours, peer } = await runOursAndPeer(
    { withMembership: true, noPeer: o.noPeer },
    progress,
    checks,
    (system, infra) => runSystem(system, infra, o, progress, checks),
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
  return {
    scenario: 'raid',
    params: { ...o },
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
    ],
    checks,
    table: text,
  };
}

async function runSystem(
  system: 'ours' | 'peer',
  infra: Infra,
  o: RaidOptions,
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
    progress.step(`${system}: connecting ${o.clients} members of ${FROM}`);
    const groups = nodes.urls.map((url, i) => ({
      url: system === 'peer' ? sioUrl(url, [FROM]) : url,
      count: Math.floor(o.clients / o.nodes) + (i < o.clients % o.nodes ? 1 : 0),
      rooms: system === 'ours' ? [FROM] : [],
      eventRoom: TO,
    }));
    const failed = await fleet.connect(system === 'ours' ? 'rf' : 'sio', groups, (n) =>
      progress.update(`${n}/${o.clients}`),
    );
    if (failed > 0) throw new Error(`${failed} clients could not connect`);
    progress.step(`${system}: one broadcast to all ${o.clients} members (the floor)`);
    const b0 = performance.now();
    await publisher.call('burst', { rooms: [FROM], n: 1 });
    await fleet.waitFor('frames', 1, 60_000);
    const broadcastMs = performance.now() - b0;
    progress.step(`${system}: raid ${FROM} -> ${TO}`);
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
      report = await publisher.call<RaidReport>('raid', { from: FROM, to: TO }, 180_000);
      await publisher.call('burst', { rooms: [TO], n: 1 });
      allMovedMs = await moved;
    } else {
      await publisher.call('sioMove', { from: FROM, to: TO });
      await publisher.call('burst', { rooms: [TO], n: 1 });
    }
    const allReachedMs = await reached;
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
    };
  } finally {
    progress.step(`${system}: stopping`);
    await fleet?.stop();
    await publisher?.call('close', null, 10_000).catch(() => undefined);
    await publisher?.stop();
    await nodes.stop();
  }
}
