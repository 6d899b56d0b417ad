import { describe, expect, it } from 'vitest';
import type { ChannelStore } from './channel-store.js';

/**
 * The behaviour every ChannelStore must have. Run it with a factory that returns a fresh,
 * empty store (with `maxChannelsPerUser: 5`) and a disposer.
 */
export function channelStoreContract(
  name: string,
  makeStore: () => Promise<{ store: ChannelStore; dispose(): Promise<void> }>,
): void {
  const withStore = (fn: (store: ChannelStore) => Promise<void>) => async () => {
    const { store, dispose } = await makeStore();
    try {
      await fn(store);
    } finally {
      await dispose();
    }
  };
  const code = (c: string) => expect.objectContaining({ code: c });

  describe(`ChannelStore contract: ${name}`, () => {
    it(
      'a channel exists with no members: create, get, list',
      withStore(async (store) => {
        expect(await store.get('general')).toBeUndefined();
        const before = Date.now();
        const info = await store.create('general', { title: 'General', tags: ['a'] });
        expect(info).toEqual({
          name: 'general',
          meta: { title: 'General', tags: ['a'] },
          createdAt: expect.any(Number),
        });
        expect(info.createdAt).toBeGreaterThanOrEqual(before - 1000);
        expect(await store.get('general')).toEqual(info);
        await store.create('random');
        expect((await store.list()).map((c) => [c.name, c.meta])).toEqual([
          ['general', { title: 'General', tags: ['a'] }],
          ['random', {}],
        ]);
        expect(await store.subscribersOf('general')).toEqual([]);
      }),
    );

    it(
      'create is idempotent with the same meta (any key order), RF_CHANNEL_EXISTS with other meta',
      withStore(async (store) => {
        const first = await store.create('c', { a: 1, b: { x: 1, y: 2 } });
        expect(await store.create('c', { b: { y: 2, x: 1 }, a: 1 })).toEqual(first);
        await expect(store.create('c', { a: 2 })).rejects.toThrow(code('RF_CHANNEL_EXISTS'));
        await expect(store.create('c')).rejects.toThrow(code('RF_CHANNEL_EXISTS'));
        // Stored as JSON: what comes back is what a JSON round trip gives.
        const info = await store.create('d', { skip: undefined, when: new Date(0) });
        expect(info.meta).toEqual({ when: '1970-01-01T00:00:00.000Z' });
      }),
    );

    it(
      'rejects bad names (RF_ROOM_INVALID), users and meta (RF_INVALID_ARGUMENT)',
      withStore(async (store) => {
        await store.create('ok');
        for (const bad of ['', 'x'.repeat(195), 'a\nb', 7 as unknown as string]) {
          await expect(store.create(bad)).rejects.toThrow(code('RF_ROOM_INVALID'));
          await expect(store.subscribe('u', bad)).rejects.toThrow(code('RF_ROOM_INVALID'));
        }
        for (const bad of ['', 'x'.repeat(195), 'tab\t', null as unknown as string]) {
          await expect(store.subscribe(bad, 'ok')).rejects.toThrow(code('RF_INVALID_ARGUMENT'));
          await expect(store.channelsOf(bad)).rejects.toThrow(code('RF_INVALID_ARGUMENT'));
        }
        for (const meta of [[1], 'x', null, { big: 'x'.repeat(17_000) }]) {
          await expect(store.create('m', meta as never)).rejects.toThrow(
            code('RF_INVALID_ARGUMENT'),
          );
        }
        expect(await store.get('m')).toBeUndefined();
      }),
    );

    it(
      'subscribes users durably in both directions; RF_CHANNEL_NOT_FOUND for a missing channel',
      withStore(async (store) => {
        await store.create('general');
        await store.create('random');
        await expect(store.subscribe('ada', 'nope')).rejects.toThrow(code('RF_CHANNEL_NOT_FOUND'));
        await expect(store.subscribersOf('nope')).rejects.toThrow(code('RF_CHANNEL_NOT_FOUND'));
        expect(await store.subscribe('ada', 'general')).toBe(true);
        expect(await store.subscribe('ada', 'general')).toBe(false);
        expect(await store.subscribe('ada', 'random')).toBe(true);
        expect(await store.subscribe('bob', 'general')).toBe(true);
        expect(await store.channelsOf('ada')).toEqual(['general', 'random']);
        expect(await store.channelsOf('bob')).toEqual(['general']);
        expect(await store.channelsOf('nobody')).toEqual([]);
        expect(await store.subscribersOf('general')).toEqual(['ada', 'bob']);
        expect(await store.unsubscribe('ada', 'general')).toBe(true);
        expect(await store.unsubscribe('ada', 'general')).toBe(false);
        expect(await store.unsubscribe('ada', 'nope')).toBe(false);
        expect(await store.channelsOf('ada')).toEqual(['random']);
        expect(await store.subscribersOf('general')).toEqual(['bob']);
      }),
    );

    it(
      'delete removes the channel and every subscription to it; a re-created channel starts empty',
      withStore(async (store) => {
        await store.create('general');
        await store.create('random');
        for (const u of ['ada', 'bob', 'cy']) await store.subscribe(u, 'general');
        await store.subscribe('ada', 'random');
        expect(await store.delete('general')).toEqual({
          existed: true,
          unsubscribed: ['ada', 'bob', 'cy'],
        });
        expect(await store.get('general')).toBeUndefined();
        expect(await store.channelsOf('ada')).toEqual(['random']);
        expect(await store.channelsOf('bob')).toEqual([]);
        await expect(store.subscribersOf('general')).rejects.toThrow(code('RF_CHANNEL_NOT_FOUND'));
        expect(await store.delete('general')).toEqual({ existed: false, unsubscribed: [] });
        await store.create('general');
        expect(await store.subscribersOf('general')).toEqual([]);
        expect(await store.subscribe('bob', 'general')).toBe(true);
        expect((await store.list()).map((c) => c.name)).toEqual(['general', 'random']);
      }),
    );

    it(
      'caps the channels of one user with RF_ROOM_LIMIT, leaving nothing half-written',
      withStore(async (store) => {
        for (let i = 0; i < 6; i++) await store.create(`c${i}`);
        for (let i = 0; i < 5; i++) await store.subscribe('ada', `c${i}`);
        await expect(store.subscribe('ada', 'c5')).rejects.toThrow(code('RF_ROOM_LIMIT'));
        expect(await store.channelsOf('ada')).toHaveLength(5);
        expect(await store.subscribersOf('c5')).toEqual([]);
        expect(await store.subscribe('ada', 'c4')).toBe(false);
        await store.unsubscribe('ada', 'c0');
        expect(await store.subscribe('ada', 'c5')).toBe(true);
      }),
    );

    it(
      'takes any valid name and user id: dots, wildcards, spaces, Unicode',
      withStore(async (store) => {
        const names = [
          'a.b',
          'a*',
          '>',
          'with space',
          'émoji 🎉',
          '=x',
          'A',
          'a',
          '-_',
          '__proto__',
        ];
        const users = ['u.1', 'u*', '>', 'ü ser', '=y', 'B', 'b', 'constructor'];
        for (const n of names) await store.create(n, { n });
        for (const u of users) for (const n of names.slice(0, 5)) await store.subscribe(u, n);
        expect((await store.list()).map((c) => c.name)).toEqual([...names].sort());
        for (const u of users) expect(await store.channelsOf(u)).toEqual(names.slice(0, 5).sort());
        for (const n of names.slice(0, 5)) {
          expect(await store.subscribersOf(n)).toEqual([...users].sort());
        }
        expect((await store.get('émoji 🎉'))?.meta).toEqual({ n: 'émoji 🎉' });
        expect((await store.delete('a.b')).unsubscribed).toEqual([...users].sort());
        expect(await store.subscribersOf('a*')).toEqual([...users].sort());
      }),
    );

    it(
      'treats names of Object.prototype properties as plain names',
      withStore(async (store) => {
        const names = ['__proto__', 'constructor', 'toString'];
        for (const n of names) await store.create(n);
        expect(await store.channelsOf('hasOwnProperty')).toEqual([]);
        expect(await store.unsubscribe('ada', 'toString')).toBe(false);
        for (const n of names) expect(await store.subscribe('ada', n)).toBe(true);
        for (const n of names) expect(await store.subscribe('ada', n)).toBe(false);
        await store.subscribe('constructor', 'toString');
        expect(await store.channelsOf('ada')).toEqual([...names].sort());
        expect(await store.subscribersOf('toString')).toEqual(['ada', 'constructor']);
        expect(await store.unsubscribe('ada', 'constructor')).toBe(true);
        expect(await store.channelsOf('ada')).toEqual(['__proto__', 'toString']);
        expect((await store.delete('__proto__')).unsubscribed).toEqual(['ada']);
        expect(await store.channelsOf('ada')).toEqual(['toString']);
      }),
    );

    it(
      'stays consistent in both directions under concurrent writers',
      withStore(async (store) => {
        const channels = ['c0', 'c1', 'c2', 'c3'];
        const users = Array.from({ length: 12 }, (_, i) => `u${i}`);
        for (const c of channels) await store.create(c);
        // Every user subscribes to every channel at once, then half of them leave c0 while
        // others (re)subscribe to it.
        await Promise.all(users.flatMap((u) => channels.map((c) => store.subscribe(u, c))));
        await Promise.all(
          users.map((u, i) =>
            i % 2 === 0 ? store.unsubscribe(u, 'c0') : store.subscribe(u, 'c0'),
          ),
        );
        const odd = users.filter((_, i) => i % 2 === 1);
        expect(await store.subscribersOf('c0')).toEqual([...odd].sort());
        for (const c of channels.slice(1)) {
          expect(await store.subscribersOf(c)).toEqual([...users].sort());
        }
        for (const [i, u] of users.entries()) {
          expect(await store.channelsOf(u)).toEqual(i % 2 === 1 ? channels : channels.slice(1));
        }
      }),
    );

    it(
      'a delete racing subscribes leaves no subscription behind',
      withStore(async (store) => {
        await store.create('hot');
        const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
        const outcomes = await Promise.allSettled([
          ...users.map((u) => store.subscribe(u, 'hot')),
          store.delete('hot'),
          ...users.map((u) => store.subscribe(u, 'hot')),
        ]);
        for (const o of outcomes) {
          if (o.status === 'rejected')
            expect(o.reason).toMatchObject({ code: 'RF_CHANNEL_NOT_FOUND' });
        }
        expect(await store.get('hot')).toBeUndefined();
        for (const u of users) expect(await store.channelsOf(u)).toEqual([]);
        await store.create('hot');
        expect(await store.subscribersOf('hot')).toEqual([]);
      }),
    );
  });
}
