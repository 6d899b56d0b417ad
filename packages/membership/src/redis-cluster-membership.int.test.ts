import { eventually, type RedisClusterHandle, startRedisCluster } from '@roomfabric/testkit';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { membershipContract } from './membership.contract.js';
import { redisFixture } from './redis-fixture.contract.js';
import { member } from './membership-fixture.contract.js';
import { RedisKeys, keySlot } from './redis-keys.js';
import { RedisMembership } from './redis-membership.js';

let cluster: RedisClusterHandle;
let prefixes = 0;
/** `redis://host:port` -> an ioredis startup node. */
const startup = (url: string) => {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
};
/** Each test gets its own key prefix on one shared cluster. */
const freshPrefix = () => `c${++prefixes}`;

beforeAll(async () => {
  cluster = await startRedisCluster({ primaries: 3 });
}, 30_000);
afterAll(async () => {
  await cluster?.stop();
});

membershipContract('RedisMembership on a 3-primary Redis Cluster', () =>
  Promise.resolve(redisFixture(cluster.urls, freshPrefix())),
);

describe('RedisMembership on Redis Cluster', () => {
  it('runs where Redis refuses a script that reaches another node (what the contract run checks)', async () => {
    // Redis 7.0 refuses a script's key whose slot another node serves, but accepts one of
    // another slot of the same node: the contract run above catches cross-node keys only.
    // That every call's keys share one slot is checked by redis-keys.test.ts and
    // redis-batch.test.ts (random ids, CRC16 slots of every key a call carries or builds).
    const ranges = await cluster.slots();
    const owner = (slot: number) => ranges.find((r) => r.start <= slot && slot <= r.end)?.primary;
    const here = keySlot('{a}');
    let elsewhere = '';
    for (let i = 0; !elsewhere; i++) {
      if (owner(keySlot(`{t${i}}`)) !== owner(here)) elsewhere = `{t${i}}`;
    }
    const raw = new Cluster(cluster.urls.map(startup));
    try {
      await expect(
        raw.eval("return redis.call('GET', ARGV[1])", 1, '{a}x', `${elsewhere}y`),
      ).rejects.toThrow(/non local key/);
    } finally {
      raw.disconnect();
    }
  });

  it('spreads the keys of 300 rooms over all 3 primaries', async () => {
    const keyPrefix = freshPrefix();
    const m = new RedisMembership({ cluster: { nodes: cluster.urls }, keyPrefix });
    try {
      const rooms = Array.from({ length: 300 }, (_, i) => `room-${i}`);
      await m.addSocket(member('s1'));
      await m.join('s1', rooms);
      const keys = new RedisKeys(keyPrefix);
      const ranges = await cluster.slots();
      const perPrimary = new Map<string, number>();
      for (const room of rooms) {
        const slot = keySlot(keys.room(room).members);
        const range = ranges.find((r) => r.start <= slot && slot <= r.end);
        const name = range?.primary.name ?? 'none';
        perPrimary.set(name, (perPrimary.get(name) ?? 0) + 1);
      }
      // The keys are really there, on the primary that serves their slot.
      let found = 0;
      for (const range of ranges) {
        const info = String(await range.primary.command('DBSIZE'));
        found += Number(info);
      }
      console.log(`300 rooms over primaries: ${JSON.stringify(Object.fromEntries(perPrimary))}`);
      expect(perPrimary.size).toBe(3);
      for (const count of perPrimary.values()) expect(count).toBeGreaterThan(50);
      expect(found).toBeGreaterThanOrEqual(300);
      expect(await m.count('room-7')).toBe(1);
      expect((await m.roomsOf('s1')).length).toBe(300);
    } finally {
      await m.close();
    }
  });

  it('uses a Cluster connection it was given, and leaves it open', async () => {
    const given = new Cluster(cluster.urls.map(startup), { enableAutoPipelining: true });
    const m = new RedisMembership({ redis: given, keyPrefix: freshPrefix() });
    try {
      expect(await m.renewLease('n1', 5000)).toBe(false);
      await m.addSocket(member('s1'));
      expect(await m.join('s1', ['{g}a', '{g}b', 'c'])).toEqual(['{g}a', '{g}b', 'c']);
      expect(await m.raid('r1', '{g}a', '{g}b')).toMatchObject({ repeated: false });
      expect((await m.raid('r2', '{g}b', 'c')).moved).toEqual([{ socketId: 's1', nodeId: 'n1' }]);
      expect(await m.roomsOf('s1')).toEqual(['c']);
      await m.close();
      expect(await given.ping()).toBe('PONG');
    } finally {
      given.disconnect();
    }
  });

  it('connects from a redis-cluster:// URL or a list of seed URLs, and is ready when every slot is served', async () => {
    const seeds = cluster.urls.slice(0, 2).map((u) => new URL(u).host);
    for (const url of [`redis-cluster://${seeds.join(',')}`, cluster.urls.slice(1)]) {
      const m = new RedisMembership({ url, keyPrefix: freshPrefix() });
      try {
        await m.ready();
        await m.addSocket(member('s1'));
        expect(await m.join('s1', ['a', 'b', 'c'])).toEqual(['a', 'b', 'c']);
        expect(await m.count('b')).toBe(1);
      } finally {
        await m.close();
      }
    }
  });

  it('says at ready() that a primary without a replica is down, and which slots are served', async () => {
    await using own = await startRedisCluster({ primaries: 3 });
    const m = new RedisMembership({ url: own.urls, commandTimeoutMs: 500 });
    try {
      await m.ready();
      const [victim] = await own.primaries();
      await victim!.kill();
      // The others mark it failed after the node timeout; until then it is only unreachable.
      let err: unknown;
      await eventually(
        async () => {
          err = await m.ready().then(
            () => undefined,
            (e: unknown) => e,
          );
          return /does not serve every slot/.test(String((err as Error | undefined)?.message));
        },
        { timeoutMs: 10_000, everyMs: 200, what: 'ready() to report the failed slots' },
      );
      expect(err).toMatchObject({
        code: 'RF_MEMBERSHIP_UNAVAILABLE',
        temporary: true,
        message: expect.stringMatching(
          /does not serve every slot \(cluster_state:fail, \d+ of 16384 slots ok\).*redis-cli --cluster check/,
        ),
      });
    } finally {
      await m.close();
    }
  }, 30_000);

  it('rejects in bounded time when every node is down, naming the nodes', async () => {
    await using own = await startRedisCluster({ primaries: 3 });
    const m = new RedisMembership({ cluster: { nodes: own.urls } });
    try {
      await m.addSocket(member('s1'));
      expect(await m.join('s1', ['a'])).toEqual(['a']);
      await Promise.all(own.nodes.map((node) => node.kill()));
      const waits: number[] = [];
      for (const call of [() => m.count('a'), () => m.join('s1', ['b']), () => m.totals()]) {
        const start = Date.now();
        await expect(call()).rejects.toMatchObject({
          code: 'RF_MEMBERSHIP_UNAVAILABLE',
          temporary: true,
          message: expect.stringMatching(/cannot reach Redis at cluster 127\.0\.0\.1:\d+/),
        });
        waits.push(Date.now() - start);
      }
      console.log(`cluster down: calls rejected after ${waits.join(', ')} ms`);
      expect(Math.max(...waits)).toBeLessThan(3000);
    } finally {
      await m.close();
    }
  }, 30_000);
});
