import { createServer } from '@roomfabric/server';
import { startCluster, eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { openSwarm } from '../support/swarm.js';

const LEASE = ['--lease-interval-ms', '250', '--lease-ttl-ms', '1000'];

describe('failures', () => {
  it('kill -9 of an edge: its sockets leave the index within lease expiry + 1 s, with leave events', async () => {
    await using cluster = await startCluster({
      edges: 3,
      edgeArgs: ['--policy', 'open', ...LEASE],
      membershipArgs: ['--lease-check-ms', '100'],
    });
    const server = await createServer({ nats: cluster.natsUrls, redis: cluster.redis.url });
    const left: string[] = [];
    const stop = await server.onSocketLeft((e) => left.push(e.socketId));
    const victim = cluster.edges[1]!;
    const onVictim = await openSwarm([victim.url], 50);
    const survivors = await openSwarm([cluster.edges[0]!.url, cluster.edges[2]!.url], 20);
    await Promise.all([...onVictim, ...survivors].map((c) => c.join('shared')));
    expect(await server.count('shared')).toBe(70);
    try {
      await victim.kill('SIGKILL');
      const killedAt = performance.now();
      await eventually(async () => (await server.count('shared')) === 20, {
        timeoutMs: 1000 + 1000 + 500,
        what: 'ghosts purged',
      });
      const purgeMs = Math.round(performance.now() - killedAt);
      await eventually(() => left.length === 50, { timeoutMs: 2000, what: 'leave events' });
      console.log(
        `edge kill -9: ${onVictim.length} sockets purged from the index ${purgeMs} ms after the kill (lease ttl 1000 ms)`,
      );
      expect(purgeMs).toBeLessThanOrEqual(2000);
      expect(left.sort()).toEqual(onVictim.map((c) => c.socketId).sort());
      const fetched = await server.in('shared').fetchSockets();
      expect(fetched.map((s) => s.id).sort()).toEqual(survivors.map((c) => c.socketId).sort());
      expect((await server.totals()).sockets).toBe(20);
    } finally {
      stop();
      for (const c of [...onVictim, ...survivors]) c.close();
      await server.close();
    }
  }, 60_000);

  it('Redis restarted empty: the edges rebuild the index within 5 s', async () => {
    await using cluster = await startCluster({
      edges: 3,
      edgeArgs: ['--policy', 'open', ...LEASE],
    });
    const server = await createServer({ nats: cluster.natsUrls, redis: cluster.redis.url });
    const clients = await openSwarm(
      cluster.edges.map((e) => e.url),
      90,
    );
    await Promise.all(clients.map((c, i) => c.join(`r${i % 3}`)));
    await Promise.all(clients.slice(0, 30).map((c) => c.join('all')));
    const before = await Promise.all(['r0', 'r1', 'r2', 'all'].map((r) => server.count(r)));
    const reassertsBefore = await Promise.all(
      cluster.edges.map(async (e) => (await e.stats()).leaseReasserts as number),
    );
    try {
      await cluster.redis.restart();
      const restartedAt = performance.now();
      await eventually(
        async () => {
          const now = await Promise.all(
            ['r0', 'r1', 'r2', 'all'].map((r) => server.count(r).catch(() => -1)),
          );
          return now.every((n, i) => n === before[i]);
        },
        { timeoutMs: 5000, what: 'index rebuilt' },
      );
      const rebuildMs = Math.round(performance.now() - restartedAt);
      console.log(
        `redis restarted empty: index rebuilt from the edges in ${rebuildMs} ms (${clients.length} sockets)`,
      );
      expect(before).toEqual([30, 30, 30, 30]);
      // The rebuild came from each edge re-asserting its membership.
      const reassertsAfter = await Promise.all(
        cluster.edges.map(async (e) => (await e.stats()).leaseReasserts as number),
      );
      reassertsAfter.forEach((n, i) => expect(n).toBeGreaterThan(reassertsBefore[i]!));
      const members = await server.in('all').fetchSockets();
      expect(members.map((m) => m.id).sort()).toEqual(
        clients
          .slice(0, 30)
          .map((c) => c.socketId)
          .sort(),
      );
      expect((await server.totals()).sockets).toBe(90);
      // Broadcasts never depended on Redis, and still flow.
      await server.to('r1').emit('still', 1);
      await eventually(
        () =>
          clients
            .filter((_, i) => i % 3 === 1)
            .every((c) => c.log.some((e) => e.kind === 'event' && e.event === 'still')),
        { timeoutMs: 3000, what: 'delivery' },
      );
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  }, 60_000);
});
