import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  RedisKeys,
  crc16,
  escapeKeyId,
  escapeRaidId,
  hashTag,
  keySlot,
  unescapeKeyId,
} from './redis-keys.js';

const keys = new RedisKeys('rf');
const tricky = ['', 'a', '{x}', '}', '{', '%', '%7B', 'a}:m', 'a b', '🎉', 'x:y:z', '{r:a}', '{}x'];
/** Ids with the characters that matter here (braces, `%`, `:`, NUL) more often than chance. */
const id = fc.oneof(
  fc.string(),
  fc.string({ unit: fc.constantFrom('{', '}', '%', ':', 'a', 'b', '\0', '7', 'B', '🎉') }),
);

describe('RedisKeys', () => {
  it('builds the documented key names', () => {
    expect(keys.room('lobby').members).toBe('rf:{r:lobby}:m');
    expect(keys.room('lobby').users).toBe('rf:{r:lobby}:u');
    expect(keys.room('lobby').raiding).toBe('rf:{r:lobby}:x');
    expect(keys.room('lobby').raid('r:1')).toBe('rf:{r:lobby}:raid:r%3A1');
    expect(keys.room('{guild:7}general').members).toBe('rf:{g:guild:7}:m:%7Bguild:7%7Dgeneral');
    expect(keys.room('{guild:7}general').users).toBe('rf:{g:guild:7}:u:%7Bguild:7%7Dgeneral');
    expect(keys.room('{guild:7}general').raiding).toBe('rf:{g:guild:7}:x:%7Bguild:7%7Dgeneral');
    expect(keys.room('{guild:7}general').raid('r1')).toBe(
      'rf:{g:guild:7}:raid:%7Bguild:7%7Dgeneral:r1',
    );
    const n = keys.node('n1');
    expect([n.base, n.sockets, n.lease, n.purge]).toEqual([
      'rf:{n:n1}',
      'rf:{n:n1}:s',
      'rf:{n:n1}:l',
      'rf:{n:n1}:purge',
    ]);
    expect(n.info('s1')).toBe('rf:{n:n1}:i:s1');
    expect(n.rooms('s1')).toBe('rf:{n:n1}:r:s1');
    expect(keys.pointer('s1')).toBe('rf:{s:s1}:n');
    expect(keys.leases()).toBe('rf:leases');
    expect(keys.nodes()).toBe('rf:nodes');
  });

  it('finds hash tags by the rule Redis Cluster uses', () => {
    expect(hashTag('{guild:7}general')).toBe('guild:7');
    expect(hashTag('a{b}c{d}')).toBe('b');
    expect(hashTag('{}x')).toBeUndefined(); // empty: the whole name is hashed
    expect(hashTag('a{}{b}')).toBeUndefined(); // only the first { counts
    expect(hashTag('{{a}}')).toBe('{a');
    expect(hashTag('{open')).toBeUndefined();
    expect(hashTag('plain')).toBeUndefined();
  });

  it('computes the slots Redis computes', () => {
    // The test vector of the Redis Cluster spec, and `CLUSTER KEYSLOT` answers.
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}'));
    expect(keySlot('🎉')).toBe(crc16(Buffer.from('🎉', 'utf8')) % 16384);
  });

  it('escapes ids so that the only braces in a key are its hash tag', () => {
    expect(keys.room('{x}').members).toBe('rf:{g:x}:m:%7Bx%7D');
    expect(keys.room('{}x').members).toBe('rf:{r:%7B%7Dx}:m');
    for (const room of tricky) {
      const k = keys.room(room);
      for (const key of [k.members, k.users, k.raiding, k.raid(room)]) {
        expect(key.match(/[{}]/g), key).toEqual(['{', '}']);
      }
      expect(unescapeKeyId(escapeKeyId(room))).toBe(room);
      expect(unescapeKeyId(escapeRaidId(room))).toBe(room);
    }
  });

  it('puts every key of a room in one slot, and rooms with one {tag} in the same slot', () => {
    fc.assert(
      fc.property(id, id, id, (room, raidId, suffix) => {
        const k = keys.room(room);
        for (const key of [k.members, k.users, k.raiding, k.raid(raidId)]) {
          expect(keySlot(key)).toBe(k.slot);
        }
        const tag = hashTag(room);
        if (tag !== undefined) {
          // Any room with the same tag, e.g. `{tag}` + anything, shares the slot.
          expect(keys.room(`{${tag}}${suffix}`).slot).toBe(k.slot);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('puts every key of a node in one slot, and the Lua-built socket keys too', () => {
    fc.assert(
      fc.property(id, id, (node, socket) => {
        const n = keys.node(node);
        const luaBuilt = [
          `${n.base}:i:${escapeKeyId(socket)}`,
          `${n.base}:r:${escapeKeyId(socket)}`,
        ];
        for (const key of [
          n.sockets,
          n.lease,
          n.purge,
          n.info(socket),
          n.rooms(socket),
          ...luaBuilt,
        ]) {
          expect(keySlot(key)).toBe(n.slot);
        }
        expect(keySlot(keys.pointer(socket))).toBe(keySlot(`{s:${escapeKeyId(socket)}}`));
      }),
      { numRuns: 2000 },
    );
  });

  it('never maps two ids to one key', () => {
    const all = tricky.flatMap((x) => {
      const r = keys.room(x);
      const n = keys.node(x);
      return [
        r.members,
        r.users,
        r.raiding,
        r.raid(x),
        r.raid('m'),
        n.sockets,
        n.lease,
        n.purge,
        n.info(x),
        n.rooms(x),
        keys.pointer(x),
      ];
    });
    expect(new Set(all).size).toBe(all.length);
    // A room whose name ends like a raid key of another room of its tag stays apart from it.
    expect(keys.room('{t}a:raid').members).not.toBe(keys.room('{t}a').raid('m'));
    fc.assert(
      fc.property(id, id, id, id, (a, b, x, y) => {
        const ra = keys.room(a);
        const rb = keys.room(b);
        if (a !== b) {
          expect(ra.members).not.toBe(rb.members);
          expect(ra.members).not.toBe(rb.users);
          expect(ra.members).not.toBe(rb.raid(x));
          expect(ra.raiding).not.toBe(rb.members);
          expect(ra.raiding).not.toBe(rb.raid(x));
        }
        if (a !== b || x !== y) expect(ra.raid(x)).not.toBe(rb.raid(y));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a prefix with braces', () => {
    expect(() => new RedisKeys('{rf}')).toThrow();
  });
});
