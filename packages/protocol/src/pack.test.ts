import { decode, encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { pack } from './pack.js';

describe('pack (one reused msgpack encoder)', () => {
  it('gives the bytes encode() gives, each call its own buffer', () => {
    const a = pack([3, 'ack', { x: 1 }]);
    const b = pack(['something', 'else', 'longer than a', [1, 2, 3]]);
    expect(a).toEqual(encode([3, 'ack', { x: 1 }]));
    expect(decode(a)).toEqual([3, 'ack', { x: 1 }]); // not overwritten by the second call
    expect(decode(b)).toEqual(['something', 'else', 'longer than a', [1, 2, 3]]);
    expect(a.buffer).not.toBe(b.buffer);
  });

  it('throws what encode() throws, and keeps working afterwards', () => {
    let deep: unknown = 0;
    for (let i = 0; i < 120; i++) deep = [deep];
    expect(() => pack(deep)).toThrow(/Too deep/);
    expect(decode(pack({ ok: true }))).toEqual({ ok: true });
  });

  it('grows for a large value and still encodes small ones exactly', () => {
    const big = 'x'.repeat(100_000);
    expect(decode(pack(big))).toBe(big);
    expect(pack(1)).toEqual(Uint8Array.of(1));
  });
});
