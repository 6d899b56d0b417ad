import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { dockerAvailable } from './docker-available.js';
import { redisPing } from './probes.js';
import { startNatsCluster } from './start-nats-cluster.js';
import { startNats } from './start-nats.js';
import { startRedis } from './start-redis.js';

// These run the container runtime (testcontainers) on purpose, even where the binaries are
// on PATH. Image pulls can be slow, hence the long timeouts.
const dockerUp = await dockerAvailable();
if (!dockerUp) {
  console.log(
    'skipping container runtime tests: no Docker engine answered testcontainers getContainerRuntimeClient()',
  );
}
const SLOW = { timeout: 300_000 };

async function greeting(host: string, port: number): Promise<string> {
  const socket = connect({ host, port });
  try {
    socket.setEncoding('utf8');
    const [chunk] = (await once(socket, 'data')) as [string];
    return chunk;
  } finally {
    socket.destroy();
  }
}

describe('container runtime', () => {
  it.skipIf(!dockerUp)(
    'runs NATS in a container and restarts it on the same host port',
    SLOW,
    async () => {
      await using nats = await startNats({ runtime: 'docker', jetstream: true, timeoutMs: 60_000 });
      const host = new URL(nats.url).hostname;
      expect(nats.pid).toBeUndefined();
      expect(await greeting(host, nats.port)).toMatch(/^INFO \{/);
      await nats.kill();
      expect(nats.running).toBe(false);
      await nats.restart();
      expect(await greeting(host, nats.port)).toMatch(/^INFO \{/);
      expect(nats.output()).toContain('Server is ready');
    },
  );

  it.skipIf(!dockerUp)('runs Redis in a container, empty after restart', SLOW, async () => {
    await using redis = await startRedis({ runtime: 'docker', timeoutMs: 60_000 });
    const host = new URL(redis.url).hostname;
    expect(await redisPing(host, redis.port)).toBe(true);
    await redis.restart();
    expect(await redisPing(host, redis.port)).toBe(true);
  });

  it.skipIf(!dockerUp)('runs a 3-server NATS cluster in containers', SLOW, async () => {
    await using cluster = await startNatsCluster(3, { runtime: 'docker', timeoutMs: 60_000 });
    expect(cluster.urls).toHaveLength(3);
    await cluster.servers[1]?.kill();
    await cluster.servers[1]?.restart();
    expect(cluster.servers.every((server) => server.running)).toBe(true);
  });
});
