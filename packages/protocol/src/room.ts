import { ErrorCode, RoomfabricError } from './errors.js';
import { DEFAULT_LIMITS } from './limits.js';

/**
 * Rooms whose id starts with this prefix belong to the fabric itself (personal rooms and
 * the like). Application code on the server may use them; clients may not join or
 * address them.
 */
export const RESERVED_ROOM_PREFIX = '$';

// C0 controls, DEL and C1 controls. Everything else that is well-formed Unicode is allowed.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Why `room` is not a valid room id, or `undefined` when it is valid.
 * A room id is a string of 1 to `maxLength` Unicode code points, well-formed UTF-16 (no
 * lone surrogates), with no control characters (U+0000-U+001F, U+007F-U+009F).
 */
export function roomIdProblem(
  room: unknown,
  maxLength: number = DEFAULT_LIMITS.maxRoomLength,
): string | undefined {
  if (typeof room !== 'string') return 'a room id must be a string';
  if (room.length === 0) return 'a room id must not be empty';
  // .length counts UTF-16 units, an upper bound on code points: count exactly only when needed.
  if (room.length > maxLength && codePointLength(room) > maxLength) {
    return `a room id must be at most ${maxLength} characters`;
  }
  if (!room.isWellFormed()) return 'a room id must be well-formed Unicode';
  if (CONTROL.test(room)) return 'a room id must not contain control characters';
  return undefined;
}

/** Throws `RF_ROOM_INVALID` unless `room` is a valid room id (see {@link roomIdProblem}). */
export function assertRoomId(
  room: unknown,
  maxLength: number = DEFAULT_LIMITS.maxRoomLength,
): asserts room is string {
  const problem = roomIdProblem(room, maxLength);
  if (problem !== undefined) {
    throw new RoomfabricError(ErrorCode.ROOM_INVALID, `${problem}: ${describe(room)}`, {
      details: { room: typeof room === 'string' ? room.slice(0, 64) : undefined },
    });
  }
}

/** One room or several as a list without repeats; throws `RF_ROOM_INVALID` for a bad id. */
export function checkRooms(room: string | readonly string[], maxLength?: number): string[] {
  if (typeof room !== 'string' && !Array.isArray(room)) {
    // Not a room and not a list of rooms: say so with the code a bad room id gets.
    assertRoomId(room, maxLength);
  }
  const rooms = typeof room === 'string' ? [room] : [...new Set(room as readonly string[])];
  for (const r of rooms) assertRoomId(r, maxLength);
  return rooms;
}

/**
 * The personal room of a user: every socket authenticated as `userId` (one per tab or
 * device) is in it, so one emit reaches all of them. Reserved, so no client can join or
 * address another user's personal room.
 */
export function userRoom(userId: string): string {
  return `${RESERVED_ROOM_PREFIX}user:${userId}`;
}

/** Prefix of the live rooms of channels (see {@link channelRoom}). */
export const CHANNEL_ROOM_PREFIX = `${RESERVED_ROOM_PREFIX}chan:`;

/**
 * The live room of a persistent channel (docs/channels.md): every socket of every user
 * subscribed to `name` is in it, so `to(channelRoom(name)).emit(...)` reaches the channel.
 * Reserved, so a client can neither join a channel it is not subscribed to nor address it.
 */
export function channelRoom(name: string): string {
  return `${CHANNEL_ROOM_PREFIX}${name}`;
}

/** The channel whose live room is `room`, or `undefined` for any other room. */
export function channelOfRoom(room: string): string | undefined {
  return room.startsWith(CHANNEL_ROOM_PREFIX) && room.length > CHANNEL_ROOM_PREFIX.length
    ? room.slice(CHANNEL_ROOM_PREFIX.length)
    : undefined;
}

/**
 * Throws `RF_ROOM_INVALID` unless `name` is a valid channel name: a valid room id whose
 * live room ({@link channelRoom}) is a valid room id too, so at most `maxLength` minus 6
 * code points.
 */
