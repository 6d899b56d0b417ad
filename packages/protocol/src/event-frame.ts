import { FrameType } from './frame-type.js';

const utf8 = new TextEncoder();

/**
 * Builds an EVENT frame around data that is already msgpack-encoded, without decoding
 * or copying it twice: `[5, event, <data bytes>, room | nil, id]`, plus the history
 * offset as a sixth element when it is non-zero. A broadcast encodes its data once at the
 * publisher and each node splices the same bytes in here, once per broadcast and room,
 * then writes the result to every local member.
 */
export function encodeEventFrame(
  event: string,
  data: Uint8Array,
  room: string | null,
  id = 0,
  offset = 0,
  bid: string | null = null,
): Uint8Array {
  const ev = utf8.encode(event);
  const rm = room === null ? null : utf8.encode(room);
  const b = bid === null ? null : utf8.encode(bid);
  // Trailing fields are written only when set: [.., id], [.., id, offset], [.., offset, bid].
  const fields = b !== null ? 7 : offset > 0 ? 6 : 5;
  const size =
    1 +
    1 +
    strHeaderSize(ev.length) +
    ev.length +
    data.length +
    (rm === null ? 1 : strHeaderSize(rm.length) + rm.length) +
    uintSize(id) +
    (fields >= 6 ? uintSize(offset) : 0) +
    (b !== null ? strHeaderSize(b.length) + b.length : 0);
  const out = new Uint8Array(size);
  let o = 0;
  out[o++] = 0x90 | fields; // fixarray
  out[o++] = FrameType.EVENT; // positive fixint
  o = writeStr(out, o, ev);
  out.set(data, o);
  o += data.length;
  if (rm === null) out[o++] = 0xc0;
  else o = writeStr(out, o, rm);
  o = writeUint(out, o, id);
  if (fields >= 6) o = writeUint(out, o, offset);
  if (b !== null) writeStr(out, o, b);
  return out;
}

function strHeaderSize(n: number): number {
  return n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function writeStr(out: Uint8Array, o: number, s: Uint8Array): number {
  const n = s.length;
  if (n < 32) out[o++] = 0xa0 | n;
  else if (n < 0x100) {
    out[o++] = 0xd9;
    out[o++] = n;
  } else if (n < 0x10000) {
    out[o++] = 0xda;
    out[o++] = n >> 8;
    out[o++] = n & 0xff;
  } else {
    out[o++] = 0xdb;
    out[o++] = (n >>> 24) & 0xff;
    out[o++] = (n >>> 16) & 0xff;
    out[o++] = (n >>> 8) & 0xff;
    out[o++] = n & 0xff;
  }
  out.set(s, o);
  return o + n;
}

function uintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n <= 0xffffffff ? 5 : 9;
}

function writeUint(out: Uint8Array, o: number, n: number): number {
  if (n < 0x80) out[o++] = n;
  else if (n < 0x100) {
    out[o++] = 0xcc;
    out[o++] = n;
  } else if (n < 0x10000) {
    out[o++] = 0xcd;
    out[o++] = n >> 8;
    out[o++] = n & 0xff;
  } else if (n <= 0xffffffff) {
    out[o++] = 0xce;
    out[o++] = (n >>> 24) & 0xff;
    out[o++] = (n >>> 16) & 0xff;
    out[o++] = (n >>> 8) & 0xff;
    out[o++] = n & 0xff;
  } else {
    // uint 64 (offsets): a safe integer's high word fits in 21 bits.
    out[o++] = 0xcf;
    const high = Math.floor(n / 0x100000000);
    const low = n >>> 0;
    for (const word of [high, low]) {
      out[o++] = (word >>> 24) & 0xff;
      out[o++] = (word >>> 16) & 0xff;
      out[o++] = (word >>> 8) & 0xff;
      out[o++] = word & 0xff;
    }
  }
  return o;
}
