import type { ChildHandle } from '../child.js';
import { CpuMeter, describeCpu, tcpCounters } from '../cpu.js';
import type { ClientGroup } from '../load/worker.js';
import { LoadFleet } from '../load/fleet.js';
import { nowMicros } from '../payload.js';
import { fmt, ms, table, type Progress } from '../report.js';
import { check, ratio, type Check, type CommonOptions, type ScenarioResult } from '../scenario.js';
import {
  runOursAndPeer,
  sioUrl,
  startEdges,
  startPublisher,
  startSioNodes,
  type Infra,
  type NodeSet,
} from '../systems.js';

/** Options of the storm scenario. */
export interface StormOptions extends CommonOptions {
  clients: number;
  /** Nodes; one of them is killed. */
  nodes: number;
  /** Rooms; every client is in 3 of them. */
  rooms: number;
  /** Every room gets a broadcast this often, from before the kill until everyone receives. */
  tickMs: number;
  /** Broadcasting before the kill, ms (the steady state the kill interrupts). */
  warmupMs: number;
  /**
   * Ours: the edges' lease TTL (the dead node's sockets are purged after this long; its
   * renewal interval and the membership service's check are a fifth of it, as by default).
   */
  leaseTtlMs: number;
  /**
   * The movers' reconnect backoff, for both systems: the SDK's, first attempt after
   * 0.5-1 x this, doubling to 10 s (the SDK's default: 250).
   */
  reconnectDelayMs: number;
}

/** p50 / p99 / max of a per-client duration, ms. */
export interface Spread {
  p50ms: number;
  p99ms: number;
  maxMs: number;
}

/** Figures of one system. */
export interface StormFigures {
  nodes: number;
  clients: number;
  rooms: number;
  /** Clients of the killed node, which had to move. */
  moved: number;
  /** Broadcast latency over the warm-up (is the tick rate sustainable at this size?). */
  steady: { p50ms: number; p99ms: number };
  /**
   * From the kill until each moved client saw its connection close, then (on the connection
   * it rejoined with) until the WebSocket upgrade was answered and until the handshake was
   * (HELLO; Socket.IO's CONNECT): where (a) goes.
   */
  noticed: Spread;
  upgraded: Spread;
  ready: Spread;
  /** (a) From the kill until each moved client was connected elsewhere and acked in its 3 rooms. */
  back: Spread;
  /**
   * (b) From the kill until each moved client got its first broadcast after that rejoin;
   * `maxMs` is when the last one received.
   */
  receiving: Spread;
  /**
   * (c) Ours: from the kill until the index was exact again (the dead node's sockets purged,
   * every room's count equal to its live members, the dead node gone from `totals`).
   */
  indexExactMs?: number;
  /** Movers back in their rooms, and receiving again, within the time allowed. */
  rejoined: number;
  resumed: number;
  /** Broadcast rounds (one per room) published from the warm-up until the end. */
  ticks: number;
  /** From the kill until the last moved client received, ms: the CPU window. */
  stormMs: number;
  /** CPU by role over `stormMs`, % of one core. */
  cpu: Record<string, number>;
  /**
   * The machine's TCP counters over `stormMs` (Linux): connections dropped because a node's
   * accept queue was full, and SYNs sent again (each such client waits 1, 3, 7... s).
   */
  tcp: { listenOverflows: number; synRetransmits: number };
}

/** Rooms per client. */
const PER_CLIENT = 3;
/** The node killed: the second (any would do; every node holds the same share). */
const VICTIM = 1;
/** How long the movers get to be back and receiving, from the kill. */
const MOVERS_TIMEOUT_MS = 120_000;

/**
 * Who is where. Client g lives on node g % nodes (its first URL), then fails over to the
 * other nodes in an order that alternates between neighbours (so the movers of a dead node
 * split evenly over the survivors, as a client list shuffled per client would), and is in
 * rooms g, g+1, g+2 (mod rooms): every room has members on every node.
 */
export function stormPlan(
  clients: number,
  nodes: number,
  rooms: number,
): { roomIds: string[]; expected: number[]; groups: (urls: string[]) => ClientGroup[] } {
  const digits = String(rooms - 1).length; // same-length names: one frame length
  const roomIds = Array.from(
    { length: rooms },
    (_, i) => `storm-${String(i).padStart(digits, '0')}`,
  );
  const expected = new Array<number>(rooms).fill(0);
  const kinds = new Map<
    string,
    { home: number; others: number[]; rooms: number[]; count: number }
  >();
  for (let g = 0; g < clients; g++) {
    const home = g % nodes;
    const offset = Math.floor(g / nodes) % (nodes - 1);
    const others = Array.from(
      { length: nodes - 1 },
      (_, k) => (home + 1 + ((offset + k) % (nodes - 1))) % nodes,
    );
    const mine = Array.from({ length: PER_CLIENT }, (_, k) => (g + k) % rooms);
    for (const r of mine) expected[r]!++;
    const key = `${home}|${offset}|${g % rooms}`;
    const kind = kinds.get(key);
    if (kind) kind.count++;
    else kinds.set(key, { home, others, rooms: mine, count: 1 });
  }
  return {
    roomIds,
    expected,
    groups: (urls) =>
      [...kinds.values()].map((k) => ({
        url: urls[k.home]!,
        failover: k.others.map((i) => urls[i]!),
        count: k.count,
        rooms: k.rooms.map((r) => roomIds[r]!),
        eventRoom: roomIds[k.rooms[0]!]!,
      })),
  };
}

