import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { createJsonLogger, createServer } from '@roomfabric/server';
import { startNats, startRedis } from '@roomfabric/testkit';
import { helpRows, intFlag, parseFlags, UsageError } from './args.js';
import { fmt, scalingChart, type ScalingRun } from './scaling-chart.js';
import { runEdges } from './scaling-run.js';

export const scalingHelp = `Usage: roomfabric scaling [options]

Horizontal scaling demo. Starts nats-server and redis-server, then for each edge count
(1, 2, 3 by default) starts that many edge nodes, connects the same clients spread over
them (raw protocol clients in a child process, each in one room, every edge holding
members of every room), publishes the same bursts of broadcasts from a backend
(@roomfabric/server), and reports per node: delivered msgs/s, bus messages received and
CPU seconds (the median of --repeat bursts). Prints a table and writes an SVG chart.

Options:
${helpRows([
  ['--edges LIST', 'edge counts to run, comma-separated (default 1,2,3)'],
  ['--clients N', 'clients in every run (default 1000)'],
  ['--rooms N', 'rooms the clients are spread over (default 4)'],
  ['--messages N', 'broadcasts per measured burst (default 16000)'],
  ['--repeat N', 'measured bursts per run; the median is kept (default 3)'],
  ['--payload N', "bytes of each message's data (default 64)"],
  [
    '--out FILE',
    'chart to write (default ./scaling.svg in the current directory; "none" for no chart; --out docs/scaling.svg updates the one docs/scaling.md shows)',
  ],
  ['--timeout-ms N', 'give up on a burst after this long (default 30000)'],
  ['-h, --help', 'show this help'],
])}
`;

/** Where the chart goes without --out: the current directory, never a tracked file of the repository. */
export const DEFAULT_CHART = 'scaling.svg';

/** `roomfabric scaling`: runs every edge count, prints the table, writes the chart. */
export async function runScaling(argv: string[], print: (line: string) => void): Promise<void> {
  const flags = parseFlags(argv, {
    edges: { type: 'string' },
    clients: { type: 'string' },
    rooms: { type: 'string' },
    messages: { type: 'string' },
    repeat: { type: 'string' },
    payload: { type: 'string' },
    out: { type: 'string' },
    'timeout-ms': { type: 'string' },
  });
  if (flags.help) {
    print(scalingHelp);
    return;
  }
  const edges = String(flags.edges ?? '1,2,3')
    .split(',')
    .map((e) => intFlag('edges', e.trim(), 1, 1, 16));
  const clients = intFlag('clients', flags.clients, 1000, 1, 50_000);
  if (clients < Math.max(...edges)) throw new UsageError('--clients must be at least --edges');
  const roomCount = intFlag('rooms', flags.rooms, 4, 1, 100);
  const rooms = Array.from({ length: roomCount }, (_, i) => `bench-${String(i).padStart(3, '0')}`);
  const messages = intFlag('messages', flags.messages, 16_000, 1, 1_000_000);
  const repeat = intFlag('repeat', flags.repeat, 3, 1, 20);
  const payload = 'x'.repeat(intFlag('payload', flags.payload, 64, 1, 60_000));
  const timeoutMs = intFlag('timeout-ms', flags['timeout-ms'], 30_000, 1000, 600_000);
  const outFlag = (flags.out as string | undefined) ?? DEFAULT_CHART;
  const out = outFlag === 'none' ? undefined : resolve(outFlag);

  const cpu = cpus();
  const machine = `${cpu.length} CPU cores (${cpu[0]?.model.trim() ?? 'unknown'}), Node ${process.version}`;
  const workload = `${clients} clients in ${roomCount} rooms, bursts of ${messages} broadcasts x ${payload.length} B`;
  print(`roomfabric scaling: ${machine}`);
  print(`  ${workload}, median of ${repeat}`);
  const load = loadavg().map((l) => l.toFixed(2));
  print(`  load average before the runs: ${load.join(' ')} (other processes share these cores)`);
  const runs: ScalingRun[] = [];
  const nats = await startNats();
  try {
    const redis = await startRedis();
    try {
      const publisher = await createServer({
        nats: nats.url,
        redis: redis.url,
        logger: createJsonLogger({ level: 'warn' }),
      });
      const settings = { clients, rooms, messages, repeat, payload, timeoutMs, publisher };
      try {
        for (const n of edges) {
          print(`\n-- ${n} edge${n > 1 ? 's' : ''}`);
          const backends = { nats: nats.url, natsPid: nats.pid, redis: redis.url };
          runs.push(await runEdges(n, { ...settings, ...backends }, print));
        }
      } finally {
        await publisher.close();
      }
    } finally {
      await redis[Symbol.asyncDispose]();
    }
  } finally {
    await nats[Symbol.asyncDispose]();
  }
  print('');
  for (const line of table(runs)) print(line);
  const model = costModel(runs);
  if (model) {
    print(
      `\nedge CPU, fitted over every node of every burst: ~${(model.perBusMessage * 1e6).toFixed(1)} us per bus message` +
        ` + ~${(model.perDelivery * 1e9).toFixed(0)} ns per delivery (rough: CPU time is read in 10 ms ticks)`,
    );
  }
  if (out) {
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, scalingChart(runs, `${machine}; ${workload}`));
    print(`\nchart written to ${out}`);
  }
}

