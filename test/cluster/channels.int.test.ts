/*
 * Persistent channels (the Slack case, docs/channels.md) on a real fabric: NATS with
 * JetStream (the channel store, a KV bucket), Redis (the live index), two edges and a
 * backend server in this process.
 *
 * Promised, and asserted:
 * - a channel exists with no members; subscriptions of offline users are durable;
 * - a subscribed user's socket is in the channel's room when it is connected (before
 *   HELLO), on any edge, and gets an emit to the channel made right after;
 * - subscribe / unsubscribe of an online user act live, cluster-wide; delete leaves no
 *   socket in the room and no subscription;
 * - NATS restarted (JetStream keeps its file store) and Redis restarted EMPTY: the
 *   subscriptions are all there, and reconnecting users are auto-joined again;
 * - an ephemeral room still vanishes on its last leave; a channel nobody is online in stays.
 */
import { NatsBus } from '@roomfabric/bus';
import { createEdge, createJsonLogger, type Edge } from '@roomfabric/edge';
import { RedisMembership } from '@roomfabric/membership';
import { channelRoom } from '@roomfabric/protocol';
import { createServer, KvChannelStore, type RoomfabricServer } from '@roomfabric/server';
import {
  eventually,
  signTestToken,
  startNats,
  startRedis,
  TEST_JWT_SECRET,
} from '@roomfabric/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recorder, type Recorder } from '../support/clients.js';

const sign = (sub: string, rf?: { join: string[]; publish: string[] }) =>
  signTestToken(sub, { rf });

type Nats = Awaited<ReturnType<typeof startNats>>;
type Redis = Awaited<ReturnType<typeof startRedis>>;

let nats: Nats;
let redis: Redis;
let server: RoomfabricServer;
const edges: Edge[] = [];
const urls: string[] = [];
const open: Recorder[] = [];

/** An edge in this process on the shared NATS and Redis, auto-joining channels from KV. */
async function startEdge(nodeId: string): Promise<void> {
  const bus = await NatsBus.connect({ servers: nats.url, name: nodeId, reconnectTimeWaitMs: 100 });
  const edge = createEdge({
    nodeId,
    bus,
    membership: new RedisMembership({ url: redis.url }),
    channels: new KvChannelStore({ nc: bus.nc }),
    auth: { secret: TEST_JWT_SECRET },
    logger: createJsonLogger({ level: 'error' }),
    leaseIntervalMs: 250,
    leaseTtlMs: 1000,
  });
  const { port } = await edge.listen(0);
  edges.push(edge);
  urls.push(`ws://127.0.0.1:${port}/ws`);
}

/** A client of `user` on edge `i` that records `events`; closed after the tests. */
async function client(i: number, user: string, events: string[] = ['message']) {
  const token = await sign(user, { join: ['lobby'], publish: [] });
  const c = await recorder(urls[i]!, events, {
    auth: { token },
    reconnect: { minDelayMs: 50, maxDelayMs: 200 },
  });
  open.push(c);
  return c;
}

const roomsOn = (i: number, c: Recorder) => [...(edges[i]!.sockets.get(c.client.id!)?.rooms ?? [])];

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats({ jetstream: true }), startRedis()]);
  await startEdge('a');
  await startEdge('b');
  // Connected to NATS by itself: its channel store defaults to KV on that connection.
  server = await createServer({ nats: nats.url, redis: redis.url });
});

afterAll(async () => {
  for (const c of open) c.client.close();
  for (const edge of edges) {
    await edge.close();
    await edge.membership.close();
    await edge.bus.close();
  }
  await server?.close();
  await redis?.[Symbol.asyncDispose]();
  await nats?.[Symbol.asyncDispose]();
});

