// Join throughput of RedisMembership through one instance (the edge's path): registers
// SOCKETS signed-in sockets on one node, then every socket joins JOINS rooms, one join call
// at a time per socket (an edge serialises a socket's changes), all sockets at once.
// Starts its own redis-server on a free port (never a shared one).
//
//   npx tsc -b packages/membership
//   node packages/membership/bench/join-throughput.mjs [label=path/to/membership/dist/index.js ...]
//
// With several modules (e.g. `before=/tmp/rf-before/packages/membership/dist/index.js
// after=packages/membership/dist/index.js`) and FLUSH=microtask,immediate, the configurations
// take turns, round after round, so that a shared machine's load falls on all of them alike;
// each gets the median of its runs. FLUSH applies to modules that have `batchFlush`.
// Env: SOCKETS (20000), JOINS (3), ROOMS (1000), RUNS (5 per configuration), FLUSH, LISTEN=1
// (a presence listener, as on an edge that reports presence).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';

const SOCKETS = Number(process.env.SOCKETS ?? 20_000);
const JOINS = Number(process.env.JOINS ?? 3);
const ROOMS = Number(process.env.ROOMS ?? 1000);
const RUNS = Number(process.env.RUNS ?? 5);
const LISTEN = process.env.LISTEN === '1';
const flushes = (process.env.FLUSH ?? '').split(',').filter(Boolean);

const modules = process.argv.slice(2).map((arg) => {
  const [label, path] = arg.includes('=') ? arg.split('=') : [arg, arg];
  return { label, path: resolve(path) };
});
if (modules.length === 0) {
  modules.push({ label: 'this', path: new URL('../dist/index.js', import.meta.url).pathname });
}
const configs = [];
for (const m of modules) {
  const { RedisMembership } = await import(pathToFileURL(m.path).href);
  for (const flush of flushes.length > 0 ? flushes : [undefined]) {
    configs.push({
      name: flush ? `${m.label} (${flush})` : m.label,
      RedisMembership,
      flush,
      runs: [],
    });
  }
}

const port = await new Promise((done) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => done(port));
  });
});
const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
const redis = spawn('redis-server', args, { stdio: 'ignore' });
const url = `redis://127.0.0.1:${port}`;
try {
  await waitForRedis();
  let prefix = 0;
  for (let round = 0; round < RUNS; round++) {
    for (const config of configs) config.runs.push(await run(config, `bench${prefix++}`));
  }
  console.log(`${SOCKETS} sockets x ${JOINS} joins over ${ROOMS} rooms, ${RUNS} runs each:`);
  for (const { name, runs } of configs) {
    const median = (key) =>
      runs.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
    console.log(
      `  ${name}: median ${Math.round(median('perSecond'))} joins/s ` +
        `(runs ${runs.map((r) => Math.round(r.perSecond / 1000)).join(', ')} k); ` +
        `CPU per 1000 joins: this process ${median('nodeMs').toFixed(1)} ms, Redis ${median('redisMs').toFixed(1)} ms`,
    );
  }
} finally {
  redis.kill('SIGKILL');
}

async function run({ RedisMembership, flush }, keyPrefix) {
  // A long timeout: 20,000 calls at once on a loaded machine must not fail the run.
  const options = { url, keyPrefix, commandTimeoutMs: 30_000 };
  const m = new RedisMembership({ ...options, ...(flush && { batchFlush: flush }) });
  if (LISTEN) m.onPresence(() => undefined);
  const ids = Array.from({ length: SOCKETS }, (_, i) => `socket-${i}`);
  await Promise.all(
    ids.map((id) => m.addSocket({ socketId: id, nodeId: 'edge-1', user: id, data: { user: id } })),
  );
  const redisBefore = await redisCpu();
  const nodeBefore = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    ids.map(async (id, i) => {
      for (let k = 0; k < JOINS; k++) await m.join(id, [`room-${(i * JOINS + k) % ROOMS}`]);
    }),
  );
  const ms = performance.now() - start;
  const node = process.cpuUsage(nodeBefore);
  const redisMs = (await redisCpu()) - redisBefore;
  const expected = Math.ceil((SOCKETS * JOINS) / ROOMS);
  if ((await m.count('room-1')) !== expected) throw new Error('joins missing');
  await m.close();
  const joins = SOCKETS * JOINS;
  return {
    perSecond: joins / (ms / 1000),
    nodeMs: (node.user + node.system) / 1000 / (joins / 1000),
    redisMs: redisMs / (joins / 1000),
  };
}

/** redis-server's CPU time so far (user + sys), ms. */
async function redisCpu() {
  const probe = new Redis(url);
  const info = await probe.info('cpu');
  probe.disconnect();
  const field = (name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
}

async function waitForRedis() {
  for (let i = 0; i < 100; i++) {
    const probe = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return;
    } catch {
      probe.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`redis-server on ${url} did not answer`);
}