/**
 * Least-squares fit of each node's CPU seconds as `a * bus messages + b * deliveries`
 * (no intercept): the per-node costs that project to a cluster of separate machines.
 * Undefined without CPU figures or when the runs cannot tell the two costs apart.
 */
export function costModel(
  runs: ScalingRun[],
): { perBusMessage: number; perDelivery: number } | undefined {
  let xx = 0;
  let xy = 0;
  let yy = 0;
  let xc = 0;
  let yc = 0;
  for (const n of runs.flatMap((r) => r.samples ?? [r]).flatMap((r) => r.nodes)) {
    if (n.cpuSeconds === undefined) return undefined;
    xx += n.busIn * n.busIn;
    xy += n.busIn * n.received;
    yy += n.received * n.received;
    xc += n.busIn * n.cpuSeconds;
    yc += n.received * n.cpuSeconds;
  }
  const det = xx * yy - xy * xy;
  if (!(Math.abs(det) > 1e-9 * xx * yy)) return undefined;
  const a = (xc * yy - yc * xy) / det;
  const b = (yc * xx - xc * xy) / det;
  return a > 0 && b > 0 ? { perBusMessage: a, perDelivery: b } : undefined;
}

/** Deliveries per CPU-second of the run's edges together. */
function perCpu(run: ScalingRun): string {
  const cpu = run.nodes.reduce((sum, n) => sum + (n.cpuSeconds ?? NaN), 0);
  const received = run.nodes.reduce((sum, n) => sum + n.received, 0);
  return cpu > 0 ? fmt(received / cpu) : '?';
}

/** The result table: one row per run. */
export function table(runs: ScalingRun[]): string[] {
  const rows = [
    [
      'edges',
      'delivered',
      'seconds',
      'total msgs/s',
      'per node msgs/s',
      'bus msgs in per node',
      'edge CPU s',
      'deliveries per edge CPU-s',
    ],
  ];
  for (const r of runs) {
    const received = r.nodes.reduce((sum, n) => sum + n.received, 0);
    rows.push([
      String(r.edges),
      fmt(received) + (r.complete ? '' : '*'),
      r.seconds.toFixed(2),
      fmt(r.totalRate),
      r.nodes.map((n) => `${n.node} ${fmt(n.rate)}`).join(', '),
      r.nodes.map((n) => `${n.node} ${n.busIn}`).join(', '),
      r.nodes.map((n) => (n.cpuSeconds === undefined ? '?' : n.cpuSeconds.toFixed(2))).join(', '),
      perCpu(r),
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const lines = rows.map((row) =>
    row
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd(),
  );
  if (runs.some((r) => !r.complete)) lines.push('* timed out before every frame arrived');
  return lines;
}
