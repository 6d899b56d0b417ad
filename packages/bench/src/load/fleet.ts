import { forkChild, type ChildHandle } from '../child.js';
import { Histogram, type HistogramData } from '../histogram.js';
import type { LoadCounters, Proto } from './drivers.js';
import type { ClientGroup, FailoverArgs, FailoverReport, JoinsArgs } from './worker.js';

/** Merged view of every load process. */
export interface FleetStats {
  counters: LoadCounters;
  hist: Histogram;
  lastError: string;
}

/**
 * The coordinator's side of the load generators: N worker processes (`load/worker.js`),
 * clients spread evenly over them, counters and latency histograms merged.
 */
export class LoadFleet {
  /** Clients held by each worker (after `connect`). */
  readonly clients: number[];

  private constructor(readonly workers: ChildHandle[]) {
    this.clients = workers.map(() => 0);
  }

  /** Forks `n` load processes and waits until each is ready. */
  static async start(n: number, name = 'load'): Promise<LoadFleet> {
    const workers = Array.from({ length: n }, (_, i) =>
      forkChild(`${name}-${i + 1}`, 'load/worker.js', { nodeArgs: ['--max-old-space-size=4096'] }),
    );
    await Promise.all(workers.map((w) => w.waitEvent('ready')));
    return new LoadFleet(workers);
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid).filter((p): p is number => p !== undefined);
  }

  get total(): number {
    return this.clients.reduce((a, b) => a + b, 0);
  }

  /**
   * Opens every client of `groups`, spread over the workers; `onProgress` hears the number
   * connected so far. Resolves with the number that failed (each also counted as an error).
   */
  async connect(
    proto: Proto,
    groups: ClientGroup[],
    onProgress: (connected: number) => void = () => {},
    dataBytes?: number,
  ): Promise<number> {
    const parts = spread(groups, this.workers.length);
    const done = this.workers.map(() => 0);
    const offs = this.workers.map((w, i) =>
      w.onEvent((e) => {
        if (e.event !== 'progress') return;
        done[i] = e.connected as number;
        onProgress(done.reduce((a, b) => a + b, 0));
      }),
    );
    try {
      const results = await Promise.all(
        this.workers.map((w, i) =>
          w.call<{ connected: number; failed: number }>(
            'connect',
            { proto, groups: parts[i], dataBytes },
            600_000,
          ),
        ),
      );
      results.forEach((r, i) => (this.clients[i]! += r.connected));
      onProgress(this.total);
      return results.reduce((n, r) => n + r.failed, 0);
    } finally {
      for (const off of offs) off();
    }
  }

  /** Waits until each worker's `counter` reaches `targetPerClient` x its clients (+ `base`). */
  async waitFor(
    counter: keyof LoadCounters,
    perClient: number,
    timeoutMs: number,
    base: number[] = this.workers.map(() => 0),
  ): Promise<void> {
    await Promise.all(
      this.workers.map((w, i) =>
        w.call(
          'waitFor',
          { counter, target: base[i]! + perClient * this.clients[i]!, timeoutMs },
          timeoutMs + 5000,
        ),
      ),
    );
  }

  /** Counters of each worker, for per-worker bases. */
  async perWorker(counter: keyof LoadCounters): Promise<number[]> {
    const all = await Promise.all(
      this.workers.map((w) =>
        w.call<{ counters: LoadCounters }>('stats', { reset: false }, 30_000),
      ),
    );
    return all.map((s) => s.counters[counter]);
  }

  /** Merged counters and latency histogram; `reset` starts a fresh histogram. */
  async stats(reset = false): Promise<FleetStats> {
    const all = await Promise.all(
      this.workers.map((w) =>
        w.call<{ counters: LoadCounters; hist: HistogramData; lastError: string }>(
          'stats',
          { reset },
          30_000,
        ),
      ),
    );
    const hist = new Histogram();
    const counters: LoadCounters = {
      frames: 0,
      messages: 0,
      acks: 0,
      moved: 0,
      errors: 0,
      closed: 0,
      rejoins: 0,
      resumed: 0,
    };
    let lastError = '';
    for (const s of all) {
      hist.merge(s.hist);
      for (const k of Object.keys(counters) as Array<keyof LoadCounters>)
        counters[k] += s.counters[k];
      lastError ||= s.lastError;
    }
    return { counters, hist, lastError };
  }

  /** Every client sends JOINs to rooms of its own (see the worker's `joins`). */
  async joins(args: JoinsArgs): Promise<{ acks: number; failed: number; ms: number }> {
    const all = await Promise.all(
      this.workers.map((w) =>
        w.call<{ acks: number; failed: number; ms: number }>('joins', args, 600_000),
      ),
    );
    return {
      acks: all.reduce((n, r) => n + r.acks, 0),
      failed: all.reduce((n, r) => n + r.failed, 0),
      ms: Math.max(...all.map((r) => r.ms)),
    };
  }

  /** How clients that fail over retry (see {@link ClientGroup.failover}). */
  async failoverPolicy(args: FailoverArgs): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call('failoverPolicy', args)));
  }

  /**
   * What the failing-over clients of node `home` (their first URL) went through, per worker
   * and summed; with `detail`, each one's lost / rejoined / resumed times.
   */
  async failover(
    home: string,
    detail = false,
  ): Promise<{ perWorker: FailoverReport[]; sum: FailoverReport }> {
    const perWorker = await Promise.all(
      this.workers.map((w) => w.call<FailoverReport>('failover', { home, detail }, 30_000)),
    );
    const sum: FailoverReport = { ...perWorker[0]! };
    for (const r of perWorker.slice(1)) {
      for (const k of Object.keys(sum) as Array<keyof FailoverReport>) {
        const v = r[k];
        if (typeof v === 'number') (sum[k] as number) += v;
        else if (typeof v === 'string') (sum[k] as string) ||= v;
        else if (v) (sum[k] as number[]) = [...(sum[k] as number[]), ...v];
      }
    }
    return { perWorker, sum };
  }

  /** Closes every client, then the workers. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.call('close', null, 30_000)));
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}

/** Splits client groups over `n` workers so that each holds about the same number. */
export function spread(groups: ClientGroup[], n: number): ClientGroup[][] {
  const parts: ClientGroup[][] = Array.from({ length: n }, () => []);
  const load = new Array<number>(n).fill(0);
  for (const group of groups) {
    let left = group.count;
    // Whole shares to everyone, then the rest one by one to the least loaded.
    const share = Math.floor(left / n);
    if (share > 0) {
      for (let w = 0; w < n; w++) {
        parts[w]!.push({ ...group, count: share });
        load[w]! += share;
      }
      left -= share * n;
    }
    while (left > 0) {
      const w = load.indexOf(Math.min(...load));
      parts[w]!.push({ ...group, count: 1 });
      load[w]!++;
      left--;
    }
  }
  return parts;
}
