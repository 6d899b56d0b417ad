import { type RedisHandle, startRedis } from '@roomfabric/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packArgs } from './redis-values.js';

/*
 * packArgs is what the room and node scripts receive as their whole ARGV: every value must
 * come out of Redis's cmsgpack.unpack as the very bytes it would have had as an argument.
 */
let redis: RedisHandle;
let raw: Redis;

beforeAll(async () => {
  redis = await startRedis();
  raw = new Redis(redis.url);
});
afterAll(async () => {
  raw?.disconnect();
  await redis?.[Symbol.asyncDispose]();
});

const echo =
  'local a = cmsgpack.unpack(ARGV[1]) local out = {} for i = 1, #a do out[i] = a[i] end return out';

describe('packArgs through cmsgpack.unpack', () => {
  const cases: Array<[string, Array<string | Buffer | number>]> = [
    ['short strings', ['J', 'socket-1', 'room']],
    ['numbers, as their decimal text', [0, 1, 31, 32, 255, 256, 65535, 65536, 2_000_000]],
    ['bytes no string could hold', [Buffer.from([0, 255, 1, 0xc4, 0xd9]), Buffer.alloc(0)]],
    ['empty and NUL-joined values', ['', 'node\0user']],
    ['UTF-8', ['é€𝄞', '{guild:7}général']],
    [
      'every header size (fixstr, str8, str16, str32)',
      ['x'.repeat(31), 'x'.repeat(32), 'x'.repeat(255), 'x'.repeat(256), 'x'.repeat(70_000)],
    ],
    ['arrays past 15 and 65,535 elements', Array.from({ length: 70_000 }, (_, i) => `s${i}`)],
  ];
  for (const [what, values] of cases) {
    it(what, async () => {
      const got = (await raw.callBuffer('EVAL', echo, '0', packArgs([...values]))) as Buffer[];
      const want = values.map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v))));
      expect(got.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) expect(got[i]!.equals(want[i]!)).toBe(true);
    });
  }

  it('each call owns its bytes: the reused buffer does not leak into an earlier one', async () => {
    const first = packArgs(['y'.repeat(100_000)]);
    const second = packArgs(['a', 'b']);
    const [a, b] = await Promise.all([
      raw.callBuffer('EVAL', echo, '0', first) as Promise<Buffer[]>,
      raw.callBuffer('EVAL', echo, '0', second) as Promise<Buffer[]>,
    ]);
    expect(a[0]!.equals(Buffer.from('y'.repeat(100_000)))).toBe(true);
    expect(b.map(String)).toEqual(['a', 'b']);
  });
});
