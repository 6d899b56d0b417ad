/**
 * One system's storm run ({@link runSystem}): nodes, publisher and clients started, the
 * warm-up, the kill, then (a) movers back, (b) receiving again and (c) the index exact,
 * measured and checked.
 */
import type { ChildHandle } from '../child.js';
import { CpuMeter, tcpCounters } from '../cpu.js';
import { LoadFleet } from '../load/fleet.js';
import { nowMicros } from '../payload.js';
import { ms, type Progress } from '../report.js';
import { check, type Check } from '../scenario.js';
import {
  sioUrl,
  startEdges,
  startPublisher,
  startSioNodes,
  type Infra,
  type NodeSet,
} from '../systems.js';
import {
  fifth,
  MOVERS_TIMEOUT_MS,
  PER_CLIENT,
  stormPlan,
  VICTIM,
  type Spread,
  type StormFigures,
  type StormOptions,
} from './storm-plan.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Durations from `t0` (monotonic us) to each time, in ms, exact. A 0 (the step never came)
 * counts as forever: a quantile it would fall on is NaN, and so is the max.
 */
function spread(times: number[] | undefined, t0: number): Spread {
  const all = times ?? [];
  const done = all
    .filter((t) => t > 0)
    .map((t) => (t - t0) / 1000)
    .sort((a, b) => a - b);
  const at = (q: number) => {
    const rank = Math.max(1, Math.ceil(q * all.length));
    return rank <= done.length ? Math.round(done[rank - 1]! * 100) / 100 : NaN;
  };
  return { p50ms: at(0.5), p99ms: at(0.99), maxMs: at(1) };
}

interface IndexState {
  sockets: number;
  nodes: number;
  counts: number[];
}

