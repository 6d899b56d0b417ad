import type { AddressInfo } from 'node:net';
import { NatsBus } from '@roomfabric/bus';
import { WebSocketServer, type WebSocket } from 'ws';
import { serveRequests, sendEvent } from '../child.js';

/*
 * A plain `ws` server, two ways:
 * - `ceiling`: what delivery costs with no rooms, no protocol and no checks. It subscribes to
 *   one NATS subject and queues each message's bytes for every connection; at the end of the
 *   event-loop turn each connection gets ONE write of everything queued for it (one
 *   `Buffer.concat`, one `ws.send`). The upper bound for the edge's delivery path.
 * - `idle`: accepts connections and holds them (the memory baseline).
 *
 *   node ws-server.js ceiling NATS_URL SUBJECT
 *   node ws-server.js idle
 */

interface Conn {
  ws: WebSocket;
  out: Uint8Array[];
  bytes: number;
}

const [mode, natsUrl, subject] = process.argv.slice(2);
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
const listening = new Promise((resolve) => wss.once('listening', resolve));
const conns: Conn[] = [];
let dirty: Conn[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  const list = dirty;
  dirty = [];
  for (const c of list) {
    const out = c.out;
    c.ws.send(out.length === 1 ? out[0]! : Buffer.concat(out, c.bytes));
    c.out = [];
    c.bytes = 0;
  }
}

function deliver(payload: Uint8Array): void {
  const frame = Buffer.from(payload); // one copy per message, like the edge's one encode
  for (const c of conns) {
    if (c.out.length === 0) dirty.push(c);
    c.out.push(frame);
    c.bytes += frame.length;
  }
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

wss.on('connection', (ws) => {
  const conn: Conn = { ws, out: [], bytes: 0 };
  conns.push(conn);
  ws.on('close', () => conns.splice(conns.indexOf(conn), 1));
});

if (mode === 'ceiling') {
  const bus = await NatsBus.connect({ servers: [natsUrl!], name: 'bench-ceiling' });
  await bus.subscribe(subject!, deliver);
}
await listening;
sendEvent('ready', { port: (wss.address() as AddressInfo).port });
serveRequests({ stats: () => ({ sockets: conns.length }) });
