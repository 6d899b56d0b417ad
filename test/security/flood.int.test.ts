import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NatsBus } from '@roomfabric/bus';
import { connect, type RoomfabricClient } from '@roomfabric/client';
import { createEdge, createJsonLogger, type Edge, type EdgeLimits } from '@roomfabric/edge';
import { RedisMembership } from '@roomfabric/membership';
import { ErrorCode } from '@roomfabric/protocol';
import { startNats, startRedis, signTestToken, TEST_JWT_SECRET } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { sleep } from '../support/raw-client.js';

const worker = fileURLToPath(new URL('../support/flood-worker.mjs', import.meta.url));

/** Runs the flood of one user's sockets in a child process; resolves with its counts. */
function flood(url: string, token: string, sockets: number, fps: number, seconds: number) {
  return new Promise<{ opened: number; refused: number; sent: number }>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [worker, url, token, String(sockets), String(fps), String(seconds)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 60) * 1000);
    child.on('exit', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as never);
      } catch {
        reject(new Error(`flood worker printed ${JSON.stringify(out)}`));
      }
    });
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

/** A well-behaved user: one acked broadcast every 50 ms while `running()`; its latencies. */
async function measure(client: RoomfabricClient, running: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  while (running()) {
    const started = performance.now();
    await client
      .to('calm')
      .emitWithAck('hello', 1, { timeout: 15_000 })
      .then(
        () => latencies.push(performance.now() - started),
        () => latencies.push(15_000),
      );
    await sleep(50);
  }
  return latencies.sort((a, b) => a - b);
}

interface Run {
  p50: number;
  p99: number;
  max: number;
  leaseFailures: number;
  ready: boolean;
  pauses: number;
  flood: { opened: number; refused: number; sent: number };
}

async function run(
  nats: string,
  redis: string,
  limits: Partial<EdgeLimits>,
  sockets: number,
): Promise<Run> {
  const bus = await NatsBus.connect({ servers: nats });
  const membership = new RedisMembership({ url: redis });
  const edge: Edge = createEdge({
    bus,
    membership,
    auth: { secret: TEST_JWT_SECRET },
    limits,
    leaseIntervalMs: 250,
    leaseTtlMs: 2000,
    logger: createJsonLogger({ level: 'silent' }),
  });
  try {
    const { port } = await edge.listen(0);
    const url = `ws://127.0.0.1:${port}/ws`;
    const calm = connect(url, {
      auth: { token: await signTestToken('ada', { rf: { join: ['calm'], publish: ['calm'] } }) },
    });
    await calm.join('calm');
    const token = await signTestToken('mallory', {
      rf: { join: ['flood:*'], publish: ['flood:*'] },
    });
    let flooding = true;
    const done = flood(url, token, sockets, 150, 6).finally(() => (flooding = false));
    await sleep(2500); // the flood is up to speed
    let ready = true;
    const watch = setInterval(() => (ready &&= edge.ready), 100);
    const latencies = await measure(calm, () => flooding);
    clearInterval(watch);
    const stats = edge.stats();
    calm.close();
    return {
      p50: Math.round(percentile(latencies, 0.5)),
      p99: Math.round(percentile(latencies, 0.99)),
      max: Math.round(latencies.at(-1) ?? NaN),
      leaseFailures: stats.leaseFailures,
      ready,
      pauses: stats.floodPauses,
      flood: await done,
    };
  } finally {
    await edge.close();
    await bus.close();
    await membership.close();
  }
}

describe('a flood from one user', () => {
  it('500 sockets of one user, each under its own allowance, leave other users fast and the lease renewed', async () => {
    await using nats = await startNats();
    await using redis = await startRedis();
    // The per-user connection cap is lifted here so the frame budget is what is tested.
    const open = await run(
      nats.url,
      redis.url,
      { maxConnectionsPerUser: 0, maxFramesPerSecondPerUser: 0, maxFramesPerSecondPerNode: 0 },
      500,
    );
    const guarded = await run(nats.url, redis.url, { maxConnectionsPerUser: 0 }, 500);
    for (const [name, r] of [
      ['no budgets', open],
      ['default budgets', guarded],
    ] as const) {
      console.log(
        `flood (${name}): ${r.flood.opened} sockets of one user sent ${r.flood.sent} frames in 6 s; ` +
          `another user's acked broadcast p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms; ` +
          `lease failures ${r.leaseFailures}, ready throughout ${r.ready}, flood pauses ${r.pauses}`,
      );
    }
    expect(guarded.flood.opened).toBe(500);
    expect(guarded.pauses).toBeGreaterThan(0);
    expect(guarded.p99).toBeLessThan(500);
    expect(guarded.leaseFailures).toBe(0);
    expect(guarded.ready).toBe(true);
  }, 120_000);

  it('caps one user at maxConnectionsPerUser sockets per node: the next CONNECT gets RF_CONNECTION_LIMIT (1008)', async () => {
    await using nats = await startNats();
    await using redis = await startRedis();
    const bus = await NatsBus.connect({ servers: nats.url });
    const membership = new RedisMembership({ url: redis.url });
    const edge = createEdge({
      bus,
      membership,
      auth: { secret: TEST_JWT_SECRET },
      limits: { maxConnectionsPerUser: 5 },
      logger: createJsonLogger({ level: 'silent' }),
    });
    try {
      const { port } = await edge.listen(0);
      const url = `ws://127.0.0.1:${port}/ws`;
      const token = await signTestToken('mallory');
      const clients = Array.from({ length: 5 }, () => connect(url, { auth: { token } }));
      await Promise.all(clients.map((c) => c.ready()));
      const sixth = connect(url, { auth: { token }, reconnect: false });
      const errors: unknown[] = [];
      sixth.on('error', (e) => errors.push(e));
      await expect(sixth.ready()).rejects.toMatchObject({ code: ErrorCode.CONNECTION_LIMIT });
      // Another user is not affected, and a freed slot is usable again.
      const other = connect(url, { auth: { token: await signTestToken('ada') } });
      await other.ready();
      clients[0]!.close();
      await sleep(100);
      const again = connect(url, { auth: { token } });
      await again.ready();
      for (const c of [...clients, other, again]) c.close();
    } finally {
      await edge.close();
      await bus.close();
      await membership.close();
    }
  });
});
