import { MemoryBus } from '@roomfabric/bus';
import { connect, type StateChange } from '@roomfabric/client';
import { createEdge, createJsonLogger, type Edge } from '@roomfabric/edge';
import { MemoryMembership } from '@roomfabric/membership';
import { channelRoom, userRoom } from '@roomfabric/protocol';
import { createServer, MemoryChannelStore, type ChannelStore } from '@roomfabric/server';
import { describe, expect, it } from 'vitest';
import { eventually, signTestToken, TEST_JWT_SECRET } from '@roomfabric/testkit';
import { recorder } from '../support/clients.js';
import { startTestEdge } from '../support/edge.js';

const sign = (sub: string, rf?: { join: string[]; publish: string[] }) =>
  signTestToken(sub, { rf });
const as = async (user: string) => ({ auth: { token: await sign(user) } });
const roomsOf = (edge: Edge, socketId: string | undefined) => [
  ...(edge.sockets.get(socketId!)?.rooms ?? []),
];

/** A store whose `channelsOf` waits for `release()`, reading when called (a slow store). */
class GatedStore extends MemoryChannelStore {
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  reads = 0;
  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open?.();
    this.gate = undefined;
  }
  override async channelsOf(user: string): Promise<string[]> {
    this.reads++;
    const read = await super.channelsOf(user);
    await this.gate;
    return read;
  }
}

