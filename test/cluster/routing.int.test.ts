import { createServer, type RoomfabricServer } from '@roomfabric/server';
import { startCluster, type ClusterHandle, eventually } from '@roomfabric/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connected } from '../support/clients.js';
import { openSwarm, type SwarmClient } from '../support/swarm.js';

// Real NATS, real Redis, the membership service and 3 edge processes.
describe('cluster routing (3 edge processes, NATS, Redis)', () => {
  let cluster: ClusterHandle;
  let server: RoomfabricServer;
  const opened: SwarmClient[] = [];

  beforeAll(async () => {
    // --stats-public: the test reads busInByRoom (room names) from /stats.
    cluster = await startCluster({ edges: 3, edgeArgs: ['--policy', 'open', '--stats-public'] });
    server = await createServer({ nats: cluster.natsUrls, redis: cluster.redis.url });
  });
  afterAll(async () => {
    for (const c of opened) c.close();
    await server?.close();
    await cluster?.[Symbol.asyncDispose]();
  });

  const swarm = async (urls: string[], n: number) => {
    const clients = await openSwarm(urls, n);
    opened.push(...clients);
    return clients;
  };
  const events = (c: SwarmClient, event: string) =>
    c.log
      .filter((e) => e.kind === 'event' && e.event === event)
      .map((e) => (e as { data: unknown }).data);

  it('a room on 2 of 3 nodes: each member gets each broadcast exactly once; the third node receives nothing', async () => {
    const [n1, n2, n3] = cluster.edges;
    const members = await swarm([n1!.url, n2!.url], 40);
    const outsider = await swarm([n3!.url], 5);
    await Promise.all(members.map((c) => c.join('two-nodes')));
    await Promise.all(outsider.map((c) => c.join('elsewhere')));
    const count = 50;
    for (let i = 0; i < count; i++) await server.to('two-nodes').emit('tick', i);
    await eventually(() => members.every((c) => events(c, 'tick').length >= count), {
      timeoutMs: 10_000,
      what: 'all ticks',
    });
    await new Promise((r) => setTimeout(r, 200));
    for (const c of members)
      expect(events(c, 'tick')).toEqual(Array.from({ length: count }, (_, i) => i));
    for (const c of outsider) expect(events(c, 'tick')).toEqual([]);
    const stats = await Promise.all([n1!, n2!, n3!].map((e) => e.stats()));
    const received = stats.map((s) => (s.busInByRoom as Record<string, number>)['two-nodes'] ?? 0);
    console.log(
      `bus messages for "two-nodes" per node: ${received.join(', ')} (published ${count})`,
    );
    expect(received).toEqual([count, count, 0]);
  });

  it('a broadcast published right after a join ack reaches the joiner (200 times, joins on every node)', async () => {
    const clients = await swarm(
      cluster.edges.map((e) => e.url),
      200,
    );
    const missed: number[] = [];
    await Promise.all(
      clients.map(async (c, i) => {
        const room = `fresh-${i}`;
        await c.join(room);
        await server.to(room).emit('first', i);
      }),
    );
    await eventually(() => clients.every((c) => events(c, 'first').length === 1), {
      timeoutMs: 5000,
      what: 'first messages',
    }).catch(() => undefined);
    clients.forEach((c, i) => {
      if (events(c, 'first')[0] !== i) missed.push(i);
    });
    console.log(`publish-after-join-ack: ${200 - missed.length}/200 delivered`);
    expect(missed).toEqual([]);
  });

  it('multi-room union and except across nodes: each socket once, excluded rooms skipped', async () => {
    const urls = cluster.edges.map((e) => e.url);
    const [a, b, both, muted, none] = await Promise.all([
      swarm(urls, 6),
      swarm(urls, 6),
      swarm(urls, 6),
      swarm(urls, 6),
      swarm(urls, 3),
    ]);
    await Promise.all([
      ...a!.map((c) => c.join('u-a')),
      ...b!.map((c) => c.join('u-b')),
      ...both!.flatMap((c) => [c.join('u-a'), c.join('u-b')]),
      ...muted!.flatMap((c) => [c.join('u-a'), c.join('u-muted')]),
    ]);
    await server.to('u-a').to('u-b').emit('union', 1);
    await server.to(['u-a', 'u-b']).except('u-muted').emit('filtered', 2);
    const reached = [...a!, ...b!, ...both!];
    await eventually(() => reached.every((c) => events(c, 'filtered').length === 1), {
      timeoutMs: 5000,
      what: 'filtered',
    });
    await new Promise((r) => setTimeout(r, 200));
    for (const c of [...reached, ...muted!]) expect(events(c, 'union')).toEqual([1]);
    for (const c of reached) expect(events(c, 'filtered')).toEqual([2]);
    for (const c of muted!) expect(events(c, 'filtered')).toEqual([]);
    for (const c of none!) expect(c.log).toEqual([]);
  });

  it('fetchSockets equals the truth across nodes; socketsJoin, socketsLeave, disconnectSockets act cluster-wide', async () => {
    const urls = cluster.edges.map((e) => e.url);
    const clients = await swarm(urls, 12);
    await Promise.all(clients.map((c) => c.join('truth')));
    const truth = clients.map((c) => `${c.nodeId}/${c.socketId}`).sort();
    const fetched = await server.in('truth').fetchSockets();
    expect(fetched.map((s) => `${s.nodeId}/${s.id}`).sort()).toEqual(truth);
    expect(new Set(fetched.map((s) => s.nodeId)).size).toBe(3);

    await server.in('truth').socketsJoin('extra');
    expect((await server.in('extra').fetchSockets()).map((s) => s.id).sort()).toEqual(
      clients.map((c) => c.socketId).sort(),
    );
    await server.to('extra').emit('via-extra', 'x');
    await eventually(() => clients.every((c) => events(c, 'via-extra').length === 1), {
      timeoutMs: 5000,
      what: 'socketsJoin took effect on the nodes',
    });

    await server.in('extra').except('nobody').socketsLeave('extra');
    expect(await server.count('extra')).toBe(0);
    await server.to('extra').emit('via-extra', 'after leave');
    await server.to('truth').emit('marker', 'm');
    await eventually(() => clients.every((c) => events(c, 'marker').length === 1), {
      timeoutMs: 5000,
      what: 'marker',
    });
    for (const c of clients) expect(events(c, 'via-extra')).toEqual(['x']);

    // Through a clustered edge's own API too: a client on n1 asks, sockets on n2 and n3 act.
    const sdk = await connected(cluster.edges[0]!.url);
    await sdk.join('truth');
    await server.in('truth').except('nobody').disconnectSockets();
    // Resolved: the index no longer holds them, whether or not the clients answered yet.
    expect(await server.count('truth')).toBe(0);
    await eventually(
      () => clients.every((c) => c.ws.readyState === c.ws.CLOSED) && sdk.state === 'disconnected',
      { timeoutMs: 5000, what: 'all kicked' },
    );
    sdk.close();
  });
});
