/*
 * The HTTP surface of an edge, probed over raw TCP so the test sees exactly what the server
 * sends and whether it closes: an edge that owns its HTTP server (`listen(0)`), an edge
 * attached to a server of ours (`createEdge({ server })`), and `roomfabric dev` as a child
 * process under a 300-descriptor limit, as the attacked node ran.
 *
 * Contract:
 * - an upgrade on any path but /ws is answered at once with 404 and closed by the server;
 * - an upgrade on /ws with bad headers gets a 4xx and is closed;
 * - an offered subprotocol is not echoed in the 101 (the protocol uses none);
 * - /healthz, /readyz, /stats and /metrics answer methods other than GET and HEAD with 405
 *   and an Allow header;
 * - a request whose headers never complete is closed within `upgradeTimeoutMs`
 *   (EdgeOptions, default 10 s);
 * - after 300 upgrades on wrong paths the node still serves, its connection count is back to its
 *   baseline, and `edge.close()` (or SIGTERM for `roomfabric dev`) finishes within 3 s
 *   even with half-open sockets still connected.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import { encode } from '@msgpack/msgpack';
import { createEdge, createJsonLogger, type Edge, type EdgeOptions } from '@roomfabric/edge';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import {
  badUpgrades,
  otherPaths,
  probeHttp,
  sleep,
  SocketPool,
  startDevChild,
  tcp,
  upgradeRequest,
  WireClient,
  wsClientFrame,
  type RawHttp,
} from '../support/fuzz.js';

const UPGRADE_TIMEOUT_MS = 500;
/** How long after its bound a slow request may take to be cut off (timers, scheduling). */
const SLACK_MS = 1000;
const logger = () => createJsonLogger({ level: 'error' });

