import { createServer } from '@roomfabric/server';
import { startEdge, startNats, startRedis, eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { RawClient } from '../support/raw-client.js';

interface EdgeMemory {
  memory: { heapUsed: number; rss: number };
  slowConsumerCloses: number;
}

describe('slow consumers', () => {
  it('one client stops reading while 100 others receive at full rate: they stay on time, it is closed with 3008, the node stays bounded', async () => {
    const maxBufferedBytes = 2 * 1024 * 1024;
    await using nats = await startNats();
    await using redis = await startRedis();
    await using edge = await startEdge({
      nats: nats.url,
      redis: redis.url,
      args: ['--policy', 'open', '--max-buffered-bytes', String(maxBufferedBytes)],
    });
    const server = await createServer({ nats: nats.url, redis: redis.url });
    const stats = async () => (await edge.stats()) as unknown as EdgeMemory;
    try {
      const fast = await Promise.all(Array.from({ length: 100 }, () => RawClient.open(edge.url)));
      await Promise.all(fast.map((c) => c.join('feed', 1)));
      const slow = await RawClient.open(edge.url);
      await slow.join('feed', 1);
      // It also follows a heavy stream, so its backlog outgrows the kernel's socket buffers.
      await slow.join('bulk', 2);
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const before = await stats();
      const payload = 'x'.repeat(1024);
      const bulk = 'y'.repeat(64 * 1024);
      const ticks = 2000;
      const bulkCount = 1000; // 64 MiB at the paused client: 32x its allowance
      // Once the edge gives up on it, the client reads again and must find, behind its
      // backlog, the 3008 close frame (a client that never reads again is cut off 5 s later).
      let detectedAt = 0;
      const watcher = (async () => {
        await eventually(async () => (await stats()).slowConsumerCloses !== 0, {
          timeoutMs: 30_000,
          everyMs: 20,
          soft: true,
        });
        detectedAt = performance.now();
        (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      })();
      const started = performance.now();
      let sentBulk = 0;
      for (let i = 0; i < ticks; i++) {
        await server.to('feed').emit('tick', { i, payload });
        if (i % 2 === 0 && sentBulk < bulkCount) {
          await server.to('bulk').emit('bulk', bulk);
          await server.to('bulk').emit('bulk', bulk);
          sentBulk += 2;
        }
        if (i % 50 === 49) await new Promise((r) => setTimeout(r, 1));
      }
      await eventually(() => fast.every((c) => c.events('tick').length === ticks), {
        timeoutMs: 30_000,
        what: 'every fast client got every tick',
      });
      const elapsed = performance.now() - started;
      await watcher;
      expect(detectedAt).toBeGreaterThan(0);
      expect((await stats()).slowConsumerCloses).toBe(1);
      const latencies: number[] = [];
      const probe = fast[0]!;
      for (let i = 0; i < 100; i++) {
        const at = performance.now();
        await server.to('feed').emit('probe', i);
        await probe.next((f) => f.type === 5 && f.event === 'probe' && f.data === i);
        latencies.push(performance.now() - at);
      }
      latencies.sort((a, b) => a - b);
      const p99 = latencies[98]!;
      const after = await stats();
      const closed = await slow.closeEvent(10_000);
      const heapGrowth = after.memory.heapUsed - before.memory.heapUsed;
      console.log(
        `slow consumer: ${100 * ticks} ticks to 100 fast clients in ${Math.round(elapsed)} ms, ${sentBulk} x 64 KiB at the paused one; ` +
          `fast p50 ${latencies[50]!.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; paused client closed ${closed.code} ${closed.reason}; ` +
          `edge heap ${(before.memory.heapUsed / 1e6).toFixed(1)} -> ${(after.memory.heapUsed / 1e6).toFixed(1)} MB, rss ${(after.memory.rss / 1e6).toFixed(1)} MB`,
      );
      expect(closed).toEqual({ code: 3008, reason: 'RF_SLOW_CONSUMER' });
      for (const c of fast) expect(c.events('tick').length).toBe(ticks);
      expect(fast.every((c) => c.closed === undefined)).toBe(true);
      expect(p99).toBeLessThan(100);
      // 64 MiB were published at the paused client; the node kept at most its 2 MiB allowance.
      expect(heapGrowth).toBeLessThan(32 * 1024 * 1024);
      for (const c of fast) c.close();
    } finally {
      await server.close();
    }
  }, 90_000);
});
