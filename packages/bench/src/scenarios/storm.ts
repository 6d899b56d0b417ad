/**
 * The storm scenario: one node of several killed under load, ours and the peer; the
 * report (table, ratios, goal) of the figures `storm-run.ts` measures.
 */
import { describeCpu } from '../cpu.js';
import { fmt, table, type Progress } from '../report.js';
import { ratio, type Check, type ScenarioResult } from '../scenario.js';
import { runOursAndPeer } from '../systems.js';
import {
  fifth,
  MOVERS_TIMEOUT_MS,
  PER_CLIENT,
  type StormFigures,
  type StormOptions,
} from './storm-plan.js';
import { runSystem } from './storm-run.js';

export { stormPlan, type Spread, type StormFigures, type StormOptions } from './storm-plan.js';

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
