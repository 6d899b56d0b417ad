import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Logger, FabricService, ServiceMetrics } from '@roomfabric/fabric';

/**
 * The membership service's HTTP endpoints (`roomfabric membership --port N`):
 * - `GET /healthz`: 200 while the process serves (503 once it is shutting down);
 * - `GET /readyz`: 200 while NATS is connected and the index (Redis) answered recently;
 * - `GET /metrics`: Prometheus metrics (`ServiceMetrics`).
 */
export function createServiceHttpServer(
  service: FabricService,
  metrics: ServiceMetrics,
  node: string,
  logger: Logger,
  closing: () => boolean,
): Server {
  return createServer((req, res) => {
    const path = req.url?.split('?')[0];
    if (path === '/healthz') {
      const down = closing();
      json(res, down ? 503 : 200, { status: down ? 'closing' : 'ok', node });
    } else if (path === '/readyz') {
      const ready = service.ready && !closing();
      json(res, ready ? 200 : 503, { ready, node });
    } else if (path === '/metrics') {
      metrics.render().then(
        (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body),
        (err: unknown) => {
          logger.warn({ err }, 'metrics scrape failed');
          res.writeHead(500).end();
        },
      );
    } else {
      res.writeHead(404).end();
    }
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
