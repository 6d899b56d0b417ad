import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@roomfabric/fabric';
import { metricsFor, type MetricsSource } from './metrics.js';

/** What the operational endpoints read of an edge (an `Edge` is one). */
export interface OperationalView extends MetricsSource {
  /** True once `close()` was called. */
  readonly isClosing: boolean;
  /** @internal */
  readonly logger: Logger;
  /** @internal Who may see room names on `/stats`. */
  readonly statsAccess: { public: boolean; token: string | undefined };
}

const PATHS = new Set(['/healthz', '/readyz', '/stats', '/metrics']);

/**
 * Answers the edge's operational endpoints; returns false for any other path.
 * - `GET /healthz`: 200 while the process serves (503 while closing).
 * - `GET /readyz`: 200 only while the node is ready (bus connected, lease held).
 * - `GET /stats`: the node's counters as JSON. Room names (`busInByRoom`, the busiest
 *   rooms) only when the edge allows them: `stats.public`, or `stats.token` sent as
 *   `Authorization: Bearer <token>`; they may name users (`$user:<id>`).
 * - `GET /metrics`: Prometheus metrics (`EdgeMetrics`, created on the first scrape unless bound).
 * Other methods than GET and HEAD get 405.
 */
export function handleHttp(
  edge: OperationalView,
  req: IncomingMessage,
  res: ServerResponse,
): boolean {
  const path = req.url?.split('?')[0];
  if (path === undefined || !PATHS.has(path)) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return true;
  }
  if (path === '/healthz') {
    const closing = edge.isClosing;
    send(res, closing ? 503 : 200, { status: closing ? 'closing' : 'ok', node: edge.nodeId });
    return true;
  }
  if (path === '/readyz') {
    const ready = edge.ready;
    send(res, ready ? 200 : 503, { ready, node: edge.nodeId, bus: edge.busStatus });
    return true;
  }
  if (path === '/stats') {
    const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
    const { busInByRoom, ...counters } = edge.stats();
    const rooms = mayShowRooms(edge, req) ? { busInByRoom } : {};
    send(res, 200, { ...counters, ...rooms, memory: { rss, heapUsed, heapTotal, external } });
    return true;
  }
  const metrics = metricsFor(edge);
  metrics.render().then(
    (body) => {
      res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
      res.end(body);
    },
    (err: unknown) => {
      edge.logger.warn({ err }, 'metrics scrape failed');
      res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
    },
  );
  return true;
}

/** True when `/stats` may list room names to this request. */
function mayShowRooms(edge: OperationalView, req: IncomingMessage): boolean {
  const { statsAccess } = edge;
  if (statsAccess.public) return true;
  if (statsAccess.token === undefined) return false;
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const expected = Buffer.from(statsAccess.token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