describe('persistent channels on NATS JetStream + Redis, 2 edges', () => {
  it('exists with no members; subscribers are auto-joined on connect on any edge; live subscribe and unsubscribe', async () => {
    const { channels } = server;
    await channels.create('general', { title: 'General' });
    expect(await channels.get('general')).toMatchObject({ meta: { title: 'General' } });
    expect(await channels.subscribers('general')).toEqual([]);
    expect(await server.count(channelRoom('general'))).toBe(0);

    // An offline user is subscribed. She connects on edge a: in the room before HELLO.
    await channels.subscribe('ada', 'general');
    const ada = await client(0, 'ada');
    expect(roomsOn(0, ada)).toContain('$chan:general');
    const members = await server.in(channelRoom('general')).fetchSockets();
    expect(members.map((s) => `${s.nodeId}/${s.id}`)).toEqual([`a/${ada.client.id}`]);
    await server.channel('general').emit('message', 'one');
    await eventually(() => ada.of('message').length === 1, {
      timeoutMs: 3000,
      what: 'ada gets the emit',
    });
    expect(ada.got[0]).toEqual({ event: 'message', data: 'one', room: '$chan:general' });

    // Bob is online on edge b when he is subscribed: his socket joins there, now.
    const bob = await client(1, 'bob');
    expect(roomsOn(1, bob)).not.toContain('$chan:general');
    await channels.subscribe('bob', 'general');
    expect(roomsOn(1, bob)).toContain('$chan:general');
    expect(await channels.subscribers('general')).toEqual(['ada', 'bob']);
    await server.channel('general').emit('message', 'two');
    await eventually(() => bob.of('message').length === 1, {
      timeoutMs: 3000,
      what: 'bob gets the emit',
    });

    // Unsubscribed: his socket leaves; the next emit reaches ada only.
    await channels.unsubscribe('bob', 'general');
    expect(roomsOn(1, bob)).not.toContain('$chan:general');
    await server.channel('general').emit('message', 'three');
    await eventually(() => ada.of('message').length === 3, {
      timeoutMs: 3000,
      what: 'ada gets the third',
    });
    expect(bob.of('message')).toEqual(['two']);
    expect(await channels.of('bob')).toEqual([]);
  });

  it('survives NATS restarted (JetStream file store) and Redis restarted EMPTY: reconnecting users are auto-joined again', async () => {
    const { channels } = server;
    await channels.create('durable');
    await channels.create('quiet');
    await channels.subscribe('hal', 'durable');
    await channels.subscribe('ivy', 'durable'); // never connected before the restarts
    const before = await client(0, 'hal', ['news']);
    expect(roomsOn(0, before)).toContain('$chan:durable');

    await nats.kill('SIGKILL');
    await nats.restart();
    await redis.restart();
    before.client.close();

    // The store answers again once JetStream is back; nothing was lost.
    await expect
      .poll(() => channels.subscribers('durable').catch((err: { code: string }) => err.code), {
        timeout: 15_000,
      })
      .toEqual(['hal', 'ivy']);
    expect((await channels.list()).map((c) => c.name)).toEqual(
      expect.arrayContaining(['durable', 'quiet']),
    );
    expect(await channels.of('ivy')).toEqual(['durable']);

    // New connections (hal on the other edge, ivy for the first time) read their channels.
    const hal = await client(1, 'hal', ['news']);
    const ivy = await client(0, 'ivy', ['news']);
    expect(roomsOn(1, hal)).toContain('$chan:durable');
    expect(roomsOn(0, ivy)).toContain('$chan:durable');
    // The index (Redis, restarted empty) knows them too, and an emit reaches both.
    await expect
      .poll(
        async () =>
          (await server.in(channelRoom('durable')).fetchSockets()).map((s) => s.id).sort(),
        {
          timeout: 5000,
        },
      )
      .toEqual([hal.client.id, ivy.client.id].sort());
    await server.channel('durable').emit('news', 'after the restarts');
    await eventually(() => hal.of('news').length === 1 && ivy.of('news').length === 1, {
      timeoutMs: 5000,
      what: 'both get the emit after the restarts',
    });
  }, 60_000);

  it('an ephemeral room vanishes on its last leave; a channel with no member online still exists', async () => {
    const { channels } = server;
    await channels.create('standing');
    await channels.subscribe('dee', 'standing');
    const events: string[] = [];
    const stop = await server.onRoomEvent(({ room, kind }) => events.push(`${kind}:${room}`));
    try {
      const dee = await client(1, 'dee');
      await dee.client.join('lobby');
      await eventually(() => events.includes('occupied:lobby'), {
        timeoutMs: 3000,
        what: 'lobby occupied',
      });
      await dee.client.leave('lobby');
      await eventually(() => events.includes('vacated:lobby'), {
        timeoutMs: 3000,
        what: 'lobby vacated',
      });
      dee.client.close();
      await eventually(() => events.includes('vacated:$chan:standing'), {
        timeoutMs: 3000,
        what: 'live room vacated',
      });
      expect(await server.count('lobby')).toBe(0);
      expect(await server.count(channelRoom('standing'))).toBe(0);
      expect(await channels.get('standing')).toMatchObject({ name: 'standing' });
      expect(await channels.subscribers('standing')).toEqual(['dee']);
    } finally {
      stop();
    }
  });

  it('delete takes every socket out of the room, on every edge, and removes every subscription', async () => {
    const { channels } = server;
    await channels.create('doomed');
    for (const user of ['eve', 'fay', 'gus']) await channels.subscribe(user, 'doomed');
    const eve = await client(0, 'eve');
    const fay = await client(1, 'fay');
    expect(await server.count(channelRoom('doomed'))).toBe(2);
    expect(await channels.delete('doomed')).toBe(true);
    expect(roomsOn(0, eve)).not.toContain('$chan:doomed');
    expect(roomsOn(1, fay)).not.toContain('$chan:doomed');
    expect(await server.count(channelRoom('doomed'))).toBe(0);
    expect(await channels.get('doomed')).toBeUndefined();
    for (const user of ['eve', 'fay', 'gus']) expect(await channels.of(user)).toEqual([]);
    await expect(channels.subscribe('eve', 'doomed')).rejects.toMatchObject({
      code: 'RF_CHANNEL_NOT_FOUND',
    });
    // A new connection joins nothing of it.
    const gus = await client(0, 'gus');
    expect(roomsOn(0, gus).filter((r) => r.startsWith('$chan:'))).toEqual([]);
  });
});
