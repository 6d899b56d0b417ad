import { decode, encode } from '@msgpack/msgpack';
import { ErrorCode, RoomfabricError } from './errors.js';

/**
 * Messages between nodes on the bus: a discriminated union keyed by a numeric type.
 * Each is a msgpack array whose first element is the type.
 */
export const BusMessageType = {
  BROADCAST: 1,
} as const;

export type BusMessageType = (typeof BusMessageType)[keyof typeof BusMessageType];

export const BroadcastFlag = {
  VOLATILE: 1,
} as const;

/**
 * One broadcast, published once per target room subject (or once on `rf.all` when
 * `rooms` is empty). A node that receives it through room `rooms[i]` delivers it to its
 * local members of that room that are in none of `rooms[0..i-1]` (they get it through the
 * earlier room), none of `except`, and are not `exceptSocket`.
 */
export interface BroadcastMessage {
  type: typeof BusMessageType.BROADCAST;
  rooms: string[];
  except: string[];
  exceptSocket: string | null;
  flags: number;
  event: string;
  /** The event data, already msgpack-encoded, spliced as is into every EVENT frame. */
  data: Uint8Array;
}

export type BusMessage = BroadcastMessage;

export function encodeBusMessage(msg: BusMessage): Uint8Array {
  return encode([
    msg.type,
    msg.rooms,
    msg.except,
    msg.exceptSocket,
    msg.flags,
    msg.event,
    msg.data,
  ]);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/**
 * Decodes and checks a bus message. Anything can be published on a subject, so a node
 * treats the bus as untrusted input: a malformed message throws `RF_FRAME_MALFORMED`
 * and must be counted and dropped, never crash the node.
 */
export function decodeBusMessage(bytes: Uint8Array): BusMessage {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (cause) {
    throw new RoomfabricError(ErrorCode.FRAME_MALFORMED, 'undecodable bus message', { cause });
  }
  if (Array.isArray(value) && value[0] === BusMessageType.BROADCAST) {
    const [, rooms, except, exceptSocket, flags, event, data] = value as unknown[];
    if (
      isStringArray(rooms) &&
      isStringArray(except) &&
      (exceptSocket === null || typeof exceptSocket === 'string') &&
      typeof flags === 'number' &&
      typeof event === 'string' &&
      data instanceof Uint8Array
    ) {
      return { type: BusMessageType.BROADCAST, rooms, except, exceptSocket, flags, event, data };
    }
  }
  throw new RoomfabricError(ErrorCode.FRAME_MALFORMED, 'bus message of unknown shape');
}