interface OwnedEdge {
  edge: Edge;
  port: number;
  url: string;
  /** Resolves with how long `edge.close()` took, or undefined if not within `withinMs`. */
  closeWithin(withinMs: number): Promise<number | undefined>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * An edge that owns its HTTP server (`listen(0)`), with a short `upgradeTimeoutMs` unless
 * `upgradeTimeoutMs` says otherwise (undefined: the default, 10 s).
 */
async function ownedEdge(
  upgradeTimeoutMs: number | undefined = UPGRADE_TIMEOUT_MS,
): Promise<OwnedEdge> {
  // `upgradeTimeoutMs` is new in EdgeOptions; typed so that this compiles before and after.
  const options: EdgeOptions & { upgradeTimeoutMs?: number } = {
    policy: 'open',
    ...(upgradeTimeoutMs !== undefined && { upgradeTimeoutMs }),
    logger: logger(),
  };
  const edge = createEdge(options);
  const { port } = await edge.listen(0);
  let closing: Promise<void> | undefined;
  const closeWithin = async (withinMs: number) => {
    const t0 = Date.now();
    closing ??= edge.close();
    const done = await Promise.race([closing.then(() => true), sleep(withinMs).then(() => false)]);
    return done ? Date.now() - t0 : undefined;
  };
  return {
    edge,
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    closeWithin,
    async [Symbol.asyncDispose]() {
      await closeWithin(3000);
    },
  };
}

/** An edge attached to an HTTP server of ours, which has no other 'upgrade' listener. */
async function attachedEdge(server: Server): Promise<{ edge: Edge; port: number; url: string }> {
  const edge = createEdge({ server, policy: 'open', logger: logger() });
  await edge.whenStarted();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { edge, port, url: `ws://127.0.0.1:${port}/ws` };
}

const connections = (server: Server) =>
  new Promise<number>((resolve, reject) =>
    server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );

const describeProbe = (r: RawHttp) =>
  `status ${r.status ?? 'none'}, ${r.ended ? `closed after ${r.endedAfterMs} ms` : 'NOT closed'}` +
  (r.error ? ` (${r.error})` : '');

/** Upgrades on other paths: what is wrong with each answer (want 404, then the server closes). */
async function checkOtherPaths(port: number, pool: SocketPool): Promise<string[]> {
  const results = await Promise.all(
    otherPaths.map(async (path) => ({
      path,
      r: await probeHttp(port, upgradeRequest(path), pool, { waitMs: 1500 }),
    })),
  );
  const table = results.map(
    ({ path, r }) =>
      `  ${JSON.stringify(path.length > 40 ? path.slice(0, 37) + '...' : path)} -> ${describeProbe(r)}`,
  );
  console.log(`upgrades on other paths (port ${port}):\n${table.join('\n')}`);
  return results
    .filter(({ r }) => r.status !== 404 || !r.ended || r.endedAfterMs! > 1000)
    .map(({ path, r }) => `${path.slice(0, 40)}: ${describeProbe(r)}`);
}

/** Upgrades on /ws with bad headers (want a 4xx, then the server closes). */
async function checkBadUpgrades(port: number, pool: SocketPool): Promise<string[]> {
  const results = await Promise.all(
    badUpgrades.map(async ({ name, request }) => ({
      name,
      r: await probeHttp(port, request, pool, { waitMs: 1500 }),
    })),
  );
  console.log(
    `bad upgrades on /ws (port ${port}):\n${results.map(({ name, r }) => `  ${name} -> ${describeProbe(r)}`).join('\n')}`,
  );
  return results
    .filter(({ r }) => r.status === undefined || r.status < 400 || r.status > 499 || !r.ended)
    .map(({ name, r }) => `${name}: ${describeProbe(r)}`);
}

/** A subprotocol offer: the 101 must not select one. */
async function checkSubprotocol(port: number, pool: SocketPool): Promise<string[]> {
  const r = await probeHttp(
    port,
    upgradeRequest('/ws', { 'Sec-WebSocket-Protocol': 'chat, superchat' }),
    pool,
    { untilHeaders: true, waitMs: 1500 },
  );
  const out: string[] = [];
  if (r.status !== 101) out.push(`status ${r.status ?? 'none'} (want 101)`);
  if (r.headers['sec-websocket-protocol'] !== undefined) {
    out.push(`Sec-WebSocket-Protocol echoed: ${r.headers['sec-websocket-protocol']}`);
  }
  return out;
}

const opsPaths = ['/healthz', '/readyz', '/stats', '/metrics'];

/** Methods other than GET and HEAD on the operational endpoints: 405 with Allow. */
async function checkMethods(port: number, pool: SocketPool): Promise<string[]> {
  const request = (method: string, path: string) =>
    `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
  const out: string[] = [];
  const rows: string[] = [];
  for (const path of opsPaths) {
    const answers = await Promise.all(
      ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].map(async (method) => ({
        method,
        r: await probeHttp(port, request(method, path), pool, { waitMs: 1500 }),
      })),
    );
    rows.push(
      `  ${path.padEnd(9)} ${answers.map(({ method, r }) => `${method} ${r.status ?? '-'}${r.headers.allow ? ` (Allow: ${r.headers.allow})` : ''}`).join(', ')}`,
    );
    for (const { method, r } of answers) {
      if (method === 'GET' || method === 'HEAD') {
        if (r.status !== 200) out.push(`${method} ${path}: ${r.status ?? 'none'} (want 200)`);
      } else if (r.status !== 405 || !/\bGET\b/.test(r.headers.allow ?? '')) {
        out.push(
          `${method} ${path}: ${r.status ?? 'none'}, Allow ${JSON.stringify(r.headers.allow)} (want 405, Allow: GET, HEAD)`,
        );
      }
    }
  }
  console.log(`methods on the operational endpoints (port ${port}):\n${rows.join('\n')}`);
  return out;
}

/** Requests whose headers never complete, started now; resolves with what went wrong. */
function startSlowRequests(port: number, pool: SocketPool, boundMs: number): Promise<string[]> {
  const slow: Array<[string, (s: NetSocket) => void]> = [
    ['GET /ws, headers unfinished', (s) => s.write('GET /ws HTTP/1.1\r\nHost: x\r\n')],
    [
      'GET /, headers unfinished',
      (s) => s.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'),
    ],
    ['nothing sent at all', () => undefined],
    [
      'one header byte every 100 ms',
      (s) => {
        const text = upgradeRequest('/ws') + 'X'.repeat(10_000);
        let i = 0;
        const t = setInterval(() => {
          if (s.destroyed || s.writableEnded) return clearInterval(t);
          s.write(text[i++]!);
        }, 100);
        s.once('close', () => clearInterval(t));
      },
    ],
  ];
  return Promise.all(
    slow.map(async ([name, act]) => {
      const s = await tcp(port, pool);
      s.resume(); // read what comes (a 408, say), so that 'end' is seen
      const t0 = Date.now();
      act(s);
      const closed = new Promise<number>((resolve) => {
        const done = () => resolve(Date.now() - t0);
        s.once('end', done);
        s.once('close', done);
      });
      const took = await Promise.race([closed, sleep(boundMs + SLACK_MS).then(() => undefined)]);
      console.log(
        `slow request "${name}": ${took === undefined ? `NOT closed within ${boundMs + SLACK_MS} ms` : `closed after ${took} ms`}`,
      );
      return took === undefined ? [`${name}: not closed within ${boundMs} + ${SLACK_MS} ms`] : [];
    }),
  ).then((lists) => lists.flat());
}

/**
 * 300 upgrades on wrong paths, the attack that was seen, in waves of 50; a client that
 * gets no answer gives up with FIN and keeps its socket (the server's side then sits in
 * CLOSE-WAIT until the server closes it), as the attacker's did.
 */
async function badRequests(
  port: number,
  pool: SocketPool,
  count = 300,
): Promise<{ answered: number; closed: number; statuses: Record<string, number> }> {
  let answered = 0;
  let closed = 0;
  const statuses: Record<string, number> = {};
  for (let start = 0; start < count; start += 50) {
    const wave = await Promise.all(
      Array.from({ length: Math.min(50, count - start) }, (_, i) =>
        probeHttp(port, upgradeRequest(otherPaths[(start + i) % otherPaths.length]!), pool, {
          waitMs: 1500,
          onTimeout: 'end',
        }),
      ),
    );
    for (const r of wave) {
      const key = String(r.status ?? 'none');
      statuses[key] = (statuses[key] ?? 0) + 1;
      if (r.status === 404) answered++;
      if (r.ended) closed++;
    }
  }
  return { answered, closed, statuses };
}

/** Can a client still connect and get HELLO? */
async function helloWorks(url: string): Promise<string[]> {
  try {
    const c = await WireClient.open(url, null, 3000);
    c.terminate();
    return [];
  } catch (err) {
    return [`a new client gets no HELLO: ${err instanceof Error ? err.message : String(err)}`];
  }
}

/** Sockets a careless or hostile peer leaves behind; none of them ever sends FIN. */
async function openHalfOpen(port: number, pool: SocketPool): Promise<void> {
  const partial = await tcp(port, pool);
  partial.write('GET /ws HTTP/1.1\r\nHost: x\r\n');
  await tcp(port, pool); // connected, nothing sent
  const keepAlive = await tcp(port, pool);
  keepAlive.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  const otherPath = await tcp(port, pool);
  otherPath.write(upgradeRequest('/nope'));
  // Upgraded on /ws and never answers a close frame: one before CONNECT, one after.
  for (const connect of [false, true]) {
    const ws = await tcp(port, pool);
    ws.write(upgradeRequest('/ws'));
    if (connect) ws.write(wsClientFrame(encode([0, 1, null])));
  }
  await sleep(200);
}

describe('fuzz: HTTP surface of an edge that owns its server (edge.listen)', () => {
  it('an upgrade on any path but /ws gets 404 at once and the server closes the connection', async () => {
    await using t = await ownedEdge();
    using pool = new SocketPool();
    const control = await probeHttp(t.port, upgradeRequest('/ws?x=1'), pool, {
      untilHeaders: true,
    });
    expect(control.status, 'control: /ws?x=1 upgrades').toBe(101);
    expect(await checkOtherPaths(t.port, pool)).toEqual([]);
  });

  it('an upgrade on /ws with bad headers gets a 4xx and is closed', async () => {
    await using t = await ownedEdge();
    using pool = new SocketPool();
    expect(await checkBadUpgrades(t.port, pool)).toEqual([]);
  });

  it('an offered subprotocol is not echoed in the 101', async () => {
    await using t = await ownedEdge();
    using pool = new SocketPool();
    expect(await checkSubprotocol(t.port, pool)).toEqual([]);
  });

  it('methods other than GET and HEAD on /healthz, /readyz, /stats, /metrics get 405 with Allow', async () => {
    await using t = await ownedEdge();
    using pool = new SocketPool();
    expect(await checkMethods(t.port, pool)).toEqual([]);
  });

  it(`a request whose headers never complete is closed within upgradeTimeoutMs (${UPGRADE_TIMEOUT_MS} ms)`, async () => {
    await using t = await ownedEdge();
    using pool = new SocketPool();
    expect(await startSlowRequests(t.port, pool, UPGRADE_TIMEOUT_MS)).toEqual([]);
    expect(await helloWorks(t.url)).toEqual([]);
  });

  it('after 300 upgrades on wrong paths it still serves, and edge.close() resolves within 3 s with half-open sockets connected', async () => {
    // The default upgradeTimeoutMs (10 s): close() must not wait for the slow sockets' timeout.
    await using t = await ownedEdge(undefined);
    using pool = new SocketPool();
    const bystander = await WireClient.open(t.url, null);
    await bystander.join('safe', 1);
    const bad = await badRequests(t.port, pool);
    console.log(`300 wrong-path upgrades (edge.listen): ${JSON.stringify(bad)}`);
    expect.soft(bad.answered, 'wrong-path upgrades answered 404').toBe(300);
    expect.soft(bad.closed, 'wrong-path upgrades closed by the server').toBe(300);
    expect.soft(await helloWorks(t.url)).toEqual([]);
    expect.soft(bystander.closed).toBeUndefined();
    await openHalfOpen(t.port, pool);
    const took = await t.closeWithin(3000);
    console.log(
      `edge.close() with half-open sockets: ${took === undefined ? 'NOT resolved within 3 s' : `${took} ms`}`,
    );
    expect(took, 'edge.close() resolves within 3 s').toBeDefined();
    expect(bystander.closed?.code).toBe(1001);
  }, 30_000);
});

describe('fuzz: HTTP surface of an edge attached to a server of ours', () => {
  it('300 upgrades on wrong paths: each answered 404 and closed, the connection count returns to its baseline, the node still serves', async () => {
    const server = createServer();
    using pool = new SocketPool();
    const t = await attachedEdge(server);
    try {
      const bystander = await WireClient.open(t.url, null);
      await bystander.join('safe', 1);
      await sleep(50);
      const baseline = await connections(server);
      const bad = await badRequests(t.port, pool);
      const settled =
        (await eventually(async () => (await connections(server)) <= baseline, {
          timeoutMs: 2000,
          everyMs: 20,
          soft: true,
        })) !== undefined;
      const after = await connections(server);
      console.log(
        `300 wrong-path upgrades (attached server): ${JSON.stringify(bad)}; connections ${baseline} before, ${after} after`,
      );
      expect.soft(bad.answered, 'wrong-path upgrades answered 404').toBe(300);
      expect.soft(bad.closed, 'wrong-path upgrades closed by the server').toBe(300);
      expect.soft(settled, `connection count back to ${baseline} (it is ${after})`).toBe(true);
      expect.soft(await helloWorks(t.url)).toEqual([]);
      const probe = await WireClient.open(t.url, null);
      await probe.join('safe', 1);
      probe.send(encode([4, 'still', 1, 0, ['safe'], 0]));
      expect(
        await bystander.until(() => bystander.frames(5).some((f) => f[1] === 'still'), 2000),
      ).toBe(true);
      probe.terminate();
      bystander.terminate();
    } finally {
      pool.destroyAll();
      await Promise.race([t.edge.close(), sleep(3000)]);
      server.closeAllConnections();
      server.close();
    }
  }, 30_000);

  it("an 'upgrade' listener of our own keeps its paths: the edge answers only /ws", async () => {
    const server = createServer();
    using pool = new SocketPool();
    const t = await attachedEdge(server);
    server.on('upgrade', (req, socket) => {
      if (req.url === '/mine')
        socket.end('HTTP/1.1 418 I am a teapot\r\nConnection: close\r\n\r\n');
    });
    try {
      const mine = await probeHttp(t.port, upgradeRequest('/mine'), pool, { waitMs: 1500 });
      expect(mine.text.startsWith('HTTP/1.1 418'), `our listener answered: ${mine.text}`).toBe(
        true,
      );
      const ws = await probeHttp(t.port, upgradeRequest('/ws'), pool, { untilHeaders: true });
      expect(ws.status).toBe(101);
    } finally {
      pool.destroyAll();
      await Promise.race([t.edge.close(), sleep(3000)]);
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('fuzz: HTTP surface of `roomfabric dev` (child process, 300 file descriptors)', () => {
  it('answers and closes bad requests, survives 300 wrong-path upgrades, and exits within 3 s of SIGTERM with half-open sockets', async () => {
    await using dev = await startDevChild({ maxFds: 300 });
    using pool = new SocketPool();
    // The default upgradeTimeoutMs (10 s): one slow request runs alongside everything else.
    const slow = startSlowRequests(dev.port, pool, 10_000);
    expect.soft(await checkOtherPaths(dev.port, pool), 'upgrades on other paths').toEqual([]);
    expect.soft(await checkBadUpgrades(dev.port, pool), 'bad upgrades on /ws').toEqual([]);
    expect.soft(await checkSubprotocol(dev.port, pool), 'subprotocol').toEqual([]);
    expect.soft(await checkMethods(dev.port, pool), 'methods').toEqual([]);
    const bad = await badRequests(dev.port, pool);
    console.log(`300 wrong-path upgrades (roomfabric dev, ulimit -n 300): ${JSON.stringify(bad)}`);
    expect.soft(bad.answered, 'wrong-path upgrades answered 404').toBe(300);
    expect.soft(bad.closed, 'wrong-path upgrades closed by the server').toBe(300);
    expect
      .soft(await helloWorks(dev.wsUrl), 'still serves after 300 wrong-path upgrades')
      .toEqual([]);
    const health = await probeHttp(
      dev.port,
      'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      pool,
      { waitMs: 2000 },
    );
    expect.soft(health.status, 'GET /healthz after 300 wrong-path upgrades').toBe(200);
    expect.soft(await slow, 'slow requests (default 10 s bound)').toEqual([]);
    expect(dev.alive(), `roomfabric dev is alive:\n${dev.output().slice(-1500)}`).toBe(true);
    await openHalfOpen(dev.port, pool);
    const took = await dev.stop(3000);
    console.log(
      `roomfabric dev, SIGTERM with half-open sockets: ${took === undefined ? 'NOT exited within 3 s' : `exited after ${took} ms`}`,
    );
    expect(took, 'roomfabric dev exits within 3 s of SIGTERM').toBeDefined();
    expect((await dev.exit).code).toBe(0);
  }, 60_000);
});
