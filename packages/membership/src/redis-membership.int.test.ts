import { type RedisHandle, startRedis } from '@roomfabric/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { membershipContract } from './membership.contract.js';
import { fill, member, until } from './membership-fixture.contract.js';
import { RedisMembership } from './redis-membership.js';

let redis: RedisHandle;
let prefixes = 0;
/** Each test gets its own key prefix on one shared server. */
const freshPrefix = () => `t${++prefixes}`;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.[Symbol.asyncDispose]();
});

membershipContract('RedisMembership', () => {
  const keyPrefix = freshPrefix();
  const membership = new RedisMembership({ url: redis.url, keyPrefix });
  const peer = new RedisMembership({ url: redis.url, keyPrefix });
  return Promise.resolve({
    membership,
    peer,
    dispose: async () => {
      await membership.close();
      await peer.close();
    },
  });
});

describe('RedisMembership on Redis', () => {
  it('keeps escaped ids inside one hash tag per key', async () => {
    const raw = new Redis(redis.url);
    const m = new RedisMembership({ redis: raw, keyPrefix: 'esc' });
    try {
      await m.addSocket(member('{s}', '{n}'));
      await m.join('{s}', ['{x}', 'x}', '%7Bx%7D']);
      const keys = (await raw.keys('esc:*')).sort();
      expect(keys).toEqual(
        [
          'esc:nodes',
          'esc:{n:%7Bn%7D}:s',
          'esc:{r:%257Bx%257D}:m',
          'esc:{r:%7Bx%7D}:m',
          'esc:{r:x%7D}:m',
          'esc:{s:%7Bs%7D}:i',
          'esc:{s:%7Bs%7D}:r',
        ].sort(),
      );
      await m.close();
      expect(await raw.ping()).toBe('PONG'); // a connection it did not create stays open
    } finally {
      raw.disconnect();
    }
  });

  it('recovers when the scripts are flushed under a live connection (NOSCRIPT)', async () => {
    const m = new RedisMembership({ url: redis.url, keyPrefix: freshPrefix() });
    const raw = new Redis(redis.url);
    try {
      await m.addSocket(member('s1'));
      await raw.script('FLUSH');
      expect(await m.join('s1', ['a'])).toEqual(['a']);
      expect(await m.count('a')).toBe(1);
    } finally {
      raw.disconnect();
      await m.close();
    }
  });

  it.each([
    ['anonymous members', false, false],
    ['signed-in members, no presence listener', true, false],
    ['signed-in members, reporting presence', true, true],
  ])(
    'raids 50,000 %s in one script',
    async (what, users, listen) => {
      const raw = new Redis(redis.url);
      const m = new RedisMembership({ url: redis.url, keyPrefix: freshPrefix() });
      let presence = 0;
      if (listen) m.onPresence(() => presence++);
      try {
        const size = 50_000;
        const loadStart = performance.now();
        await fill(m, { prefix: 'viewer-', count: size, rooms: ['channel:a'], users });
        presence = 0;
        const loadMs = performance.now() - loadStart;
        await raw.config('SET', 'slowlog-log-slower-than', '0');
        await raw.slowlog('RESET');
        const start = performance.now();
        const result = await m.raid('raid-50k', 'channel:a', 'channel:b');
        const clientMs = performance.now() - start;
        const log = (await raw.slowlog('GET', 20)) as [number, number, number, string[]][];
        await raw.config('SET', 'slowlog-log-slower-than', '10000');
        const entry = log.find((e) => /^eval/i.test(e[3][0] ?? ''));
        const scriptMs = entry ? entry[2] / 1000 : NaN;
        console.log(
          `raid of ${size} ${what}: script ${scriptMs.toFixed(1)} ms (Redis SLOWLOG), ` +
            `call ${clientMs.toFixed(1)} ms (client, incl. reply decode); load ${loadMs.toFixed(0)} ms`,
        );
        expect(result.moved).toHaveLength(size);
        expect(presence).toBe(listen ? 2 * size : 0); // each user left a and joined b
        expect(await m.presenceStats('channel:b')).toEqual({
          sockets: size,
          users: users ? size : 0,
        });
        expect(await m.count('channel:a')).toBe(0);
        expect(await m.count('channel:b')).toBe(size);
        expect(await m.roomsOf('viewer-123')).toEqual(['channel:b']);
        const again = await m.raid('raid-50k', 'channel:a', 'channel:b');
        expect(again.repeated).toBe(true);
        expect(again.moved).toHaveLength(size);
      } finally {
        raw.disconnect();
        await m.close();
      }
    },
    60_000,
  );
});

describe('RedisMembership when Redis fails', () => {
  it('rejects in bounded time while Redis is down, and works again after an empty restart', async () => {
    const own = await startRedis();
    const m = new RedisMembership({ url: own.url });
    try {
      expect(await m.renewLease('n1', 10_000)).toBe(false);
      await m.addSocket(member('s1'));
      await m.join('s1', ['a']);
      await own.kill();
      const waits: number[] = [];

      for (const call of [() => m.count('a'), () => m.join('s1', ['b']), () => m.totals()]) {
        const start = Date.now();
        await expect(call()).rejects.toMatchObject({
          code: 'RF_MEMBERSHIP_UNAVAILABLE',
          temporary: true,
        });
        waits.push(Date.now() - start);
      }
      console.log(`Redis down: calls rejected after ${waits.join(', ')} ms`);
      expect(Math.max(...waits)).toBeLessThan(3000);

      await own.restart();
      const restarted = Date.now();
      const reachable = () =>
        m.count('a').then(
          () => true,
          () => false,
        );
      await until(reachable, 10_000);
      console.log(`Redis restarted empty: calls work again after ${Date.now() - restarted} ms`);
      expect(await m.count('a')).toBe(0); // restarted empty
      expect(await m.renewLease('n1', 10_000)).toBe(false);
      await m.reassert('n1', [{ socketId: 's1', user: 'ada', data: { user: 's1' }, rooms: ['a'] }]);
      expect(await m.members('a')).toEqual([{ ...member('s1'), user: 'ada' }]);
      expect(await m.presenceStats('a')).toEqual({ sockets: 1, users: 1 }); // presence rebuilt
      expect(await m.renewLease('n1', 10_000)).toBe(true);
    } finally {
      await m.close();
      await own[Symbol.asyncDispose]();
    }
  }, 30_000);
});
