import { describeCpu } from '../cpu.js';
import type { HotFunction } from '../profile.js';
import { fmt, table, type Progress } from '../report.js';
import { check, ratio, type ScenarioResult } from '../scenario.js';
import { startInfra } from '../systems.js';
import { runFanout, type FanoutFigures, type FanoutOptions, type System } from './fanout-run.js';

export type { FanoutFigures, FanoutOptions } from './fanout-run.js';

const NAMES: Record<System, string> = {
  ours: 'roomfabric',
  peer: 'socket.io + redis-adapter',
  ceiling: 'ceiling (plain ws)',
};

/**
 * fanout: 2 nodes, `clients` members of one room split across them, 100-byte messages
 * published in bursts by a backend process; the same for Socket.IO and for the plain ws
 * ceiling. Reports saturation throughput and latency at fractions of it.
 */
export async function fanout(o: FanoutOptions, progress: Progress): Promise<ScenarioResult> {
  progress.step('starting NATS and Redis');
  const infra = await startInfra();
  const systems = (['ours', 'peer', 'ceiling'] as const).filter(
    (s) =>
      (o.only ? o.only.includes(s) : true) &&
      !(s === 'peer' && o.noPeer) &&
      !(s === 'ceiling' && o.noCeiling),
  );
  const figures: Partial<Record<System, FanoutFigures>> = {};
  try {
    for (const system of systems) figures[system] = await runFanout(system, infra, o, progress);
  } finally {
    progress.step('stopping NATS and Redis');
    await infra.stop();
    progress.end();
  }
  const { ours, peer, ceiling } = figures;
  const r = {
    vsPeer: ratio(ours?.deliveredPerSec, peer?.deliveredPerSec),
    vsCeiling: ratio(ours?.deliveredPerSec, ceiling?.deliveredPerSec),
  };
  const main = table(
    [
      'system',
      'msgs/s max',
      'p50 ms',
      'p99 ms',
      'msgs/s @50%',
      'p50 ms',
      'p99 ms',
      'server us/msg',
      'delivered',
    ],
    systems.map((s) => {
      const f = figures[s]!;
      return [
        NAMES[s],
        f.deliveredPerSec,
        f.p50msAtMax,
        f.p99msAtMax,
        f.half.deliveredPerSec,
        f.half.p50ms,
        f.half.p99ms,
        f.serverUsPerMsg,
        `${f.delivered}/${f.expected}`,
      ];
    }),
  );
  const levels = table(
    ['system', 'load', 'msgs/s', 'p50 ms', 'p99 ms'],
    systems.flatMap((s) =>
      figures[s]!.levels.map((l) => [
        NAMES[s],
        `${l.fraction * 100}%`,
        l.deliveredPerSec,
        l.p50ms,
        l.p99ms,
      ]),
    ),
  );
  const cpu = systems.map((s) => `  ${NAMES[s]}: ${describeCpu(figures[s]!.cpuAtMax)}`);
  const text = [
    main,
    '',
    `ours / socket.io: ${fmt(r.vsPeer)}x   ours / ceiling: ${fmt(r.vsCeiling * 100)}%`,
    '',
    'CPU at saturation (% of one core; the machine has 100% per core):',
    ...cpu,
    ...(o.levels.length > 1
      ? ['', "open loop, by load (fraction of each system's max):", levels]
      : []),
    ...profileLines(ours?.profile),
  ].join('\n');
  const p99 = ours?.half.p99ms ?? NaN;
  return {
    scenario: 'fanout',
    params: { ...o },
    ours,
    peer,
    ceiling,
    ratio: r,
    goals: [
      { goal: '>= 5x socket.io', value: `${fmt(r.vsPeer)}x`, met: r.vsPeer >= 5 },
      { goal: '>= 70% of ceiling', value: `${fmt(r.vsCeiling * 100)}%`, met: r.vsCeiling >= 0.7 },
      { goal: 'p99 < 50 ms at half the max rate', value: `${p99} ms`, met: p99 < 50 },
    ],
    checks: systems.map((s) => check(`${s} frames`, figures[s]!.delivered, figures[s]!.expected)),
    table: text,
  };
}

function profileLines(profile: Record<string, HotFunction[]> | undefined): string[] {
  if (!profile) return [];
  return Object.entries(profile).flatMap(([file, top]) => [
    '',
    `top self time, ${file}:`,
    ...top.map((t) => `  ${String(t.selfPct).padStart(5)}%  ${t.fn}`),
  ]);
}
