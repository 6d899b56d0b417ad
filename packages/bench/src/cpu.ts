import { readFileSync } from 'node:fs';

/*
 * CPU time of the benchmark's processes, from /proc/<pid>/stat (Linux), so that a result
 * says which process used the two cores: the servers under test, NATS, Redis, or the load
 * generators. Elsewhere the figures are simply missing.
 */

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** User+system CPU seconds of `pid`, or NaN when it cannot be read. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat; NaN elsewhere. */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/**
 * The machine's TCP counters of /proc/net/netstat (`TcpExt`, e.g. `ListenOverflows`: a
 * connection dropped because a listener's accept queue was full; `TCPSynRetrans`); empty
 * elsewhere. Machine-wide: the difference over an interval is what the box did meanwhile.
 */
export function tcpCounters(): Record<string, number> {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const names = lines[i]!.split(/\s+/).slice(1);
    const values = lines[i + 1]!.split(/\s+/).slice(1).map(Number);
    return Object.fromEntries(names.map((n, k) => [n, values[k]!]));
  } catch {
    return {};
  }
}

/** Processes by role, e.g. `{ edges: [pid, pid], nats: [pid] }`. */
export type Roles = Record<string, Array<number | undefined>>;

/** Measures the CPU each role used between `start()` and `stop()`, in % of one core. */
export class CpuMeter {
  private before = new Map<number, number>();
  private busy0 = 0;
  private t0 = 0;

  constructor(private readonly roles: Roles) {}

  start(): this {
    this.t0 = performance.now();
    this.busy0 = machineBusySeconds();
    this.before = new Map(this.pids().map((p) => [p, cpuSeconds(p)]));
    return this;
  }

  /**
   * Per role: total % of one core over the interval (200% = both cores of a 2-core box), and
   * `other`: what the rest of the machine used (the coordinator, the kernel's own threads,
   * and anything else running on the box at the time).
   */
  stop(): Record<string, number> {
    const seconds = (performance.now() - this.t0) / 1000;
    const out: Record<string, number> = {};
    let attributed = 0;
    for (const [role, pids] of Object.entries(this.roles)) {
      let used = 0;
      for (const pid of pids) {
        if (pid === undefined) continue;
        used += cpuSeconds(pid) - (this.before.get(pid) ?? NaN);
      }
      out[role] = Math.round((used / seconds) * 100);
      attributed += used;
    }
    out.other = Math.round(((machineBusySeconds() - this.busy0 - attributed) / seconds) * 100);
    return out;
  }

  private pids(): number[] {
    return Object.values(this.roles)
      .flat()
      .filter((p): p is number => p !== undefined);
  }
}

/** "edges 150%, nats 4%, load 30%" */
export function describeCpu(cpu: Record<string, number>): string {
  return Object.entries(cpu)
    .map(([role, pct]) => `${role} ${Number.isFinite(pct) ? pct : '?'}%`)
    .join(', ');
}
