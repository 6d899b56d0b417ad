import { indexCallHistogram, scrapedCounter, type IndexCallObserver } from '@roomfabric/fabric';
import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import { collectDefaultMetrics, Counter, Gauge, Registry, type Histogram } from 'prom-client';
import type { EdgeCounters, EdgeStats } from './stats.js';

/** What the metrics read of an edge at scrape time (an `Edge` is one). */
export interface MetricsSource {
  readonly nodeId: string;
  /** What `/readyz` says. */
  readonly ready: boolean;
  stats(): EdgeStats;
  /** @internal The live counters, read without building `stats()`. */
  readonly counters: EdgeCounters;
  /** @internal The bus's status. */
  readonly busStatus: string;
}

/** Options of {@link EdgeMetrics}. */
export interface EdgeMetricsOptions {
  /** Default: a new registry. */
  registry?: Registry;
  /** Node.js process metrics (CPU, memory, event loop lag, GC). Default true. */
  processMetrics?: boolean;
}

/** Counters of `edge.stats()` exposed as Prometheus counters: [metric, help, counter]. */
const SCRAPED: Array<[string, string, keyof EdgeCounters]> = [
  ['roomfabric_connections_total', 'Connections accepted (handshake done)', 'connections'],
  ['roomfabric_client_frames_total', 'Frames received from clients', 'messagesIn'],
  ['roomfabric_rejected_frames_total', 'Client frames answered with an error', 'rejectedFrames'],
  ['roomfabric_deliveries_total', 'Messages queued to local sockets', 'deliveries'],
  ['roomfabric_volatile_drops_total', 'Volatile messages dropped (backpressure)', 'volatileDrops'],
  [
    'roomfabric_slow_consumer_closes_total',
    'Sockets closed past the buffer limit (3008)',
    'slowConsumerCloses',
  ],
  ['roomfabric_socket_writes_total', 'WebSocket writes (coalesced frames)', 'writes'],
  ['roomfabric_bus_malformed_total', 'Bus messages dropped as malformed', 'busMalformed'],
  ['roomfabric_raid_moves_total', 'Local sockets moved by raids', 'raidMoves'],
  [
    'roomfabric_history_gaps_filled_total',
    'Holes in a history room live stream filled from the history',
    'historyGapsFilled',
  ],
  [
    'roomfabric_history_gap_entries_total',
    'Entries delivered by history gap fills',
    'historyGapEntries',
  ],
  [
    'roomfabric_history_gaps_lost_total',
    'History gaps not filled: members closed with 4004',
    'historyGapsLost',
  ],
  ['roomfabric_background_errors_total', 'Background operations that failed', 'backgroundErrors'],
  [
    'roomfabric_connections_refused_total',
    'Connections refused by a cap (node, address, user)',
    'connectionsRefused',
  ],
  [
    'roomfabric_flood_pauses_total',
    'Times a socket was not read for a while: its user or the node over its frame budget',
    'floodPauses',
  ],
  ['roomfabric_rate_limited_total', 'Client frames refused over a socket allowance', 'rateLimited'],
];

const bound = new WeakMap<MetricsSource, EdgeMetrics>();

/**
 * Prometheus metrics of one edge node (prom-client), read from the node's own counters
 * when scraped, so the delivery path only bumps plain numbers. `GET /metrics` serves them.
 *
 * Besides the counters above: `roomfabric_connections` and `roomfabric_rooms` (gauges, now),
 * `roomfabric_bus_messages_total{direction="in"|"out"}`, `roomfabric_ready` and
 * `roomfabric_bus_connected` (0/1), `roomfabric_lease_reasserts_total`,
 * `roomfabric_lease_failures_total`; and, when the node's index is observed through
 * {@link EdgeMetrics.observeIndexCall} (the `roomfabric` CLI does it), `roomfabric_joins_total`,
 * `roomfabric_leaves_total` and `roomfabric_index_call_seconds{op,result}` (Lua script latency).
 *
 * @example
 * const metrics = new EdgeMetrics();
 * const edge = createEdge({ membership: timed(membership, metrics) });
 * metrics.bind(edge); // GET /metrics on the edge now serves this registry
 */
export class EdgeMetrics implements IndexCallObserver {
  readonly registry: Registry;
  private edge: MetricsSource | undefined;
  private readonly joins: Counter;
  private readonly leaves: Counter;
  private readonly indexCalls: Histogram<'op' | 'result'>;

  constructor(options: EdgeMetricsOptions = {}) {
    const registry = (this.registry = options.registry ?? new Registry());
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
    const read = (key: keyof EdgeCounters) => () => this.edge?.counters[key] ?? 0;
    for (const [name, help, key] of SCRAPED) scrapedCounter(registry, name, help, read(key));
    const current = () => this.edge;
    const gauge = (name: string, help: string, value: (edge: MetricsSource) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          const edge = current();
          this.set(edge ? value(edge) : 0);
        },
      });
    gauge('roomfabric_connections', 'Open client connections', (e) => e.stats().sockets);
    gauge('roomfabric_rooms', 'Rooms with at least one local member', (e) => e.stats().rooms);
    gauge('roomfabric_ready', '1 while /readyz answers 200', (e) => (e.ready ? 1 : 0));
    gauge('roomfabric_bus_connected', '1 while the bus (NATS) is connected', (e) =>
      e.busStatus === 'connected' ? 1 : 0,
    );
    new Counter({
      name: 'roomfabric_bus_messages_total',
      help: 'Bus (NATS) messages: in = received for local rooms and rf.all, out = published',
      labelNames: ['direction'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ direction: 'in' }, current()?.counters.busIn ?? 0);
        this.inc({ direction: 'out' }, current()?.counters.busOut ?? 0);
      },
    });
    const lease = (key: 'leaseReasserts' | 'leaseFailures') => () =>
      this.edge ? this.edge.stats()[key] : 0;
    scrapedCounter(
      registry,
      'roomfabric_lease_reasserts_total',
      'Times the node found its lease gone and re-asserted its membership',
      lease('leaseReasserts'),
    );
    scrapedCounter(
      registry,
      'roomfabric_lease_failures_total',
      'Lease renewals that failed (index unreachable)',
      lease('leaseFailures'),
    );
    this.joins = new Counter({
      name: 'roomfabric_joins_total',
      help: 'Socket-room joins written to the index by this node',
      registers: [registry],
    });
    this.leaves = new Counter({
      name: 'roomfabric_leaves_total',
      help: 'Socket-room leaves written to the index by this node (disconnects included)',
      registers: [registry],
    });
    this.indexCalls = indexCallHistogram(registry);
  }

  /** Reads `edge`'s counters on every scrape; `GET /metrics` of that edge serves this registry. */
  bind(edge: MetricsSource): this {
    if (bound.has(edge)) {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `edge ${edge.nodeId} has metrics`);
    }
    bound.set(edge, this);
    this.edge = edge;
    this.registry.setDefaultLabels({ node: edge.nodeId });
    return this;
  }

  observeIndexCall(op: string, seconds: number, ok: boolean, result?: unknown): void {
    this.indexCalls.observe({ op, result: ok ? 'ok' : 'error' }, seconds);
    if (!ok || !Array.isArray(result)) return;
    if (op === 'join') this.joins.inc(result.length);
    else if (op === 'leave' || op === 'removeSocket') this.leaves.inc(result.length);
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

/** The metrics bound to `edge`, or new ones bound to it on first use (what `GET /metrics` serves). */
export function metricsFor(edge: MetricsSource): EdgeMetrics {
  return bound.get(edge) ?? new EdgeMetrics().bind(edge);
}
