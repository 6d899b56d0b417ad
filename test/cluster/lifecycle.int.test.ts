import { createServer } from '@roomfabric/server';
import { startCluster, eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { openSwarm } from '../support/swarm.js';

describe('room lifecycle events across 3 edge processes', () => {
  it('one occupied for the first member anywhere, one vacated for the last; a dead node vacates through the purge', async () => {
    await using cluster = await startCluster({
      edges: 3,
      edgeArgs: ['--policy', 'open', '--lease-interval-ms', '250', '--lease-ttl-ms', '1000'],
      membershipArgs: ['--lease-check-ms', '100'],
    });
    const server = await createServer({ nats: cluster.natsUrls, redis: cluster.redis.url });
    const events: string[] = [];
    const stop = await server.onRoomEvent(({ room, kind }) => events.push(`${kind}:${room}`));
    try {
      // 30 clients on 3 nodes join at once: the index decides one "first".
      const clients = await openSwarm(
        cluster.edges.map((e) => e.url),
        30,
      );
      await Promise.all(clients.map((c) => c.join('race')));
      await eventually(() => events.includes('occupied:race'), {
        timeoutMs: 3000,
        what: 'occupied',
      });
      await new Promise((r) => setTimeout(r, 200));
      expect(events.filter((e) => e.endsWith(':race'))).toEqual(['occupied:race']);
      for (const c of clients) c.close();
      await eventually(() => events.includes('vacated:race'), { timeoutMs: 3000, what: 'vacated' });
      await new Promise((r) => setTimeout(r, 200));
      expect(events.filter((e) => e.endsWith(':race'))).toEqual(['occupied:race', 'vacated:race']);

      // The last members of a room sit on a node that dies: the purge vacates it.
      const doomed = await openSwarm([cluster.edges[2]!.url], 3);
      await Promise.all(doomed.map((c) => c.join('doomed')));
      await eventually(() => events.includes('occupied:doomed'), {
        timeoutMs: 3000,
        what: 'occupied doomed',
      });
      await cluster.edges[2]!.kill('SIGKILL');
      await eventually(() => events.includes('vacated:doomed'), {
        timeoutMs: 4000,
        what: 'vacated by the purge',
      });
      expect(events.filter((e) => e.endsWith(':doomed'))).toEqual([
        'occupied:doomed',
        'vacated:doomed',
      ]);
      console.log(`room events seen by a backend: ${events.join(', ')}`);
    } finally {
      stop();
      await server.close();
    }
  }, 60_000);
});
