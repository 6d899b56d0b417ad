import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NatsBus } from '@roomfabric/bus';
import { connect, type RoomfabricClient } from '@roomfabric/client';
import { createEdge, createJsonLogger } from '@roomfabric/edge';
import { RedisMembership } from '@roomfabric/membership';
import { createServer } from '@roomfabric/server';
import { startNats, startRedis } from '@roomfabric/testkit';
import { Server } from 'socket.io';
import { io as sioConnect, type Socket as SioClient } from 'socket.io-client';
import { table, type Progress } from '../report.js';
import type { Check, ScenarioResult } from '../scenario.js';

export interface RecoveryOptions {
  /** Clients in the room, all dropped at once. */
  clients: number;
  /** Messages published while they are away. */
  missed: number;
  noPeer: boolean;
}

interface Figures {
  system: string;
  /** Publishing the missed messages: stored and acknowledged (ours), or emitted (peer). */
  publishMsgsPerSec: number;
  /** From the drop to each client's last missed message (reconnect delay: 1 s for both). */
  catchUpP50Ms: number;
  catchUpMaxMs: number;
  /** Clients that got every missed message once, in order, and were told they recovered. */
  complete: number;
}

/** A client and what it got: the missed messages, when it had them all, how it rejoined. */
interface Watched<C> {
  client: C;
  got: number[];
  done: number;
  recovered: boolean | null;
}

const ROOM = 'hist:bench';
const RECONNECT_MS = 1000;
const WINDOW = 64;

/**
 * A reconnect storm with history: `clients` members of one room lose their connections at
 * once (the server drops the transports), `missed` messages are published while they are
 * away, and they reconnect after 1 s. Ours: one edge on NATS (JetStream history) and
 * Redis, the SDK's recovery. Peer: Socket.IO 4.8's connection state recovery (in-memory
 * adapter: the only one with which it works on one node, no Redis). Everything runs in this
 * process, clients included, so the figures compare the two rather than rate a machine.
 */
export async function recovery(o: RecoveryOptions, progress: Progress): Promise<ScenarioResult> {
  const ours = await runOurs(o, progress);
  const peer = o.noPeer ? undefined : await runPeer(o, progress);
  progress.end();
  const rows = [ours, ...(peer ? [peer] : [])].map((f) => [
    f.system,
    Math.round(f.publishMsgsPerSec),
    Math.round(f.catchUpP50Ms),
    Math.round(f.catchUpMaxMs),
    `${f.complete}/${o.clients}`,
  ]);
  const checks: Check[] = [ours, ...(peer ? [peer] : [])].map((f) => ({
    what: `${f.system}: clients with every missed message, once, in order`,
    delivered: f.complete,
    expected: o.clients,
    ok: f.complete === o.clients,
  }));
  return {
    scenario: 'recovery',
    params: { ...o },
    ours,
    peer,
    ratio: peer ? { catchUpMax: ours.catchUpMaxMs / peer.catchUpMaxMs } : {},
    goals: [],
    checks,
    table: table(
      ['system', 'publish msgs/s', 'catch-up p50 ms', 'catch-up max ms', 'complete'],
      rows,
    ),
    notes: [
      'ours stores every message in JetStream (file storage) before delivering it; the peer keeps them in process memory and loses them with the process',
    ],
  };
}

async function runOurs(o: RecoveryOptions, progress: Progress): Promise<Figures> {
  progress.step(`ours: ${o.clients} clients, ${o.missed} missed messages`);
  await using nats = await startNats({ jetstream: true });
  await using redis = await startRedis();
  const history = [{ rooms: ['hist:*'], maxMessages: o.missed * 2 }];
  const bus = await NatsBus.connect({ servers: nats.url, name: 'bench-edge' });
  const edge = createEdge({
    bus,
    membership: new RedisMembership({ url: redis.url }),
    history,
    recoveryLimit: o.missed * 2,
    policy: 'open',
    logger: createJsonLogger({ level: 'error' }),
  });
  const server = await createServer({ nats: nats.url, redis: redis.url, history });
  const { port } = await edge.listen(0);
  const url = `ws://127.0.0.1:${port}/ws`;
  const clients: Array<Watched<RoomfabricClient>> = [];
  try {
    for (let i = 0; i < o.clients; i++) {
      const client = connect(url, {
        reconnect: { minDelayMs: RECONNECT_MS, maxDelayMs: RECONNECT_MS, jitter: 0 },
      });
      const c: Watched<typeof client> = { client, got: [], done: 0, recovered: null };
      client.on('n', (n) => {
        c.got.push(n as number);
        if (c.got.length === o.missed) c.done = performance.now();
      });
      client.on('rejoined', (r) => (c.recovered = r.recovered));
      clients.push(c);
    }
    await Promise.all(clients.map((c) => c.client.ready()));
    await Promise.all(clients.map((c) => c.client.join(ROOM)));
    await warmUp(clients, () => server.to(ROOM).emit('w', 0));
    for (const socket of edge.sockets.values()) socket.ws.terminate();
    const started = performance.now();
    await inWindows(o.missed, (i) => server.to(ROOM).emit('n', i));
    const publishMs = performance.now() - started;
    await until(() => clients.every((c) => c.done > 0), 120_000);
    return figures('roomfabric', o, started, publishMs, clients);
  } finally {
    for (const c of clients) c.client.close();
    await server.close();
    await edge.close();
    await bus.close();
  }
}

