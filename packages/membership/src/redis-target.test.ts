import { describe, expect, it } from 'vitest';
import { parseRedisTarget, redactRedisTarget } from './redis-target.js';

const refusal = (input: unknown): { code: string; message: string } => {
  try {
    parseRedisTarget(input as string);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error(`parseRedisTarget(${JSON.stringify(input)}) threw nothing`);
};

describe('parseRedisTarget', () => {
  it('takes one redis:// or rediss:// URL as one Redis, unchanged', () => {
    expect(parseRedisTarget('redis://127.0.0.1:6379/2')).toEqual({
      kind: 'single',
      url: 'redis://127.0.0.1:6379/2',
    });
    expect(parseRedisTarget(['rediss://:pw@r.example:6380'])).toEqual({
      kind: 'single',
      url: 'rediss://:pw@r.example:6380',
    });
  });

  it('reads redis-cluster:// and rediss-cluster:// seed lists with credentials for all nodes', () => {
    expect(parseRedisTarget('redis-cluster://10.0.0.1:7000,10.0.0.2:7001, node3')).toEqual({
      kind: 'cluster',
      seeds: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: 'node3', port: 6379 },
      ],
      tls: false,
    });
    expect(parseRedisTarget('rediss-cluster://app:p%40ss@[::1]:7000,h:7001/')).toEqual({
      kind: 'cluster',
      seeds: [
        { host: '::1', port: 7000 },
        { host: 'h', port: 7001 },
      ],
      username: 'app',
      password: 'p@ss',
      tls: true,
    });
    // A lone user part is a password, as ioredis reads redis://token@host.
    expect(parseRedisTarget('redis-cluster://token@h:1')).toMatchObject({ password: 'token' });
    expect(parseRedisTarget('redis-cluster://token@h:1')).not.toHaveProperty('username');
  });

  it('takes several URLs (a list, or commas) as the seed nodes of one cluster', () => {
    const expected = {
      kind: 'cluster',
      seeds: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      password: 'pw',
      tls: false,
    };
    expect(parseRedisTarget(['redis://:pw@a:7000', 'redis://b:7001'])).toEqual(expected);
    expect(parseRedisTarget('redis://:pw@a:7000,redis://:pw@b:7001')).toEqual(expected);
  });

  it('refuses what it cannot connect to, naming it without the password', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['', /needs a URL/],
      [[], /needs a URL/],
      [42, /needs a URL/],
      ['127.0.0.1:6379', /redis:\/\/, rediss:\/\/ or redis-cluster:\/\//],
      ['http://h:1', /redis:\/\/, rediss:\/\/ or redis-cluster:\/\//],
      ['redis-cluster://', /redis-cluster:\/\/\[user:password@\]host:port/],
      ['redis-cluster://:secret@h:1/0', /no database/],
      ['redis-cluster://:secret@h:99999', /not a host:port/],
      ['redis-cluster://h:1,,', /not a host:port/],
      [['redis://a:1', 'rediss://b:2'], /all use redis:\/\/ or all rediss:\/\//],
      [['redis://:x@a:1', 'redis://:y@b:2'], /different credentials/],
      [['redis://a:1/3', 'redis://b:2'], /no databases/],
      [['redis://a:1', 'redis-cluster://b:2'], /give it alone/],
    ];
    for (const [input, message] of cases) {
      const err = refusal(input);
      expect(err.code, String(input)).toBe('RF_INVALID_ARGUMENT');
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain('secret');
    }
  });

  it('redacts every form for logs', () => {
    expect(redactRedisTarget('redis://:pw@a:1')).toBe('redis://:***@a:1');
    expect(redactRedisTarget('redis://:pw@a:1,redis://b:2')).toBe('redis://:***@a:1,redis://b:2');
    expect(redactRedisTarget(['rediss://u:pw@a:1', 'rediss://b:2'])).toBe(
      'rediss://u:***@a:1,rediss://b:2',
    );
    expect(redactRedisTarget('redis-cluster://app:pw@h1:7000,h2:7000')).toBe(
      'redis-cluster://app:***@h1:7000,h2:7000',
    );
    expect(redactRedisTarget('rediss-cluster://token@h1:7000')).toBe(
      'rediss-cluster://***@h1:7000',
    );
    expect(redactRedisTarget('redis-cluster://h1:7000')).toBe('redis-cluster://h1:7000');
  });
});
