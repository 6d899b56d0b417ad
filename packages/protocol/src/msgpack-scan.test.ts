import { decode, encode, ExtData } from '@msgpack/msgpack';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from './errors.js';
import { decodeValues } from './frame-codec.js';
import {
  isOneValue,
  isUtf8,
  SCAN_BAD_UTF8,
  SCAN_MALFORMED,
  SCAN_TOO_DEEP,
  scanValue,
} from './msgpack-scan.js';

const value = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double(),
    fc.float(),
    fc.string(),
    fc.string({ minLength: 32, maxLength: 300 }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 300 }),
    fc
      .tuple(fc.integer({ min: 0, max: 100 }), fc.uint8Array({ maxLength: 20 }))
      .map(([t, d]) => new ExtData(t, d)),
    fc.array(tie('any'), { maxLength: 20 }),
    fc.dictionary(fc.string({ maxLength: 4 }), tie('any'), { maxKeys: 20 }),
  ),
})).any;

/** How deep arrays and maps nest in a decoded value (a scalar is 0). */
function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof ExtData))
    return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  return 0;
}

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe('scanValue', () => {
  it('finds the end of every encoded value and measures its depth as decode sees it', () => {
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encode(v);
        const depth = depthOf(decode(bytes));
        expect(scanValue(bytes, 0, 1000)).toBe(bytes.length);
        expect(scanValue(bytes, 0, depth)).toBe(bytes.length);
        if (depth > 0) expect(scanValue(bytes, 0, depth - 1)).toBe(SCAN_TOO_DEEP);
      }),
      { numRuns: 2000, seed: 7 },
    );
  });

  it('says malformed for every truncation of a value, and for the reserved byte 0xc1', () => {
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encode(v);
        for (let cut = 0; cut < bytes.length; cut++) {
          expect(scanValue(bytes.subarray(0, cut), 0, 1000)).toBe(SCAN_MALFORMED);
        }
      }),
      { numRuns: 300, seed: 8 },
    );
    expect(scanValue(Uint8Array.of(0xc1), 0, 10)).toBe(SCAN_MALFORMED);
    expect(scanValue(Uint8Array.of(0x92, 0x01, 0xc1), 0, 10)).toBe(SCAN_MALFORMED);
  });

  it('refuses a huge declared count at once instead of looping over it', () => {
    // array32 of 4 billion items in 5 bytes
    expect(scanValue(Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff), 0, 10)).toBe(SCAN_MALFORMED);
    expect(scanValue(Uint8Array.of(0xdf, 0x7f, 0xff, 0xff, 0xff, 0x01), 0, 10)).toBe(
      SCAN_MALFORMED,
    );
  });

  it('counts an empty container as a level, and scalars as none', () => {
    expect(scanValue(encode([]), 0, 0)).toBe(SCAN_TOO_DEEP);
    expect(scanValue(encode({}), 0, 1)).toBe(1);
    expect(scanValue(encode('x'), 0, 0)).toBe(2);
    expect(scanValue(encode(nested(50)), 0, 49)).toBe(SCAN_TOO_DEEP);
    // 100,000 levels: no recursion, so no stack overflow.
    const deep = new Uint8Array(100_001).fill(0x91);
    deep[100_000] = 0x01;
    expect(scanValue(deep, 0, 200_000)).toBe(deep.length);
    expect(scanValue(deep, 0, 32)).toBe(SCAN_TOO_DEEP);
  });

  it('isOneValue: exactly one value, nothing after it', () => {
    expect(isOneValue(encode({ a: [1, 2] }), 10)).toBe(true);
    expect(isOneValue(new Uint8Array([...encode(1), ...encode(2)]), 10)).toBe(false);
    expect(isOneValue(new Uint8Array(0), 10)).toBe(false);
    expect(isOneValue(encode('abc').subarray(0, 2), 10)).toBe(false);
  });
});

describe('UTF-8', () => {
  it('isUtf8 agrees with a fatal TextDecoder on random bytes and on every encoded string', () => {
    const fatal = new TextDecoder('utf-8', { fatal: true });
    const valid = (b: Uint8Array) => {
      try {
        fatal.decode(b);
        return true;
      } catch {
        return false;
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (b) => {
        expect(isUtf8(b)).toBe(valid(b));
      }),
      { numRuns: 50_000, seed: 5 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(isUtf8(new TextEncoder().encode(s))).toBe(true);
      }),
      { numRuns: 2000, seed: 6 },
    );
  });

  it('a str that is not UTF-8 is refused (decode would have turned ff fe into "ÿþ")', () => {
    const bad = Uint8Array.of(0x92, 0x02, 0xa3, 0xff, 0xfe, 0x41);
    expect(scanValue(bad, 0, 10, true)).toBe(SCAN_BAD_UTF8);
    expect(scanValue(bad, 0, 10)).toBe(bad.length); // not asked to check
    expect(() => decodeValues(bad)).toThrow(
      expect.objectContaining({ code: ErrorCode.FRAME_MALFORMED, closeCode: 1007 }),
    );
    // bin may hold anything.
    expect(scanValue(Uint8Array.of(0xc4, 0x02, 0xff, 0xfe), 0, 10, true)).toBe(4);
  });
});

describe('decodeValues depth bound', () => {
  it('accepts a frame nesting 32 deep and refuses 33 with RF_FRAME_TOO_DEEP (close 1007)', () => {
    expect(decodeValues(encode(nested(32)))).toHaveLength(1);
    expect(() => decodeValues(encode(nested(33)))).toThrow(
      expect.objectContaining({ code: ErrorCode.FRAME_TOO_DEEP, closeCode: 1007 }),
    );
    // The second of two frames is checked too, before anything is decoded.
    const two = new Uint8Array([...encode([9]), ...new Uint8Array(200).fill(0x91), 0x01]);
    expect(() => decodeValues(two)).toThrow(
      expect.objectContaining({ code: ErrorCode.FRAME_TOO_DEEP }),
    );
  });
});