async function runPeer(o: RecoveryOptions, progress: Progress): Promise<Figures> {
  progress.step(`socket.io: ${o.clients} clients, ${o.missed} missed messages`);
  const http = createHttpServer();
  const io = new Server(http, {
    transports: ['websocket'],
    perMessageDeflate: false,
    serveClient: false,
    connectionStateRecovery: { maxDisconnectionDuration: 120_000, skipMiddlewares: true },
  });
  io.on('connection', (socket) => {
    if (!socket.recovered) void socket.join(ROOM);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  const clients: Array<Watched<SioClient>> = [];
  try {
    for (let i = 0; i < o.clients; i++) {
      const client = sioConnect(`http://127.0.0.1:${port}`, {
        transports: ['websocket'],
        reconnectionDelay: RECONNECT_MS,
        reconnectionDelayMax: RECONNECT_MS,
        randomizationFactor: 0,
      });
      const c: Watched<typeof client> = { client, got: [], done: 0, recovered: null };
      client.on('n', (n: number) => {
        c.got.push(n);
        if (c.got.length === o.missed) c.done = performance.now();
      });
      client.on('connect', () => {
        if (client.recovered) c.recovered = true;
      });
      clients.push(c);
    }
    await until(() => clients.every((c) => c.client.connected), 30_000);
    await until(() => io.sockets.adapter.rooms.get(ROOM)?.size === o.clients, 10_000);
    // Socket.IO recovers from the offset of the last event a client got: it needs one.
    await warmUp(clients, () => void io.to(ROOM).emit('w', 0));
    // The server drops every transport (not a server-side disconnect, which ends the session).
    for (const socket of io.sockets.sockets.values()) socket.conn.close();
    const started = performance.now();
    await inWindows(o.missed, (i) => {
      io.to(ROOM).emit('n', i);
      return Promise.resolve();
    });
    const publishMs = performance.now() - started;
    await until(
      () => clients.every((c) => c.done > 0),
      120_000,
      `${clients.filter((c) => c.done > 0).length} caught up; got ${clients
        .map((c) => c.got.length)
        .join(',')
        .slice(0, 200)}`,
    );
    return figures('socket.io', o, started, publishMs, clients);
  } finally {
    for (const c of clients) c.client.close();
    await new Promise<void>((resolve) => void io.close(() => resolve()));
  }
}

function figures(
  system: string,
  o: RecoveryOptions,
  dropped: number,
  publishMs: number,
  clients: ReadonlyArray<Watched<unknown>>,
): Figures {
  const expected = Array.from({ length: o.missed }, (_, i) => i);
  const complete = clients.filter(
    (c) =>
      c.recovered === true && c.got.length === o.missed && c.got.every((n, i) => n === expected[i]),
  ).length;
  const catchUp = clients.map((c) => c.done - dropped).sort((a, b) => a - b);
  return {
    system,
    publishMsgsPerSec: (o.missed / publishMs) * 1000,
    catchUpP50Ms: catchUp[Math.floor(catchUp.length / 2)]!,
    catchUpMaxMs: catchUp[catchUp.length - 1]!,
    complete,
  };
}

/** Sends one event `w` to the room and waits until every client has it. */
async function warmUp(
  clients: ReadonlyArray<{ client: { on(event: 'w', fn: () => void): unknown } }>,
  send: () => unknown,
): Promise<void> {
  let got = 0;
  for (const c of clients) c.client.on('w', () => got++);
  await send();
  await until(() => got === clients.length, 10_000, `${got} warmed up`);
}

/** Runs `send(0..n-1)` with up to WINDOW in flight, each started in order. */
async function inWindows(n: number, send: (i: number) => Promise<void>): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < n; i++) {
    const p = send(i).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= WINDOW) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

async function until(check: () => boolean, timeoutMs: number, what = ''): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline)
      throw new Error(`recovery bench: timed out waiting (${what})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