/**
 * storm: `clients` spread over `nodes` nodes, each in 3 of `rooms` rooms, every room getting
 * a broadcast every `tickMs`; then one node is killed with SIGKILL. Its clients fail over to
 * the next node of their list and join their 3 rooms again (ours: JOIN frames, as the SDK
 * does; Socket.IO: an acknowledged `join` event whose handler calls `socket.join`). From the
 * kill: (a) until every mover is back in its rooms, (b) until each receives again, (c) ours
 * only, until the index is exact again (Socket.IO keeps none).
 */
export async function storm(o: StormOptions, progress: Progress): Promise<ScenarioResult> {
  if (o.rooms < PER_CLIENT) throw new Error(`--rooms: at least ${PER_CLIENT}`);
  const checks: Check[] = [];
  const { ours, peer } = await runOursAndPeer(
    {
      withMembership: true,
      membershipArgs: ['--lease-check-ms', String(fifth(o.leaseTtlMs))],
      noPeer: o.noPeer,
    },
    progress,
    checks,
    (system, infra) => runSystem(system, infra, o, progress, checks),
  );
  // A step some movers never reached within the time allowed shows how many did.
  const last = (v: number, done: number, moved: number) =>
    Number.isFinite(v) ? v : `> ${MOVERS_TIMEOUT_MS / 1000} s (${done}/${moved})`;
  const row = (name: string, f: StormFigures) => [
    name,
    f.clients,
    f.moved,
    f.steady.p99ms,
    f.back.p50ms,
    last(f.back.maxMs, f.rejoined, f.moved),
    f.receiving.p50ms,
    f.receiving.p99ms,
    last(f.receiving.maxMs, f.resumed, f.moved),
    f.indexExactMs ?? 'n/a (no index)',
  ];
  const ratios = {
    allBack: ratio(ours.back.maxMs, peer?.back.maxMs),
    receivingP50: ratio(ours.receiving.p50ms, peer?.receiving.p50ms),
    receivingP99: ratio(ours.receiving.p99ms, peer?.receiving.p99ms),
    lastReceives: ratio(ours.receiving.maxMs, peer?.receiving.maxMs),
  };
  const lines = [
    table(
      [
        'system',
        'clients',
        'moved',
        'steady p99 ms',
        '(a) back p50 ms',
        'all back ms',
        '(b) receiving p50 ms',
        'p99 ms',
        'last ms',
        '(c) index exact ms',
      ],
      [row('roomfabric', ours), ...(peer ? [row('socket.io + redis-adapter', peer)] : [])],
    ),
  ];
  if (peer) {
    lines.push(
      '',
      `ours / socket.io: (a) all back ${fmt(ratios.allBack)}x, (b) receiving p50 ` +
        `${fmt(ratios.receivingP50)}x, p99 ${fmt(ratios.receivingP99)}x, last ${fmt(ratios.lastReceives)}x`,
    );
  }
  lines.push(
    '',
    'CPU from the kill until the last mover received (% of one core; the machine has 100% per core):',
    ...[
      ['roomfabric', ours] as const,
      ...(peer ? [['socket.io + redis-adapter', peer] as const] : []),
    ].map(
      ([name, f]) =>
        `  ${name} (${fmt(f.stormMs)} ms): ${describeCpu(f.cpu)}; TCP: ` +
        `${count(f.tcp.listenOverflows)} accept-queue overflows, ${count(f.tcp.synRetransmits)} SYNs sent again`,
    ),
  );
  // Movers not all back within the time allowed: later than any figure.
  const orLater = (v: number) => (Number.isFinite(v) ? v : Infinity);
  const met =
    peer !== undefined &&
    Number.isFinite(ours.receiving.maxMs) &&
    orLater(ours.back.maxMs) <= orLater(peer.back.maxMs) &&
    orLater(ours.receiving.maxMs) <= orLater(peer.receiving.maxMs);
  return {
    scenario: 'storm',
    params: { ...o },
    ours,
    peer,
    ratio: ratios,
    goals: [
      {
        goal: 'ours back and receiving no later than the peer',
        value: peer
          ? `all back ${fmt(ours.back.maxMs)} vs ${fmt(peer.back.maxMs)} ms, last receives ` +
            `${fmt(ours.receiving.maxMs)} vs ${fmt(peer.receiving.maxMs)} ms`
          : 'n/a (no peer run)',
        met,
      },
    ],
    checks,
    table: lines.join('\n'),
    notes: [
      '(c): socket.io keeps no index of rooms (each node knows only its own sockets): no peer figure.',
      `(c), ours: the purge starts once the dead node's lease lapses, ${o.leaseTtlMs} ms after its last renewal (every ${fifth(o.leaseTtlMs)} ms).`,
    ],
  };
}

/** 12345 -> "12,345" (NaN: "n/a"). */
const count = (v: number) => (Number.isFinite(v) ? v.toLocaleString('en-US') : 'n/a');

/** A fifth of the lease TTL: the renewal interval and the check interval (the defaults). */
function fifth(ttlMs: number): number {
  return Math.max(50, Math.round(ttlMs / 5));
}

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

async function runSystem(
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