export async function runSystem(
  system: 'ours' | 'peer',
  infra: Infra,
  o: StormOptions,
  progress: Progress,
  checks: Check[],
): Promise<StormFigures> {
  const ours = system === 'ours';
  const plan = stormPlan(o.clients, o.nodes, o.rooms);
  const rooms = plan.roomIds;
  progress.step(`${system}: starting ${o.nodes} nodes`);
  const lease = ['--lease-ttl-ms', String(o.leaseTtlMs), '--lease-interval-ms'];
  const nodes: NodeSet = ours
    ? await startEdges(infra, o.nodes, { args: [...lease, String(fifth(o.leaseTtlMs))] })
    : await startSioNodes(infra, o.nodes);
  let publisher: ChildHandle | undefined;
  let fleet: LoadFleet | undefined;
  let pacing: Promise<number> | undefined;
  try {
    publisher = await startPublisher(ours ? 'rf' : 'sio', infra, o.dataBytes);
    const pub = publisher;
    fleet = await LoadFleet.start(o.loadProcs);
    await fleet.failoverPolicy({ minDelayMs: o.reconnectDelayMs });
    progress.step(`${system}: connecting ${o.clients} clients, ${PER_CLIENT} rooms each`);
    const urls = nodes.urls.map((u) => (ours ? u : sioUrl(u, [])));
    const failed = await fleet.connect(ours ? 'rf' : 'sio', plan.groups(urls), (n) =>
      progress.update(`${n}/${o.clients}`),
    );
    if (failed > 0) throw new Error(`${failed} clients could not connect`);
    const index = (withRooms: boolean) =>
      pub.call<IndexState>('index', { rooms: withRooms ? rooms : [] });
    if (ours) {
      const before = await index(false);
      checks.push(check('ours index sockets before the kill', before.sockets, o.clients));
    }

    progress.step(`${system}: a broadcast to each of the ${o.rooms} rooms reaches everyone`);
    await pub.call('burst', { rooms, n: 1 });
    await fleet.waitFor('frames', PER_CLIENT, 60_000);

    progress.step(`${system}: a broadcast to every room every ${o.tickMs} ms, ${o.warmupMs} ms`);
    pacing = pub.call<number>(
      'paced',
      { rooms, rate: 1000 / o.tickMs, burst: 1, durationMs: 3_600_000 },
      3_700_000,
    );
    pacing.catch(() => undefined);
    await fleet.stats(true);
    await sleep(o.warmupMs);
    const steadyHist = (await fleet.stats(true)).hist;

    const home = urls[VICTIM]!;
    progress.step(`${system}: kill -9 of node ${VICTIM + 1}`);
    const killAt = nowMicros();
    const t0 = performance.now();
    const killedPid = nodes.pids[VICTIM];
    await nodes.kill(VICTIM);
    const tcp0 = tcpCounters();
    const cpu = new CpuMeter({
      servers: nodes.pids.filter((p) => p !== killedPid),
      nats: [infra.nats.pid],
      redis: [infra.redis.pid],
      ...(ours && { membership: [infra.membership?.pid] }),
      publisher: [pub.pid],
      load: fleet.pids,
    }).start();
    const movers = (await fleet.failover(home)).perWorker.map((r) => r.homed);
    const moved = movers.reduce((a, b) => a + b, 0);

    // (c) ours: poll the index until it is exact again, alongside (a) and (b).
    const exact = ours
      ? (async () => {
          const deadline = performance.now() + o.leaseTtlMs + 60_000;
          for (;;) {
            const totals = await index(false);
            if (totals.sockets === o.clients && totals.nodes === o.nodes - 1) {
              const full = await index(true);
              if (full.counts.every((c, i) => c === plan.expected[i])) {
                return { ms: (nowMicros() - killAt) / 1000, state: full };
              }
            }
            if (performance.now() > deadline) return { ms: NaN, state: await index(true) };
            await sleep(o.tickMs);
          }
        })()
      : undefined;
    exact?.catch(() => undefined);

    const f = fleet;
    // Bounded: movers not back (or not receiving) by then are reported and fail the checks.
    const until = performance.now() + MOVERS_TIMEOUT_MS;
    const waitMovers = async (counter: 'rejoins' | 'resumed'): Promise<boolean> => {
      try {
        await f.waitFor(counter, 0, Math.max(1, until - performance.now()), movers);
        return true;
      } catch {
        const r = (await f.failover(home)).sum;
        const { lastError } = await f.stats();
        progress.step(
          `${system}: after ${MOVERS_TIMEOUT_MS / 1000} s, of ${r.homed} movers ${r.lost} lost ` +
            `their node, ${r.rejoined} rejoined, ${r.resumed} received again; ` +
            `${r.failedAttempts} failed reconnects (last: ${r.lastFailure || 'none'}); ` +
            `last error: ${lastError || 'none'}`,
        );
        return false;
      }
    };
    progress.step(`${system}: ${moved} clients moving`);
    if (await waitMovers('rejoins')) {
      progress.step(`${system}: ${moved} clients back in their rooms; waiting until each receives`);
      await waitMovers('resumed');
    }
    const stormMs = performance.now() - t0;
    const usage = cpu.stop();
    const tcp1 = tcpCounters();
    const tcp = (name: string) => (tcp1[name] ?? NaN) - (tcp0[name] ?? NaN);
    await pub.call('stopPaced');
    const ticks = (await pacing) / rooms.length;
    pacing = undefined;

    // Every client of a surviving node must have got every broadcast to its 3 rooms.
    const target = (others: number) => others * PER_CLIENT * (1 + ticks);
    let report = (await fleet.failover(home)).sum;
    for (const until = performance.now() + 30_000; performance.now() < until;) {
      if (report.othersFrames >= target(report.others)) break;
      await sleep(100);
      report = (await fleet.failover(home)).sum;
    }
    let indexExactMs: number | undefined;
    if (exact) {
      progress.step('ours: waiting until the index is exact again');
      const { ms: exactMs, state } = await exact;
      indexExactMs = Math.round(exactMs);
      const matching = state.counts.filter((c, i) => c === plan.expected[i]).length;
      checks.push(
        check('ours rooms whose index count equals their live members', matching, o.rooms),
        check('ours index sockets after the purge', state.sockets, o.clients),
      );
    }
    const detail = (await fleet.failover(home, true)).sum;
    const stats = await nodes.stats();
    const live = stats.filter((s) => s.killed !== true);
    const sockets = live.reduce((n, s) => n + Number(s.sockets), 0);
    checks.push(
      check(`${system} movers back in their 3 rooms on another node`, detail.rejoined, moved),
      check(`${system} movers receiving again`, detail.resumed, moved),
      check(
        `${system} clients of the surviving nodes never disconnected`,
        report.others - report.othersLost,
        report.others,
      ),
      check(
        `${system} events to clients of the surviving nodes (every broadcast to their 3 rooms)`,
        report.othersFrames,
        target(report.others),
      ),
      check(`${system} sockets on the live nodes`, sockets, o.clients),
    );
    if (!ours) {
      // No index: the rooms as the live nodes hold them.
      const members = new Array<number>(o.rooms).fill(0);
      let inThree = 0;
      for (const s of live) {
        const sizes = s.roomSizes as Record<string, number>;
        rooms.forEach((room, i) => (members[i]! += sizes[room] ?? 0));
        inThree += (s.socketsByRooms as number[])[PER_CLIENT] ?? 0;
      }
      const matching = members.filter((m, i) => m === plan.expected[i]).length;
      checks.push(
        check('peer rooms whose members on the live nodes equal their clients', matching, o.rooms),
        check(`peer sockets in exactly ${PER_CLIENT} rooms`, inThree, o.clients),
      );
    }
    const stormFigures: StormFigures = {
      nodes: o.nodes,
      clients: o.clients,
      rooms: o.rooms,
      moved,
      steady: { p50ms: ms(steadyHist.quantile(0.5)), p99ms: ms(steadyHist.quantile(0.99)) },
      noticed: spread(detail.lostAt, killAt),
      upgraded: spread(detail.upgradedAt, killAt),
      ready: spread(detail.readyAt, killAt),
      back: spread(detail.rejoinedAt, killAt),
      receiving: spread(detail.resumedAt, killAt),
      ...(indexExactMs !== undefined && { indexExactMs }),
      rejoined: detail.rejoined,
      resumed: detail.resumed,
      ticks,
      stormMs: Math.round(stormMs),
      cpu: usage,
      tcp: { listenOverflows: tcp('ListenOverflows'), synRetransmits: tcp('TCPSynRetrans') },
    };
    return stormFigures;
  } finally {
    progress.step(`${system}: stopping`);
    if (pacing) await publisher?.call('stopPaced').catch(() => undefined);
    await fleet?.stop();
    await publisher?.call('close', null, 10_000).catch(() => undefined);
    await publisher?.stop();
    await nodes.stop();
  }
}
