import { RedisKeys } from '@roomfabric/membership';
import type { RedisClusterHandle, RedisClusterNode } from '@roomfabric/testkit';
import { cpuSeconds } from './cpu.js';
import { table } from './report.js';
import type { Goal } from './scenario.js';

/*
 * How the work of our index spread over the primaries of a Redis Cluster during a measured
 * phase: each primary's `INFO commandstats` before and after (commands run by scripts
 * count too, as Redis counts them), and its redis-server's CPU from /proc.
 */

/** One primary's part of a measured phase. */
export interface RedisShare {
  /** The testkit's name, `redis-1` .. `redis-N`. */
  node: string;
  port: number;
  /** Slot ranges it serves, e.g. `0-5460`. */
  slots: string;
  /**
   * Commands it ran during the phase, those run inside scripts included (Redis counts
   * each `redis.call`), without INFO and CLUSTER (the meter's and the clients' topology
   * reads).
   */
  commands: number;
  /** Its share of every primary's commands, %, one decimal. */
  pct: number;
  /** Of those, script calls (EVAL, EVALSHA and their _RO forms): about one per client call. */
  scripts: number;
  /** CPU of its redis-server over the phase, % of one core. */
  cpu: number;
}

/** Commands of the phase that are not the index's own work. */
const NOT_COUNTED = /^(info|cluster(\|.*)?)$/;
const SCRIPT = /^(eval|evalsha|eval_ro|evalsha_ro|fcall|fcall_ro)$/;

interface Counts {
  commands: number;
  scripts: number;
}

/** Sums `INFO commandstats` of one node into commands and script calls. */
async function counts(node: RedisClusterNode): Promise<Counts> {
  const text = String(await node.command('INFO', 'commandstats'));
  const out: Counts = { commands: 0, scripts: 0 };
  for (const line of text.split('\r\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (!match) continue;
    const [, name = '', calls = '0'] = match;
    if (NOT_COUNTED.test(name)) continue;
    out.commands += Number(calls);
    if (SCRIPT.test(name)) out.scripts += Number(calls);
  }
  return out;
}

/** Measures each primary's commands and CPU between `start()` and `stop()`. */
export class RedisShareMeter {
  private constructor(
    private readonly primaries: Array<{ node: RedisClusterNode; slots: string }>,
    private readonly before: Counts[],
    private readonly cpu0: number[],
    private readonly t0: number,
  ) {}

  /** Reads every primary's counters now (the primaries as the cluster's slot map says). */
  static async start(cluster: RedisClusterHandle): Promise<RedisShareMeter> {
    const ranges = await cluster.slots();
    const primaries = [...new Set(ranges.map((range) => range.primary))].map((node) => ({
      node,
      slots: ranges
        .filter((range) => range.primary === node)
        .map((range) =>
          range.start === range.end ? `${range.start}` : `${range.start}-${range.end}`,
        )
        .join(','),
    }));
    const before = await Promise.all(primaries.map((p) => counts(p.node)));
    const cpu0 = primaries.map((p) => (p.node.pid === undefined ? NaN : cpuSeconds(p.node.pid)));
    return new RedisShareMeter(primaries, before, cpu0, performance.now());
  }

  /** Each primary's commands, share and CPU since `start()`. */
  async stop(): Promise<RedisShare[]> {
    const seconds = (performance.now() - this.t0) / 1000;
    const cpu1 = this.primaries.map((p) =>
      p.node.pid === undefined ? NaN : cpuSeconds(p.node.pid),
    );
    const after = await Promise.all(this.primaries.map((p) => counts(p.node)));
    const diffs = after.map((a, i) => ({
      commands: a.commands - this.before[i]!.commands,
      scripts: a.scripts - this.before[i]!.scripts,
    }));
    const total = diffs.reduce((n, d) => n + d.commands, 0);
    return this.primaries.map((p, i) => ({
      node: p.node.name,
      port: p.node.port,
      slots: p.slots,
      commands: diffs[i]!.commands,
      pct: total === 0 ? NaN : Math.round((diffs[i]!.commands / total) * 1000) / 10,
      scripts: diffs[i]!.scripts,
      cpu: Math.round(((cpu1[i]! - this.cpu0[i]!) / seconds) * 100),
    }));
  }
}

/**
 * The band a primary's share should fall in: 20-45% for 3 primaries (an even share is
 * 33%), the same fractions of an even share (0.6x-1.35x) for other counts.
 */
export function shareBand(primaries: number): [number, number] {
  const even = 100 / primaries;
  return [Math.round(even * 0.6 * 10) / 10, Math.round(even * 1.35 * 10) / 10];
}

/** The goal line for the shares (a goal: an uneven spread fails no check). */
export function sharesGoal(shares: readonly RedisShare[]): Goal {
  const [low, high] = shareBand(shares.length);
  return {
    goal: `each primary ${low}-${high}% of the index's Redis commands`,
    value: shares.map((s) => `${s.node} ${pct(s.pct)}`).join(', '),
    met: shares.every((s) => s.pct >= low && s.pct <= high),
  };
}

/** The shares as a table, headed by what they are. */
export function sharesTable(shares: readonly RedisShare[], phase: string): string {
  return [
    `Redis Cluster, ${shares.length} primaries: our index's commands ${phase}`,
    '(commands run by scripts included; cpu: each redis-server, % of one core):',
    table(
      ['primary', 'slots', 'commands', 'share', 'script calls', 'cpu'],
      shares.map((s) => [
        `${s.node} (:${s.port})`,
        s.slots,
        count(s.commands),
        pct(s.pct),
        count(s.scripts),
        `${s.cpu}%`,
      ]),
    ),
  ].join('\n');
}

/** `12.3%` (`n/a` when nothing ran). */
const pct = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(1)}%` : 'n/a');

/** `1,234` (whole numbers, also under 100). */
const count = (v: number): string => v.toLocaleString('en-US');

/** The slot of a room's keys in our index (the room's `{tag}`, or the room itself). */
export function roomSlot(room: string): number {
  return new RedisKeys('rf').room(room).slot;
}

/**
 * `e1 (slot 1234, redis-3), e2 (...)`: where each edge's node slot (`rf:{n:<node>}`: its
 * sockets, their data and reverse sets) lives; every join and every mover touches it.
 */
export async function nodeSlots(
  cluster: RedisClusterHandle,
  nodeIds: readonly string[],
): Promise<string> {
  const keys = new RedisKeys('rf');
  const parts = await Promise.all(
    nodeIds.map(async (id) => {
      const slot = keys.node(id).slot;
      return `${id} (slot ${slot}, ${(await cluster.primaryForSlot(slot)).name})`;
    }),
  );
  return parts.join(', ');
}

/** The peer's Redis, said beside our cluster's figures. */
export const PEER_REDIS_NOTE =
  'socket.io + redis-adapter keeps its one Redis: the adapter only publishes and subscribes (no index), so a cluster would not spread its work';
