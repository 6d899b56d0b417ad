import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Edge } from './edge.js';
import { metricsFor } from './metrics.js';

/**
 * Answers the edge's operational endpoints; returns false for any other path.
 * - `GET /healthz`: 200 while the process serves (503 while closing).
 * - `GET /readyz`: 200 only while the node is ready (bus connected, lease held).
 * - `GET /stats`: the node's counters as JSON.
 * - `GET /metrics`: Prometheus metrics (`EdgeMetrics`, created on the first scrape unless bound).
 */
export function handleHttp(edge: Edge, req: IncomingMessage, res: ServerResponse): boolean {
  const path = req.url?.split('?')[0];
  if (path === '/healthz') {
    const closing = edge.isClosing;
    send(res, closing ? 503 : 200, { status: closing ? 'closing' : 'ok', node: edge.nodeId });
    return true;
  }
  if (path === '/readyz') {
    const ready = edge.ready;
    send(res, ready ? 200 : 503, { ready, node: edge.nodeId, bus: edge.bus.status });
    return true;
  }
  if (path === '/stats') {
    const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
    send(res, 200, { ...edge.stats(), memory: { rss, heapUsed, heapTotal, external } });
    return true;
  }
  if (path === '/metrics') {
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
  return false;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
