import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { hardenHttpServer, LISTEN_BACKLOG, type Edge } from '@roomfabric/edge';
import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import { demoPage } from './demo-page.js';

/** The browser demo: its page and the SDK bundle it imports from `/client.js`. */
export interface DemoAssets {
  page: string;
  bundle: Buffer;
}

/** Builds the demo page for an edge's WebSocket path and reads the browser SDK bundle. */
export async function loadDemoAssets(wsPath: string, mode: string): Promise<DemoAssets> {
  const bundlePath = fileURLToPath(import.meta.resolve('@roomfabric/client/browser'));
  return { page: demoPage(wsPath, mode), bundle: await readFile(bundlePath) };
}

/**
 * The HTTP server of a `roomfabric` edge: the edge's endpoints (`/healthz`, `/readyz`,
 * `/stats`, `/metrics`, and WebSocket upgrades once the edge is attached), the demo at `/`
 * and `/client.js` when `demo` is given, 426 for a plain GET of the WebSocket path, else 404.
 * While `draining()` is true, `/readyz` answers 503 (a load balancer stops sending new
 * clients) while the connected ones are still served. `edge` is read per request, so the
 * server can be created before the edge it serves.
 */
export function createEdgeHttpServer(
  edge: () => Edge,
  demo?: DemoAssets,
  draining: () => boolean = () => false,
): Server {
  // Headers and requests are timed (a client that sends half a request and stalls is cut
  // off), as on an edge's own server.
  const server = createServer((req, res) => {
    const current = edge();
    const path = req.url?.split('?')[0];
    if (path === '/readyz' && draining()) {
      res.writeHead(503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ ready: false, node: current.nodeId, draining: true }));
      return;
    }
    if (current.handleHttp(req, res)) return;
    if (demo && (path === '/' || path === '/client.js')) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(demo.page);
      } else {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(demo.bundle);
      }
      return;
    }
    res.writeHead(path === current.path ? 426 : 404).end();
  });
  return hardenHttpServer(server);
}

/**
 * Listens on `port` and `host`; resolves with the bound port. A failed bind rejects with
 * `RF_LISTEN_FAILED` naming the address, why (`EADDRINUSE`, `EADDRNOTAVAIL`, ...) and what
 * to do; the system error is its `cause`.
 */
export function listenOn(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(listenError(err, port, host));
    server.once('error', onError);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function listenError(err: NodeJS.ErrnoException, port: number, host: string): RoomfabricError {
  const where = `${shownHost(host)}:${port}`;
  const why =
    err.code === 'EADDRINUSE'
      ? `port ${port} is taken (EADDRINUSE): stop what listens there, or pass --port with another one`
      : err.code === 'EACCES'
        ? `no permission to bind port ${port} (EACCES): pick a port above 1023`
        : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND'
          ? `${host} is not an address of this machine (${err.code}): check --host`
          : err.message;
  return new RoomfabricError(ErrorCode.LISTEN_FAILED, `cannot listen on ${where}: ${why}`, {
    cause: err,
    details: { host, port, errno: err.code },
  });
}

/** Closes a server, resolving once every connection is gone. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeIdleConnections();
    // Requests still in progress (a stalled client) get a moment, then are cut off: a
    // shutdown must not wait on them.
    setTimeout(() => server.closeAllConnections(), 500).unref();
  });
}

/** `host` as it goes in a URL: wildcards become `localhost`, IPv6 gets brackets. */
export function shownHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
