import { MemoryBus } from '@roomfabric/bus';
import { createEdge, createJsonLogger, type Edge } from '@roomfabric/edge';
import { MemoryMembership } from '@roomfabric/membership';
import { FabricService } from '@roomfabric/fabric';
import { createServer } from '@roomfabric/server';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { connected, recorder } from './support/clients.js';

// Three edges in one process over one MemoryBus and one MemoryMembership: the cluster code
// paths (control requests, raids, leases) without NATS or Redis, as Socket.IO tests its
// adapters over an in-memory bus.
async function inProcessCluster(n = 3) {
  const bus = new MemoryBus();
  const membership = new MemoryMembership();
  const logger = createJsonLogger({ level: 'error' });
  const service = new FabricService({ bus, membership, logger, leaseCheckMs: 50 });
  await service.start();
  const edges: Edge[] = [];
  const urls: string[] = [];
  for (let i = 0; i < n; i++) {
    const edge = createEdge({
      nodeId: `m${i + 1}`,
      bus,
      membership,
      policy: 'open',
      logger,
      leaseIntervalMs: 50,
      leaseTtlMs: 200,
    });
    const address = await edge.listen(0);
    edges.push(edge);
    urls.push(`ws://127.0.0.1:${address.port}/ws`);
  }
  const server = await createServer({ bus, membership, logger });
  return {
    bus,
    membership,
    service,
    edges,
    urls,
    server,
    async [Symbol.asyncDispose]() {
      for (const e of edges) await e.close();
      await service.close();
      await server.close();
      await bus.close();
      await membership.close();
    },
  };
}

describe('embedded multi-node fabric (3 edges, one MemoryBus, one MemoryMembership)', () => {
  it('routes only to nodes with members and acts on remote sockets', async () => {
    await using c = await inProcessCluster();
    const a = await recorder(c.urls[0]!, ['news', 'direct']);
    const b = await recorder(c.urls[1]!, ['news', 'direct']);
    await a.client.join('room');
    await b.client.join('room');
    await c.edges[0]!.to('room').emit('news', 1);
    await eventually(() => a.of('news').length === 1 && b.of('news').length === 1);
    expect(c.edges.map((e) => e.busMessagesFor('room'))).toEqual([1, 1, 0]);

    // From edge 3, which holds none of them: fetch, emit to one, join, kick.
    const remote = await c.edges[2]!.in('room').fetchSockets();
    expect(remote.map((s) => `${s.nodeId}/${s.id}`).sort()).toEqual(
      [`m1/${a.client.id}`, `m2/${b.client.id}`].sort(),
    );
    const onB = remote.find((s) => s.nodeId === 'm2')!;
    await onB.emit('direct', 'hi b');
    await eventually(() => b.of('direct').length === 1);
    expect(a.of('direct')).toEqual([]);
    await c.edges[2]!.in('room').socketsJoin('second');
    expect(await c.membership.count('second')).toBe(2);
    expect(c.edges[0]!.sockets.get(a.client.id!)!.rooms.has('second')).toBe(true);
    const kicked = new Promise((resolve) => b.client.on('disconnected', resolve));
    await c.server.in('room').except('nothing').to('second').fetchSockets();
    await c.edges[2]!.in('second').except('nothing').disconnectSockets();
    expect(await kicked).toEqual({ code: 4501, reason: 'RF_KICKED' });
    a.client.close();
  });

  it('raids: one MOVED each, from-messages before it, to-messages after, on every node', async () => {
    await using c = await inProcessCluster();
    const movers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => recorder(c.urls[i % 3]!, ['f', 't'])),
    );
    await Promise.all(movers.map((m) => m.client.join('from')));
    const order: Record<string, string[]> = {};
    for (const m of movers) {
      order[m.client.id!] = [];
      for (const e of ['f', 't', 'moved'])
        m.client.on(e, (data: unknown) =>
          order[m.client.id!]!.push(`${e}:${JSON.stringify(data)}`),
        );
    }
    await c.server.to('from').emit('f', 1);
    // A message to `to` published after the index moved everyone, before the nodes got the
    // commit: the movers are in `to` from the index's point of view, so they must get it
    // (the nodes buffer it for them since PREPARE).
    const move = c.membership.raid.bind(c.membership);
    c.membership.raid = async (...args) => {
      const result = await move(...args);
      await c.server.to('to').emit('t', 'mid');
      return result;
    };
    const report = await c.server.raid('from', 'to');
    await c.server.to('to').emit('t', 2);
    await c.server.to('from').emit('f', 3);
    await eventually(() => movers.every((m) => order[m.client.id!]!.includes('t:2')), {
      timeoutMs: 3000,
      what: 'to-message',
    });
    expect(report).toMatchObject({ moved: 30, nodes: 3, repeated: false });
    for (const m of movers) {
      expect(order[m.client.id!]).toEqual([
        'f:1',
        'moved:{"from":"from","to":"to"}',
        't:"mid"',
        't:2',
      ]);
      expect([...m.client.rooms]).toEqual(['to']);
    }
    expect(await c.membership.count('from')).toBe(0);
    expect(await c.membership.count('to')).toBe(30);
    for (const m of movers) m.client.close();
  });

  it('purges the sockets of a node whose lease lapsed, and the node re-asserts when it comes back', async () => {
    await using c = await inProcessCluster(2);
    const left: string[] = [];
    await c.server.onSocketLeft((e) => left.push(e.socketId));
    const client = await connected(c.urls[1]!);
    await client.join('x');
    // Simulate a node that stops renewing (a long pause): its lease lapses, the service purges.
    const lease = (
      c.edges[1] as unknown as {
        node: { lease: { stop(): Promise<void>; start(): Promise<void> } };
      }
    ).node.lease;
    await lease.stop();
    await eventually(async () => (await c.membership.count('x')) === 0, {
      timeoutMs: 2000,
      what: 'purge',
    });
    expect(left).toEqual([client.id]);
    await lease.start();
    await eventually(async () => (await c.membership.count('x')) === 1, {
      timeoutMs: 2000,
      what: 're-assert',
    });
    client.close();
  });
});
