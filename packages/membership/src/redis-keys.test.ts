import { describe, expect, it } from 'vitest';
import { RedisKeys, escapeKeyId, unescapeKeyId } from './redis-keys.js';

describe('RedisKeys', () => {
  const keys = new RedisKeys('rf');
  const tricky = ['', 'a', '{x}', '}', '{', '%', '%7B', 'a}:m', 'a b', '🎉', 'x:y:z', '{r:a}'];

  it('builds the documented key names', () => {
    expect(keys.room('lobby')).toBe('rf:{r:lobby}:m');
    expect(keys.roomUsers('lobby')).toBe('rf:{r:lobby}:u');
    expect(keys.socketRooms('s1')).toBe('rf:{s:s1}:r');
    expect(keys.socketInfo('s1')).toBe('rf:{s:s1}:i');
    expect(keys.nodeSockets('n1')).toBe('rf:{n:n1}:s');
    expect(keys.lease('n1')).toBe('rf:{n:n1}:l');
    expect(keys.leases()).toBe('rf:leases');
    expect(keys.nodes()).toBe('rf:nodes');
    expect(keys.raid('r1')).toBe('rf:raid:r1');
  });

  it('escapes ids so that the only braces in a key are its hash tag', () => {
    expect(keys.room('{x}')).toBe('rf:{r:%7Bx%7D}:m');
    for (const id of tricky) {
      const key = keys.room(id);
      expect(key.match(/[{}]/g)).toEqual(['{', '}']);
      expect(unescapeKeyId(escapeKeyId(id))).toBe(id);
    }
  });

  it('never maps two ids to one key', () => {
    const all = tricky.flatMap((id) => [
      keys.room(id),
      keys.roomUsers(id),
      keys.socketRooms(id),
      keys.socketInfo(id),
      keys.nodeSockets(id),
      keys.lease(id),
    ]);
    expect(new Set(all).size).toBe(all.length);
  });

  it('refuses a prefix with braces', () => {
    expect(() => new RedisKeys('{rf}')).toThrow();
  });
});
