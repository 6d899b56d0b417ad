import { type RedisHandle, eventually, startRedis } from '@roomfabric/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { membershipContract } from './membership.contract.js';
import { redisFixture } from './redis-fixture.contract.js';
import { fill, member } from './membership-fixture.contract.js';
import { describeWatch, watchRaid } from './membership-raid.contract.js';
import { RedisKeys } from './redis-keys.js';
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

membershipContract('RedisMembership', () =>
  Promise.resolve(redisFixture(redis.url, freshPrefix())),
);

/** Script calls and their total time in Redis so far (INFO commandstats; the reader's included). */
async function scriptStats(raw: Redis): Promise<{ calls: number; usec: number }> {
  const stats = await raw.info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const [, c, u] of stats.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+),usec=(\d+)/g)) {
    calls += Number(c);
    usec += Number(u);
  }
  return { calls, usec };
}

describe('RedisMembership on Redis', () => {
  it('lays the keys out by slot: room, node, socket pointer, globals', async () => {
    const raw = new Redis(redis.url);
    const m = new RedisMembership({ redis: raw, keyPrefix: 'esc' });
    try {
      await m.renewLease('{n}', 5000);
      await m.addSocket({ socketId: '{s}', nodeId: '{n}', user: 'ada', data: { v: 1 } });
      await m.join('{s}', ['{x}', 'x}', '%7Bx%7D']);
      await m.raid('r:1', '{x}', '{x}y'); // one {x} tag: one slot, one script
      const keys = (await raw.keys('esc:*')).sort();
      expect(keys).toEqual(
        [
          'esc:leases',
          'esc:nodes',
          'esc:{n:%7Bn%7D}:l',
          'esc:{n:%7Bn%7D}:s',
          'esc:{n:%7Bn%7D}:i:%7Bs%7D',
          'esc:{n:%7Bn%7D}:r:%7Bs%7D',
          'esc:{s:%7Bs%7D}:n',
          'esc:{g:x}:m:%7Bx%7Dy',
          'esc:{g:x}:u:%7Bx%7Dy',
          'esc:{g:x}:raid:%7Bx%7D:r%3A1',
          'esc:{g:x}:x:%7Bx%7D', // the raiding key of {x}, gone a few seconds after the raid
          'esc:{r:x%7D}:m',
          'esc:{r:x%7D}:u',
          'esc:{r:%257Bx%257D}:m',
          'esc:{r:%257Bx%257D}:u',
        ].sort(),
      );
      // A member value is node NUL user; the info hash keeps node, data and user.
      expect(await raw.hget('esc:{r:x%7D}:m', '{s}')).toBe('{n}\0ada');
      expect(await raw.hget('esc:{r:x%7D}:u', 'ada')).toBe('1');
      expect(await raw.hmget('esc:{n:%7Bn%7D}:i:%7Bs%7D', 'n', 'u')).toEqual(['{n}', 'ada']);
      expect(await raw.get('esc:{s:%7Bs%7D}:n')).toBe('{n}');
      expect((await raw.smembers('esc:{n:%7Bn%7D}:r:%7Bs%7D')).sort()).toEqual(
        ['%7Bx%7D', 'x}', '{x}y'].sort(),
      );
      expect(await raw.hget('esc:{g:x}:raid:%7Bx%7D:r%3A1', 's')).toBe('d');
      await expect(m.addSocket(member('s2', 'bad\0node'))).rejects.toMatchObject({
        code: 'RF_INVALID_ARGUMENT',
      });
      await m.close();
      expect(await raw.ping()).toBe('PONG'); // a connection it did not create stays open
    } finally {
      raw.disconnect();
    }
  });

  it('scrubs a room entry whose reverse entry was lost, which a re-assert alone cannot see', async () => {
    const prefix = freshPrefix();
    const m = new RedisMembership({ url: redis.url, keyPrefix: prefix });
    const raw = new Redis(redis.url);
    try {
      await m.addSocket(member('s1'));
      await m.join('s1', ['a', 'b']);
      // What a failover that lost a leave's room step leaves: the reverse set says the
      // socket left `a`, the room still lists it.
      await raw.srem(`${prefix}:{n:n1}:r:s1`, 'a');
      const truth = [{ socketId: 's1', data: undefined, rooms: ['b'] }];
      await m.reassert('n1', truth);
      expect(await m.count('a')).toBe(1); // the ghost
      await m.reassert('n1', truth, { scrub: [{ socketId: 's1', room: 'a' }] });
      expect(await m.count('a')).toBe(0);
      expect(await m.roomsOf('s1')).toEqual(['b']);
    } finally {
      raw.disconnect();
      await m.close();
    }
  });

  it('renewLease says the lease is gone once Redis restarted, even with its data kept', async () => {
    await using own = await startRedis({
      args: ['--appendonly', 'yes', '--appendfsync', 'always'],
    });
    const m = new RedisMembership({ url: own.url, keyPrefix: freshPrefix() });
    try {
      expect(await m.renewLease('n1', 60_000)).toBe(false); // first start
      expect(await m.renewLease('n1', 60_000)).toBe(true);
      await own.restart();
      await eventually(() => m.ready().then(() => true), { timeoutMs: 10_000 });
      // The lease survived in the AOF, but writes after the last fsync could be lost.
      expect(await m.renewLease('n1', 60_000)).toBe(false);
      expect(await m.renewLease('n1', 60_000)).toBe(true);
    } finally {
      await m.close();
    }
  });

  it('renewLease says not alive while a purge of the node runs, and once after it', async () => {
    const prefix = freshPrefix();
    const m = new RedisMembership({ url: redis.url, keyPrefix: prefix });
    const raw = new Redis(redis.url);
    try {
      expect(await m.renewLease('n1', 60_000)).toBe(false); // first start
      expect(await m.renewLease('n1', 60_000)).toBe(true);
      // A purger that took the node while its lease had lapsed holds the purge lock: it may
      // still remove sockets, ones a re-assert writes meanwhile included.
      const lock = new RedisKeys(prefix).node('n1').purge;
      await raw.set(lock, 'a-purger', 'PX', 60_000);
      expect(await m.renewLease('n1', 60_000)).toBe(false);
      expect(await m.renewLease('n1', 60_000)).toBe(false);
      await raw.del(lock);
      // Once more after the purge ended: what it removed after the last re-assert.
      expect(await m.renewLease('n1', 60_000)).toBe(false);
      expect(await m.renewLease('n1', 60_000)).toBe(true);
    } finally {
      raw.disconnect();
      await m.close();
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

  it('sends the joins of one turn as one script call per node and per room slot', async () => {
    const m = new RedisMembership({ url: redis.url, keyPrefix: freshPrefix() });
    const raw = new Redis(redis.url);
    const scriptCalls = async () => {
      const stats = await raw.info('commandstats');
      return [...stats.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)].reduce(
        (sum, x) => sum + Number(x[1]),
        0,
      );
    };
    try {
      const ids = Array.from({ length: 200 }, (_, i) => `s${i}`);
      await Promise.all(ids.map((id) => m.addSocket(member(id))));
      await m.join('s0', ['warm-up']); // scripts loaded
      const calls = await scriptCalls();
      const sent = m.batchedCalls;
      const added = await Promise.all(ids.map((id) => m.join(id, ['lobby'])));
      // One node call (phase A: 200 reverse-set writes), one room call (200 members).
      expect(m.batchedCalls - sent).toBe(2);
      expect((await scriptCalls()) - calls).toBe(2); // and Redis ran exactly those two
      expect(added.every((rooms) => rooms.length === 1 && rooms[0] === 'lobby')).toBe(true);
      expect(await m.count('lobby')).toBe(200);
    } finally {
      raw.disconnect();
      await m.close();
    }
  });

  it('keeps the order of one socket, and each caller its own result and error, in one turn', async () => {
    const m = new RedisMembership({ url: redis.url, keyPrefix: freshPrefix() });
    try {
      await m.addSocket(member('s1'));
      await m.addSocket(member('s2'));
      const [joined, left, again, ghost, other] = await Promise.allSettled([
        m.join('s1', ['r']),
        m.leave('s1', ['r']),
        m.join('s1', ['r', 'q']),
        m.join('ghost', ['r']),
        m.join('s2', ['r']),
      ]);
      expect(joined).toEqual({ status: 'fulfilled', value: ['r'] });
      expect(left).toEqual({ status: 'fulfilled', value: ['r'] });
      expect(again).toEqual({ status: 'fulfilled', value: ['r', 'q'] });
      expect(ghost).toMatchObject({ status: 'rejected', reason: { code: 'RF_INVALID_ARGUMENT' } });
      expect(other).toEqual({ status: 'fulfilled', value: ['r'] });
      expect(await m.count('r')).toBe(2);
    } finally {
      await m.close();
    }
  });

  it('resumes a cross-slot raid that stopped half way when retried with its id', async () => {
    const keyPrefix = freshPrefix();
    const m = new RedisMembership({ url: redis.url, keyPrefix });
    const raw = new Redis(redis.url);
    try {
      await fill(m, { prefix: 's', count: 20, rooms: ['from'], users: true });
      // The first step alone, as if the raider died right after it: a pending snapshot.
      const keys = new RedisKeys(keyPrefix);
      const from = keys.room('from');
      await raw.eval(
        "redis.call('HSET', KEYS[1], 's', 'p', 'm', cmsgpack.pack(redis.call('HGETALL', KEYS[2])))",
        2,
        from.raid('r1'),
        from.members,
      );
      await m.addSocket(member('late'));
      await m.join('late', ['from']); // after the snapshot: stays in from
      const result = await m.raid('r1', 'from', 'to');
      expect(result).toMatchObject({ repeated: false });
      expect(result.moved).toHaveLength(20);
      expect(await m.count('to')).toBe(20);
      expect(await m.members('from')).toEqual([member('late')]);
      expect(await m.roomsOf('s3')).toEqual(['to']);
      expect(await m.presenceStats('to')).toEqual({ sockets: 20, users: 20 });
      expect((await m.raid('r1', 'from', 'to')).repeated).toBe(true);
    } finally {
      raw.disconnect();
      await m.close();
    }
  });

  it('leaves no ghost when a mover disconnects while a raid runs', async () => {
    const m = new RedisMembership({ url: redis.url, keyPrefix: freshPrefix() });
    try {
      for (const [from, to] of [
        ['a', 'b'],
        ['{t}a', '{t}b'],
      ] as const) {
        const ids = await fill(m, { prefix: `${from}-`, count: 2000, rooms: [from] });
        const raid = m.raid(`r-${from}`, from, to);
        // Disconnect a quarter of the movers while the raid's steps run.
        await Promise.all(ids.filter((_, i) => i % 4 === 0).map((id) => m.removeSocket(id)));
        await raid;
        expect(await m.count(from)).toBe(0);
        expect(await m.count(to)).toBe(1500);
        expect((await m.members(to)).length).toBe(1500);
      }
    } finally {
      await m.close();
    }
  });

  it.each([
    ['one slot ({tag})', '{channel}a', '{channel}b', false, false],
    ['one slot ({tag})', '{channel}a', '{channel}b', true, false],
    ['one slot ({tag})', '{channel}a', '{channel}b', true, true],
    ['across slots', 'channel:a', 'channel:b', false, false],
    ['across slots', 'channel:a', 'channel:b', true, false],
    ['across slots', 'channel:a', 'channel:b', true, true],
  ])(
    'raids 50,000 members, %s: %s -> %s, users %s, presence listener %s',
    async (what, from, to, users, listen) => {
      const raw = new Redis(redis.url);
      const keyPrefix = freshPrefix();
      // A generous timeout: this measures, on a shared 2-core machine with other suites running.
      const commandTimeoutMs = 10_000;
      const m = new RedisMembership({ url: redis.url, keyPrefix, commandTimeoutMs });
      const reader = new RedisMembership({ url: redis.url, keyPrefix, commandTimeoutMs });
      let presence = 0;
      if (listen) m.onPresence(() => presence++);
      try {
        const size = 50_000;
        const loadStart = performance.now();
        const ids = await fill(m, { prefix: 'viewer-', count: size, rooms: [from], users });
        presence = 0;
        const loadMs = performance.now() - loadStart;
        await raw.config('SET', 'slowlog-log-slower-than', '0');
        await raw.config('SET', 'slowlog-max-len', '100000');
        await raw.slowlog('RESET');
        const before = await scriptStats(raw);
        const watch = await watchRaid(reader, from, to, size, [ids[0]!, ids[size - 1]!], () =>
          m.raid('raid-50k', from, to),
        );
        const after = await scriptStats(raw);
        const log = (await raw.slowlog('GET', 100000)) as [number, number, number, string[]][];
        await raw.config('SET', 'slowlog-log-slower-than', '10000');
        await raw.config('SET', 'slowlog-max-len', '128');
        const evals = log.filter((e) => /^eval/i.test(e[3][0] ?? ''));
        const longestMs = Math.max(...evals.map((e) => e[2])) / 1000;
        const scripts = after.calls - before.calls;
        const scriptMs = (after.usec - before.usec) / 1000;
        console.log(
          `raid of ${size}, ${what}, users ${users}, listener ${listen}: ${scripts} scripts, ` +
            `${scriptMs.toFixed(1)} ms in Redis (longest ${longestMs.toFixed(1)} ms); ` +
            `${describeWatch(watch)}; load ${loadMs.toFixed(0)} ms`,
        );
        expect(watch.neither).toEqual([]);
        expect(watch.result.moved).toHaveLength(size);
        expect(presence).toBe(listen ? 2 * size : 0); // each user left from and joined to
        expect(await m.presenceStats(to)).toEqual({ sockets: size, users: users ? size : 0 });
        expect(await m.count(from)).toBe(0);
        expect(await m.count(to)).toBe(size);
        expect(await m.roomsOf('viewer-123')).toEqual([to]);
        const again = await m.raid('raid-50k', from, to);
        expect(again.repeated).toBe(true);
        expect(again.moved).toHaveLength(size);
      } finally {
        raw.disconnect();
        await m.close();
        await reader.close();
      }
    },
    120_000,
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
      await eventually(reachable, { timeoutMs: 10_000, everyMs: 20 });
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