export function assertChannelName(
  name: unknown,
  maxLength: number = DEFAULT_LIMITS.maxRoomLength,
): asserts name is string {
  const problem =
    roomIdProblem(name, maxLength) ??
    (typeof name === 'string' && roomIdProblem(channelRoom(name), maxLength) !== undefined
      ? `a channel name must be at most ${maxLength - CHANNEL_ROOM_PREFIX.length} characters`
      : undefined);
  if (problem !== undefined) {
    throw new RoomfabricError(
      ErrorCode.ROOM_INVALID,
      `${problem.replace('a room id', 'a channel name')}: ${describe(name)}`,
      { details: { channel: typeof name === 'string' ? name.slice(0, 64) : undefined } },
    );
  }
}

/** True for ids in the fabric's reserved namespace (see {@link RESERVED_ROOM_PREFIX}). */
export function isReservedRoom(room: string): boolean {
  return room.startsWith(RESERVED_ROOM_PREFIX);
}

export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

function describe(value: unknown): string {
  if (typeof value !== 'string') return typeof value;
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const HEX = '0123456789ABCDEF';

function isPlain(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    byte === 0x2d || // -
    byte === 0x5f // _
  );
}

/**
 * Maps a room id to one NATS subject token. Bytes of the UTF-8 encoding in
 * `[A-Za-z0-9_-]` stay as they are; every other byte becomes `~` plus two upper-case hex
 * digits. The escape is prefix-free, so the mapping is injective (and
 * {@link subjectTokenToRoom} inverts it), and the token never holds `.`, `*`, `>`,
 * whitespace or non-ASCII, which NATS tokens cannot or should not hold.
 */
export function roomToSubjectToken(room: string): string {
  let plain = true;
  for (let i = 0; i < room.length; i++) {
    if (!isPlain(room.charCodeAt(i))) {
      plain = false;
      break;
    }
  }
  if (plain) return room;
  let out = '';
  for (const byte of encoder.encode(room)) {
    out += isPlain(byte) ? String.fromCharCode(byte) : `~${HEX[byte >> 4]}${HEX[byte & 15]}`;
  }
  return out;
}

/**
 * The inverse of {@link roomToSubjectToken}. Throws `RF_ROOM_INVALID` on a token that
 * {@link roomToSubjectToken} cannot produce (bad escapes, escaped plain bytes, bad UTF-8).
 */
export function subjectTokenToRoom(token: string): string {
  if (token.length === 0) throw new RoomfabricError(ErrorCode.ROOM_INVALID, 'empty subject token');
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c === 0x7e) {
      const hex = token.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) {
        throw new RoomfabricError(ErrorCode.ROOM_INVALID, `malformed subject token: ${token}`);
      }
      const byte = parseInt(hex, 16);
      if (isPlain(byte)) {
        throw new RoomfabricError(ErrorCode.ROOM_INVALID, `non-canonical subject token: ${token}`);
      }
      bytes.push(byte);
      i += 2;
    } else if (isPlain(c)) {
      bytes.push(c);
    } else {
      throw new RoomfabricError(ErrorCode.ROOM_INVALID, `malformed subject token: ${token}`);
    }
  }
  try {
    return decoder.decode(new Uint8Array(bytes));
  } catch (cause) {
    throw new RoomfabricError(ErrorCode.ROOM_INVALID, `malformed subject token: ${token}`, {
      cause,
    });
  }
}

/** Subjects on the bus. See docs/architecture.md, "Subjects and keys". */
export const Subject = {
  /** Broadcasts to one room. */
  room: (room: string): string => `rf.room.${roomToSubjectToken(room)}`,
  /** Broadcasts to every socket of the fabric. */
  all: 'rf.all',
  /** Control messages addressed to one node. */
  node: (nodeId: string): string => `rf.node.${roomToSubjectToken(nodeId)}`,
  /** Raid requests to the membership service (a queue group). */
  raid: 'rf.svc.raid',
  /** Sockets the fabric removed on its own (purge of a dead node). */
  socketLeft: 'rf.evt.leave',
  /** Room lifecycle: first member in (occupied), last member out (vacated). */
  roomEvents: 'rf.evt.room',
  /**
   * Presence of one room: a user's first socket in (join), last out (leave). One subject
   * per room, so a backend can follow one room; {@link Subject.allPresence} follows all.
   */
  presence: (room: string): string => `rf.evt.presence.${roomToSubjectToken(room)}`,
  /** Every room's presence events (a wildcard subscription). */
  allPresence: 'rf.evt.presence.>',
} as const;
