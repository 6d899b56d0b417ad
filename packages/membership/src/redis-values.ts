import { Encoder, decode } from '@msgpack/msgpack';
import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type { PresenceEvent } from './membership.js';
import { RoomCode } from './redis-scripts.js';

/** Values as `RedisMembership` stores and reads them, and the events of one call. */

const noData = Buffer.alloc(0);
/** One encoder for every call (`encode()` allocates a new one, with its buffer, each time). */
const encoder = new Encoder();

/** Reused by {@link packArgs}; grows to the largest call seen. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * The ARGV of one batched room or node script call, packed in one argument: a msgpack array
 * of strings, which the script unpacks with `cmsgpack.unpack`. ioredis then writes one
 * buffer instead of building a RESP string of thousands of arguments (its biggest cost per
 * join). Every element goes as a msgpack str, buffers too (Redis's cmsgpack knows no bin
 * type; a Lua string holds any bytes), and numbers as their decimal text: each reaches Lua
 * as the very string it was as a separate argument.
 */
export function packArgs(argv: readonly (string | Buffer | number)[]): Buffer {
  let bound = 5;
  for (const a of argv) {
    bound += 5 + (typeof a === 'string' ? a.length * 3 : typeof a === 'number' ? 24 : a.length);
  }
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(Math.max(bound, scratch.length * 2));
  const out = scratch;
  let pos = packHeader(out, 0, argv.length, 0x90, 16, 0xdc, 0xdd);
  for (const a of argv) {
    if (typeof a === 'object') {
      pos = packHeader(out, pos, a.length, 0xa0, 32, 0xda, 0xdb, 0xd9);
      pos += a.copy(out, pos);
    } else {
      const text = typeof a === 'number' ? String(a) : a;
      pos = packHeader(out, pos, Buffer.byteLength(text), 0xa0, 32, 0xda, 0xdb, 0xd9);
      pos += out.write(text, pos, 'utf8');
    }
  }
  // A copy: the scratch buffer is reused by the next call, before ioredis writes this one.
  return Buffer.from(out.subarray(0, pos));
}

/**
 * A msgpack array or str header for `n`: the fix form below `fixLimit`, else 8 bits (str
 * only, `b8`), 16 or 32 bits.
 */
function packHeader(
  out: Buffer,
  pos: number,
  n: number,
  fix: number,
  fixLimit: number,
  b16: number,
  b32: number,
  b8?: number,
): number {
  if (n < fixLimit) {
    out[pos] = fix | n;
    return pos + 1;
  }
  if (b8 !== undefined && n < 0x100) {
    out[pos] = b8;
    out[pos + 1] = n;
    return pos + 2;
  }
  if (n < 0x10000) {
    out[pos] = b16;
    out.writeUInt16BE(n, pos + 1);
    return pos + 3;
  }
  out[pos] = b32;
  out.writeUInt32BE(n, pos + 1);
  return pos + 5;
}

/** msgpack bytes of `data`; an empty string stands for `undefined`. */
export function packData(data: unknown): Buffer {
  if (data === undefined) return noData;
  let bytes: Uint8Array;
  try {
    // A view of the encoder's buffer, copied below before the next encode reuses it.
    bytes = encoder.encode(data);
  } catch (err) {
    throw new RoomfabricError(
      ErrorCode.INVALID_ARGUMENT,
      'socket data is not msgpack-serialisable',
      {
        cause: err,
      },
    );
  }
  return Buffer.from(bytes);
}

export function unpackData(bytes: unknown): unknown {
  return Buffer.isBuffer(bytes) && bytes.length > 0 ? decode(bytes) : undefined;
}

export function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

export const texts = (values: unknown): string[] => ((values as unknown[]) ?? []).map(text);

/** The member value of a room hash: the node, and the user after a NUL when there is one. */
export function memberValue(nodeId: string, user: string | undefined): string {
  return user ? `${nodeId}\0${user}` : nodeId;
}

export function parseValue(value: string): { nodeId: string; user: string | undefined } {
  const nul = value.indexOf('\0');
  return nul < 0
    ? { nodeId: value, user: undefined }
    : { nodeId: value.slice(0, nul), user: value.slice(nul + 1) };
}

/** Distinct, in first-seen order. */
export const distinct = (xs: readonly string[]): string[] =>
  xs.length < 2 ? [...xs] : [...new Set(xs)];

/** Waits for every promise; then throws the first rejection, if any. */
export async function settle(promises: readonly Promise<unknown>[]): Promise<void> {
  if (promises.length === 1) return void (await promises[0]);
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Room lifecycle and presence transitions decided by one call, reported together at its end
 * (also when a later step of the call failed: a decision made is reported once).
 */
export class Changes {
  readonly occupied: string[] = [];
  readonly vacated: string[] = [];
  readonly presence: PresenceEvent[] = [];

  /**
   * Records what one room operation decided (its RoomCode bits): `joined` is the user whose
   * presence may have started, `left` the one whose presence may have ended.
   */
  note(
    room: string,
    code: unknown,
    socketId: string,
    joined: string | undefined,
    left: unknown,
    data: unknown,
  ): void {
    const bits = Number(code);
    if (bits & RoomCode.OCCUPIED) this.occupied.push(room);
    if (bits & RoomCode.USER_LEFT) {
      this.presence.push({ room, kind: 'leave', user: text(left), socketId, data });
    }
    if (bits & RoomCode.USER_JOINED && joined) {
      this.presence.push({ room, kind: 'join', user: joined, socketId, data });
    }
    if (bits & RoomCode.VACATED) this.vacated.push(room);
  }
}
