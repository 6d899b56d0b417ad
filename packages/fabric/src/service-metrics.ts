import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
} from 'prom-client';
import type { RaidReport } from '@roomfabric/protocol';

/** Counters of the membership service since it started. */
export interface FabricServiceStats {
  raids: number;
  purgedNodes: number;
  purgedSockets: number;
  sweepErrors: number;
}

/** What the metrics read from the service at scrape time. */
interface StatsSource {
  readonly stats: FabricServiceStats;
  readonly ready: boolean;
}

/** Buckets of `roomfabric_index_call_seconds`: one call to the index, a Lua script on Redis. */
export const INDEX_CALL_BUCKETS = [
  0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/** Buckets of `roomfabric_raid_duration_seconds`. */
export const RAID_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Receives the duration of each call to the global room index. The CLI wraps the
 * `Membership` it gives an edge or the service in a timing decorator that reports here,
 * so the index implementations stay free of metrics.
 */
export interface IndexCallObserver {
  /** `op` is the `Membership` method; `result` what it resolved with (when `ok`). */
  observeIndexCall(op: string, seconds: number, ok: boolean, result?: unknown): void;
}

/**
 * The `roomfabric_index_call_seconds{op,result}` histogram of `registry`, created on first
 * use (an edge and a service sharing one registry, as in `roomfabric dev`, share it too).
 */
export function indexCallHistogram(registry: Registry): Histogram<'op' | 'result'> {
  const name = 'roomfabric_index_call_seconds';
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Histogram<'op' | 'result'>;
  return new Histogram({
    name,
    help: 'Calls to the global room index (on Redis: one Lua script or command each), by operation',
    labelNames: ['op', 'result'],
    buckets: INDEX_CALL_BUCKETS,
    registers: [registry],
  });
}

/**
 * A counter read at scrape time from a cumulative source (collect-on-scrape), so that hot
 * paths only bump a plain number.
 */
export function scrapedCounter(
  registry: Registry,
  name: string,
  help: string,
  read: () => number,
): Counter {
  const config: CounterConfiguration<string> = {
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  };
  return new Counter(config);
}

/** Options of {@link ServiceMetrics}. */
export interface ServiceMetricsOptions {
  /** Default: a new registry. */
  registry?: Registry;
  /** Node.js process metrics (CPU, memory, event loop lag, GC). Default true. */
  processMetrics?: boolean;
  /** Labels added to every series, e.g. `{ node: 'membership-1' }`. */
  labels?: Record<string, string>;
}

/**
 * Prometheus metrics of a membership service (prom-client). Pass it as
 * `new FabricService({ metrics })`; serve `render()` at `GET /metrics`.
 *
 * | metric | type | what |
 * |---|---|---|
 * | `roomfabric_raids_total` | counter | raids run by this replica |
 * | `roomfabric_raid_duration_seconds{result}` | histogram | whole raid: prepare, move, commits |
 * | `roomfabric_raid_commit_seconds` | histogram | the atomic index move alone (one Lua script) |
 * | `roomfabric_raid_moved_sockets_total` | counter | sockets moved by raids |
 * | `roomfabric_purged_nodes_total`, `roomfabric_purged_sockets_total` | counter | dead-node purges |
 * | `roomfabric_lease_sweep_errors_total` | counter | lease sweeps that failed (index unreachable) |
 * | `roomfabric_service_ready` | gauge | 1 while NATS is connected and the index answers |
 * | `roomfabric_index_call_seconds{op,result}` | histogram | index calls, when observed |
 */
export class ServiceMetrics implements IndexCallObserver {
  readonly registry: Registry;
  private service: StatsSource | undefined;
  private readonly raidSeconds: Histogram<'result'>;
  private readonly raidCommitSeconds: Histogram;
  private readonly raidMoved: Counter;
  private readonly indexCalls: Histogram<'op' | 'result'>;

  constructor(options: ServiceMetricsOptions = {}) {
    const registry = (this.registry = options.registry ?? new Registry());
    if (options.labels) registry.setDefaultLabels(options.labels);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
    const stat = (key: keyof FabricServiceStats) => () => this.service?.stats[key] ?? 0;
    scrapedCounter(registry, 'roomfabric_raids_total', 'Raids run by this replica', stat('raids'));
    scrapedCounter(
      registry,
      'roomfabric_purged_nodes_total',
      'Dead nodes whose sockets this replica purged',
      stat('purgedNodes'),
    );
    scrapedCounter(
      registry,
      'roomfabric_purged_sockets_total',
      'Sockets of dead nodes this replica removed from the index',
      stat('purgedSockets'),
    );
    scrapedCounter(
      registry,
      'roomfabric_lease_sweep_errors_total',
      'Lease sweeps that failed (index unreachable)',
      stat('sweepErrors'),
    );
    const ready = () => this.service?.ready ?? false;
    new Gauge({
      name: 'roomfabric_service_ready',
      help: '1 while the service is ready: NATS connected and the index answered recently',
      registers: [registry],
      collect() {
        this.set(ready() ? 1 : 0);
      },
    });
    this.raidSeconds = new Histogram({
      name: 'roomfabric_raid_duration_seconds',
      help: 'Whole raids: prepare on every node, the atomic move, commits sent',
      labelNames: ['result'],
      buckets: RAID_BUCKETS,
      registers: [registry],
    });
    this.raidCommitSeconds = new Histogram({
      name: 'roomfabric_raid_commit_seconds',
      help: 'The atomic index move of a raid (one Lua script)',
      buckets: INDEX_CALL_BUCKETS,
      registers: [registry],
    });
    this.raidMoved = new Counter({
      name: 'roomfabric_raid_moved_sockets_total',
      help: 'Sockets moved by raids run by this replica',
      registers: [registry],
    });
    this.indexCalls = indexCallHistogram(registry);
  }

  /** @internal Called by the service it is given to. */
  bind(service: StatsSource): void {
    this.service = service;
  }

  /** @internal A raid completed. */
  raidDone(report: RaidReport): void {
    this.raidSeconds.observe({ result: 'ok' }, report.totalMs / 1000);
    this.raidCommitSeconds.observe(report.commitMs / 1000);
    this.raidMoved.inc(report.moved);
  }

  /** @internal A raid failed after `seconds`. */
  raidFailed(seconds: number): void {
    this.raidSeconds.observe({ result: 'failed' }, seconds);
  }

  observeIndexCall(op: string, seconds: number, ok: boolean): void {
    this.indexCalls.observe({ op, result: ok ? 'ok' : 'error' }, seconds);
  }

  /** The exposition text for `GET /metrics`; serve it with {@link contentType}. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The `content-type` of {@link render}'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
