import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { NatsBus } from '@roomfabric/bus';
import { startNats } from '@roomfabric/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelStoreContract } from './channel-store.contract.js';
import { KvChannelStore } from './kv-channel-store.js';
import { channelKey, subscriptionKey } from './kv-keys.js';

type Nats = Awaited<ReturnType<typeof startNats>>;

let nats: Nats;
let bus: NatsBus;
let buckets = 0;
const nextBucket = () => `rf_channels_t${++buckets}`;

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  bus = await NatsBus.connect({ servers: nats.url, name: 'channel-store-test' });
});
afterAll(async () => {
  await bus?.close();
  await nats?.[Symbol.asyncDispose]();
});

// One bucket per test: the same server, no state shared between tests.
channelStoreContract('KvChannelStore', async () => {
  const store = new KvChannelStore({ nc: bus.nc, bucket: nextBucket(), maxChannelsPerUser: 5 });
  return { store, dispose: () => store.close() };
});

describe('KvChannelStore on NATS JetStream', () => {
  it('creates its bucket on first use: file storage, history 1, the replicas asked for', async () => {
    const bucket = nextBucket();
    const store = new KvChannelStore({ nc: bus.nc, bucket });
    const jsm = await jetstreamManager(bus.nc);
    await expect(jsm.streams.info(`KV_${bucket}`)).rejects.toThrow(/not found/);
    await store.ready();
    const { config } = await jsm.streams.info(`KV_${bucket}`);
    expect(config).toMatchObject({
      storage: 'file',
      max_msgs_per_subject: 1,
      num_replicas: 1,
      allow_direct: false,
    });
    await store.close();
  });

  it('subscriptions survive a restart of the NATS server (JetStream file store)', async () => {
    await using own = await startNats({ jetstream: true });
    const ownBus = await NatsBus.connect({ servers: own.url, reconnectTimeWaitMs: 100 });
    try {
      const store = new KvChannelStore({ nc: ownBus.nc });
      await store.create('general', { title: 'General' });
      await store.create('empty');
      await store.subscribe('ada', 'general');
      await own.kill('SIGKILL');
      await own.restart();
      await expect
        .poll(() => store.channelsOf('ada').catch(() => 'down'), { timeout: 10_000 })
        .toEqual(['general']);
      expect(await store.subscribersOf('general')).toEqual(['ada']);
      expect((await store.list()).map((c) => [c.name, c.meta])).toEqual([
        ['empty', {}],
        ['general', { title: 'General' }],
      ]);
    } finally {
      await ownBus.close();
    }
  });

  it('rejects with RF_CHANNEL_STORE_UNAVAILABLE (temporary) without JetStream, or with NATS down', async () => {
    await using plain = await startNats();
    const plainBus = await NatsBus.connect({ servers: plain.url, reconnectTimeWaitMs: 100 });
    try {
      const store = new KvChannelStore({ nc: plainBus.nc, timeoutMs: 500 });
      const unavailable = { code: 'RF_CHANNEL_STORE_UNAVAILABLE', temporary: true };
      await expect(store.ready()).rejects.toMatchObject(unavailable);
      await expect(store.channelsOf('ada')).rejects.toMatchObject(unavailable);
      await plain.kill('SIGKILL');
      const started = Date.now();
      await expect(store.channelsOf('ada')).rejects.toMatchObject(unavailable);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await plainBus.close();
    }
  });

  it('finishes a delete that stopped half-way, and repairs a subscribe that stopped half-way', async () => {
    const bucket = nextBucket();
    const store = new KvChannelStore({ nc: bus.nc, bucket });
    await store.create('half');
    await store.subscribe('ada', 'half');
    await store.subscribe('bob', 'half');
    const kv = await new Kvm(bus.nc).open(bucket);
    // A delete that removed the channel and died before the subscriptions.
    await kv.delete(channelKey('half'));
    expect(await store.channelsOf('ada')).toEqual(['half']);
    expect(await store.delete('half')).toEqual({ existed: false, unsubscribed: ['ada', 'bob'] });
    expect(await store.channelsOf('ada')).toEqual([]);
    // A subscribe that wrote its reverse entry and died before the user's key.
    await store.create('half');
    await kv.put(subscriptionKey('half', 'cy'), JSON.stringify({ inc: 'x' }));
    expect(await store.channelsOf('cy')).toEqual([]);
    expect(await store.unsubscribe('cy', 'half')).toBe(false);
    expect(await store.subscribersOf('half')).toEqual([]);
    await store.close();
  });

  it('serialises concurrent writers on one user with compare-and-set', async () => {
    const store = new KvChannelStore({
      nc: bus.nc,
      bucket: nextBucket(),
      maxChannelsPerUser: 50,
    });
    const channels = Array.from({ length: 30 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    await Promise.all(channels.map((c) => store.create(c)));
    const added = await Promise.all(channels.map((c) => store.subscribe('ada', c)));
    expect(added.every(Boolean)).toBe(true);
    expect(await store.channelsOf('ada')).toEqual(channels);
    await Promise.all(channels.slice(0, 15).map((c) => store.unsubscribe('ada', c)));
    expect(await store.channelsOf('ada')).toEqual(channels.slice(15));
    await store.close();
  });

  it('both directions agree after a storm of concurrent subscribes, unsubscribes, deletes and creates', async () => {
    const store = new KvChannelStore({ nc: bus.nc, bucket: nextBucket(), maxChannelsPerUser: 50 });
    const channels = ['a', 'b', 'c'];
    const users = ['u1', 'u2', 'u3', 'u4'];
    for (const c of channels) await store.create(c);
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 120; i++) {
      const u = users[random(users.length)]!;
      const c = channels[random(channels.length)]!;
      const kind = random(10);
      const op =
        kind < 5
          ? store.subscribe(u, c)
          : kind < 8
            ? store.unsubscribe(u, c)
            : kind < 9
              ? store.delete(c)
              : store.create(c);
      ops.push(op.catch((err: { code?: string }) => err.code));
    }
    const codes = (await Promise.all(ops)).filter((r) => typeof r === 'string');
    expect(new Set(codes)).toEqual(new Set(codes.filter((c) => c === 'RF_CHANNEL_NOT_FOUND')));
    const existing = new Set((await store.list()).map((c) => c.name));
    const forward = new Set<string>();
    for (const u of users) for (const c of await store.channelsOf(u)) forward.add(`${u}>${c}`);
    const reverse = new Set<string>();
    for (const c of existing)
      for (const u of await store.subscribersOf(c)) reverse.add(`${u}>${c}`);
    expect([...forward].sort()).toEqual([...reverse].sort());
    for (const pair of forward) expect(existing.has(pair.split('>')[1]!)).toBe(true);
    await store.close();
  });

  it('checks its options', () => {
    for (const bad of [{ bucket: 'a.b' }, { replicas: 0 }, { timeoutMs: -1 }]) {
      expect(() => new KvChannelStore({ nc: bus.nc, ...bad })).toThrow(
        expect.objectContaining({ code: 'RF_INVALID_ARGUMENT' }),
      );
    }
  });
});
