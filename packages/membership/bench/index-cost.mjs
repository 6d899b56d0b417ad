// What the Redis index costs per socket and per join, for docs/scaling.md: registers
// SOCKETS signed-in sockets on NODES nodes through one RedisMembership each, joins each to
// JOINS of ROOMS rooms, and prints Redis's memory per socket and per room membership and
// its CPU per join, from INFO. Starts its own redis-server on a free port (never a shared
// one) and stops it.
//
//   npm run build
//   node packages/membership/bench/index-cost.mjs
//
// Env: SOCKETS (50000), JOINS (3), ROOMS (1000), NODES (3).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { RedisMembership } from '../dist/index.js';

const SOCKETS = Number(process.env.SOCKETS ?? 50_000);
const JOINS = Number(process.env.JOINS ?? 3);
const ROOMS = Number(process.env.ROOMS ?? 1000);
const NODES = Number(process.env.NODES ?? 3);

const port = await new Promise((done) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => done(port));
  });
});
const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
const child = spawn('redis-server', args, { stdio: 'ignore' });
const url = `redis://127.0.0.1:${port}`;
const probe = new Redis(url, { retryStrategy: (n) => (n > 50 ? null : 50) });
probe.on('error', () => undefined); // refused until redis-server listens
try {
  await probe.ping();
  const info = async (section, name) =>
    Number(new RegExp(`${name}:([\\d.]+)`).exec(await probe.info(section))?.[1] ?? 0);
  const cpu = async () =>
    ((await info('cpu', 'used_cpu_user')) + (await info('cpu', 'used_cpu_sys'))) * 1000;
  const members = Array.from({ length: NODES }, () => new RedisMembership({ url }));
  const ids = Array.from({ length: SOCKETS }, (_, i) => `socket-${i}-${'x'.repeat(8)}`);
  const owner = (i) => members[i % NODES];

  const memory0 = await info('memory', 'used_memory');
  const cpu0 = await cpu();
  const t0 = performance.now();
  await Promise.all(
    ids.map((id, i) =>
      owner(i).addSocket({
        socketId: id,
        nodeId: `edge-${i % NODES}`,
        user: `user-${i}`,
        data: { name: `user-${i}` },
      }),
    ),
  );
  const registerMs = performance.now() - t0;
  const memory1 = await info('memory', 'used_memory');
  const cpu1 = await cpu();
  const t1 = performance.now();
  await Promise.all(
    ids.map(async (id, i) => {
      for (let k = 0; k < JOINS; k++) await owner(i).join(id, [`room-${(i * JOINS + k) % ROOMS}`]);
    }),
  );
  const joinMs = performance.now() - t1;
  const memory2 = await info('memory', 'used_memory');
  const cpu2 = await cpu();
  const joins = SOCKETS * JOINS;
  const out = {
    sockets: SOCKETS,
    joins,
    rooms: ROOMS,
    nodes: NODES,
    bytesPerSocket: Math.round((memory1 - memory0) / SOCKETS),
    bytesPerMembership: Math.round((memory2 - memory1) / joins),
    redisCpuUsPerRegister: Math.round((((cpu1 - cpu0) * 1000) / SOCKETS) * 10) / 10,
    redisCpuUsPerJoin: Math.round((((cpu2 - cpu1) * 1000) / joins) * 10) / 10,
    registersPerSec: Math.round(SOCKETS / (registerMs / 1000)),
    joinsPerSec: Math.round(joins / (joinMs / 1000)),
  };
  console.log(JSON.stringify(out, null, 2));
  await Promise.all(members.map((m) => m.close()));
} finally {
  probe.disconnect();
  child.kill('SIGKILL');
}
