import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createEdge, createJsonLogger, logLevelFromEnv, type Edge } from '@roomfabric/edge';
import { intFlag, parseFlags } from './args.js';
import { demoPage } from './demo-page.js';

export const devHelp = `Usage: roomfabric dev [--port N] [--host H]

Starts an embedded single-process fabric (in-memory bus and membership, no NATS or
Redis): the WebSocket endpoint at /ws, GET /healthz, and a chat demo at /.
Clients may join rooms and broadcast to their rooms (policy "open").

Options:
  --port N    port to listen on (default 3000, or $PORT; 0 picks a free one)
  --host H    address to bind (default 127.0.0.1; 0.0.0.0 for every interface)
  -h, --help  show this help
`;

export interface DevServer {
  edge: Edge;
  url: string;
  close(): Promise<void>;
}

/** Starts `roomfabric dev` in this process. */
export async function startDev(
  argv: string[],
  print: (line: string) => void,
): Promise<DevServer | undefined> {
  const flags = parseFlags(argv, { port: { type: 'string' }, host: { type: 'string' } });
  if (flags.help) {
    print(devHelp);
    return undefined;
  }
  const port = intFlag('port', flags.port ?? process.env.PORT, 3000, 0, 65535);
  const host = (flags.host as string | undefined) ?? '127.0.0.1';
  const bundle = await readFile(fileURLToPath(import.meta.resolve('@roomfabric/client/browser')));
  const logger = createJsonLogger({ level: logLevelFromEnv('info') });
  const server = createServer((req, res) => {
    const path = req.url?.split('?')[0];
    if (edge.handleHttp(req, res)) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(demoPage(edge.path));
    } else if (path === '/client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundle);
    } else {
      res.writeHead(404).end();
    }
  });
  const edge = createEdge({ server, policy: 'open', logger, nodeId: 'dev' });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  const shown =
    host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${shown}:${bound}`;
  print(`roomfabric dev: embedded fabric (in-memory bus and membership), node ${edge.nodeId}`);
  print(`  demo       ${url}/`);
  print(`  websocket  ws://${shown}:${bound}${edge.path}`);
  print(`  health     ${url}/healthz`);
  print('Press Ctrl-C to stop.');
  return {
    edge,
    url,
    async close() {
      await edge.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
