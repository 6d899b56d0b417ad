import { Encoder, decode } from '@msgpack/msgpack';
import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type { PresenceEvent } from './membership.js';
import { RoomCode } from './redis-scripts.js';

/** Values as `RedisMembership` stores and reads them, and the events of one call. */

const noData = Buffer.alloc(0);
/** One encoder for every call (`encode()` allocates a new one, with its buffer, each time). */
const encoder = new Encoder();

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