describe('persistent channels in embedded mode (one process, in-memory store)', () => {
  it('channels exist with no members; subscribed users are in the channel room on connect, before HELLO', async () => {
    await using t = await startTestEdge({ auth: { secret: TEST_JWT_SECRET } });
    const channels = t.edge.channels;
    await channels.create('general', { title: 'General' });
    await channels.create('random');
    expect((await channels.list()).map((c) => c.name)).toEqual(['general', 'random']);
    expect(await channels.subscribers('general')).toEqual([]);
    expect(t.edge.stats().rooms).toBe(0);

    // An offline user is subscribed; her sockets are in the room as soon as they are connected.
    expect(await channels.subscribe('ada', 'general')).toBe(true);
    expect(await channels.of('ada')).toEqual(['general']);
    const ada = await recorder(t.url, ['message'], await as('ada'));
    expect(roomsOf(t.edge, ada.client.id).sort()).toEqual([
      channelRoom('general'),
      userRoom('ada'),
    ]);
    await channels.to('general').emit('message', 'hello general');
    await eventually(() => ada.got.length === 1, {
      timeoutMs: 2000,
      what: 'message to the channel',
    });
    expect(ada.got[0]).toEqual({ event: 'message', data: 'hello general', room: '$chan:general' });

    // An online user subscribed: every socket of hers joins now.
    const bob1 = await recorder(t.url, ['message'], await as('bob'));
    const bob2 = await recorder(t.url, ['message'], await as('bob'));
    await channels.subscribe('bob', 'general');
    for (const c of [bob1, bob2]) expect(roomsOf(t.edge, c.client.id)).toContain('$chan:general');
    expect(await channels.subscribers('general')).toEqual(['ada', 'bob']);

    // Clients cannot join or address a channel room themselves.
    await expect(bob1.client.join(channelRoom('random'))).rejects.toMatchObject({
      code: 'RF_ROOM_RESERVED',
    });

    // Unsubscribe: both of bob's sockets leave; ada stays.
    await channels.unsubscribe('bob', 'general');
    for (const c of [bob1, bob2])
      expect(roomsOf(t.edge, c.client.id)).not.toContain('$chan:general');
    expect(roomsOf(t.edge, ada.client.id)).toContain('$chan:general');

    // Delete: everyone out, subscriptions gone, the channel too.
    await channels.subscribe('bob', 'general');
    expect(await channels.delete('general')).toBe(true);
    for (const c of [ada, bob1, bob2]) {
      expect(roomsOf(t.edge, c.client.id)).not.toContain('$chan:general');
    }
    expect(await channels.of('ada')).toEqual([]);
    expect(await channels.get('general')).toBeUndefined();
    await expect(channels.subscribe('ada', 'general')).rejects.toMatchObject({
      code: 'RF_CHANNEL_NOT_FOUND',
    });
    for (const c of [ada, bob1, bob2]) c.client.close();
  });

  it('an ephemeral room vanishes on its last leave; a channel with no member online stays', async () => {
    await using t = await startTestEdge({ auth: { secret: TEST_JWT_SECRET } });
    await t.edge.channels.create('general');
    await t.edge.channels.subscribe('ada', 'general');
    const token = await sign('ada', { join: ['lobby'], publish: [] });
    const ada = await recorder(t.url, [], { auth: { token } });
    await ada.client.join('lobby');
    const deleted: string[] = [];
    t.edge.on('room:deleted', (room) => deleted.push(room));
    await ada.client.leave('lobby');
    await eventually(() => deleted.includes('lobby'), { timeoutMs: 2000, what: 'lobby gone' });
    ada.client.close();
    await eventually(() => deleted.includes('$chan:general'), {
      timeoutMs: 2000,
      what: 'live room gone',
    });
    // The live room went with the last socket; the channel and its subscription did not.
    expect(await t.edge.channels.get('general')).toMatchObject({ name: 'general' });
    expect(await t.edge.channels.subscribers('general')).toEqual(['ada']);
  });

  it('the server API over the edges bus and index shares their store (several in-process edges)', async () => {
    const bus = new MemoryBus();
    const membership = new MemoryMembership();
    const store = new MemoryChannelStore();
    const logger = createJsonLogger({ level: 'error' });
    const common = { bus, membership, channels: store, logger, auth: { secret: TEST_JWT_SECRET } };
    const a = createEdge({ ...common, nodeId: 'a' });
    const b = createEdge({ ...common, nodeId: 'b' });
    const urls = await Promise.all(
      [a, b].map(async (e) => `ws://127.0.0.1:${(await e.listen(0)).port}/ws`),
    );
    const server = await createServer({ bus, membership, channels: store, logger });
    try {
      await server.channels.create('ops');
      const onA = await recorder(urls[0]!, ['alert'], await as('ada'));
      const onB = await recorder(urls[1]!, ['alert'], await as('ada'));
      await server.channels.subscribe('ada', 'ops');
      expect(roomsOf(a, onA.client.id)).toContain('$chan:ops');
      expect(roomsOf(b, onB.client.id)).toContain('$chan:ops');
      expect(await a.channels.subscribers('ops')).toEqual(['ada']);
      await server.channel('ops').emit('alert', 'disk full');
      await eventually(() => onA.got.length === 1 && onB.got.length === 1, {
        timeoutMs: 2000,
        what: 'both sockets',
      });
      const again = await recorder(urls[1]!, ['alert'], await as('ada'));
      expect(roomsOf(b, again.client.id)).toContain('$chan:ops');
      await server.channels.delete('ops');
      for (const [e, c] of [
        [a, onA],
        [b, onB],
        [b, again],
      ] as const) {
        expect(roomsOf(e, c.client.id)).not.toContain('$chan:ops');
      }
      for (const c of [onA, onB, again]) c.client.close();
    } finally {
      await a.close();
      await b.close();
      await server.close();
    }
  });

  it('a subscribe or unsubscribe while a socket of the user connects is not lost', async () => {
    const store = new GatedStore();
    await using t = await startTestEdge({ auth: { secret: TEST_JWT_SECRET }, channels: store });
    const channels = t.edge.channels;
    await channels.create('early');
    await channels.create('late');
    await channels.subscribe('ada', 'early');
    // The edge reads ada's channels (just "early") and is held before joining them.
    store.hold();
    const client = connect(t.url, await as('ada'));
    await eventually(() => store.reads === 1, { timeoutMs: 2000, what: 'channels read' });
    // Meanwhile: subscribed to "late", unsubscribed from "early". The read is stale.
    await channels.subscribe('ada', 'late');
    await channels.unsubscribe('ada', 'early');
    store.release();
    await client.ready();
    expect(roomsOf(t.edge, client.id).sort()).toEqual(['$chan:late', '$user:ada']);
    client.close();
  });

  it('refuses a connection whose channels cannot be read with RF_CHANNEL_STORE_UNAVAILABLE (1011); the SDK reconnects', async () => {
    let down = true;
    const store = new MemoryChannelStore();
    const flaky: ChannelStore = Object.assign(Object.create(store) as ChannelStore, {
      channelsOf: (user: string) =>
        down
          ? Promise.reject(new Error('store down'))
          : MemoryChannelStore.prototype.channelsOf.call(store, user),
    });
    await using t = await startTestEdge({ auth: { secret: TEST_JWT_SECRET }, channels: flaky });
    await store.create('general');
    await store.subscribe('ada', 'general');
    const client = connect(t.url, {
      ...(await as('ada')),
      reconnect: { minDelayMs: 50, maxDelayMs: 100 },
    });
    const drops: StateChange[] = [];
    const errors: string[] = [];
    client.on('connecting', (change) => change.code !== 0 && drops.push(change));
    client.on('error', (err) => errors.push(err.code));
    await eventually(() => drops.length >= 1, { timeoutMs: 3000, what: 'refused' });
    expect(drops[0]).toEqual({ code: 1011, reason: 'RF_CHANNEL_STORE_UNAVAILABLE' });
    expect(errors).toContain('RF_CHANNEL_STORE_UNAVAILABLE');
    expect(t.edge.sockets.size).toBe(0);
    down = false;
    await client.ready();
    expect(roomsOf(t.edge, client.id)).toContain('$chan:general');
    client.close();
  });

  it('a cluster edge (own bus and index) has no channels unless given a store', async () => {
    await using t = await startTestEdge({
      bus: new MemoryBus(),
      membership: new MemoryMembership(),
      policy: 'open',
    });
    expect(() => t.edge.channels).toThrow(expect.objectContaining({ code: 'RF_INVALID_ARGUMENT' }));
    const server = await createServer({ bus: new MemoryBus(), membership: new MemoryMembership() });
    expect(() => server.channels).toThrow(expect.objectContaining({ code: 'RF_INVALID_ARGUMENT' }));
    await server.close();
  });
});
