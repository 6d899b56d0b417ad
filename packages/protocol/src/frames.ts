import { Decoder, encode } from '@msgpack/msgpack';
import { CloseCode, ErrorCode, RoomfabricError } from './errors.js';
import { encodeEventFrame } from './event-frame.js';
import { FrameType } from './frame-type.js';
import { DEFAULT_LIMITS, type Limits } from './limits.js';
import { SCAN_BAD_UTF8, SCAN_TOO_DEEP, scanValue } from './msgpack-scan.js';

/** Wire protocol version carried in CONNECT and HELLO. */
export const PROTOCOL_VERSION = 1;

export { FrameType };

/** Client -> server: first frame of every connection. */
export interface ConnectFrame {
  type: typeof FrameType.CONNECT;
  version: number;
  auth: unknown;
  /** Positions in rooms the server joined the client to, to recover them at connect. */
  recover?: ConnectRecover | null;
}

/**
 * CONNECT's positions in rooms the server joins (personal rooms, channels) that keep
 * history: the server replays what the client missed right after HELLO.
 */
export interface ConnectRecover {
  /** The socket id the client had before; its own broadcasts are not replayed to it. */
  socketId: string | null;
  rooms: RoomPosition[];
}

/** A position in one room. */
export interface RoomPosition extends StreamPosition {
  room: string;
}

/**
 * HELLO's word on a history room the server joined the client to before HELLO: its
 * position, and for a room the client asked to recover in CONNECT whether it got
 * everything it missed (`recovered`, null when it did not ask) and how many events follow.
 */
export interface HelloRoom extends RoomPosition {
  recovered: boolean | null;
  missed: number;
}
/**
 * Where a client stands in a room's history: the offset of the last event it got through
 * the room, in the history's epoch (docs/history.md).
 */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** A JOIN's `since`: the position to recover from, and the client's previous socket id. */
export interface RecoverFrom extends StreamPosition {
  /** The socket id the client had before; its own broadcasts are not replayed to it. */
  socketId: string | null;
}

/**
 * Client -> server: join `room`; answered by ACK or ERROR with the same `id`. With `since`,
 * for a room that keeps history, the server first replays what the client missed.
 */
export interface JoinFrame {
  type: typeof FrameType.JOIN;
  id: number;
  room: string;
  since?: RecoverFrom | null;
}
/** Client -> server: leave `room`; answered by ACK or ERROR with the same `id`. */
export interface LeaveFrame {
  type: typeof FrameType.LEAVE;
  id: number;
  room: string;
}
/**
 * Client -> server: an event. Without `rooms` it goes to the server's handler; with
 * `rooms` it is broadcast to those rooms, sender excluded. `id` 0 means no ack wanted.
 */
export interface EmitFrame {
  type: typeof FrameType.EMIT;
  event: string;
  data: unknown;
  id: number;
  rooms: string[] | null;
  /** {@link BroadcastFlag} bits; only meaningful with `rooms`. */
  flags: number;
}
/** Either direction: the reply to the request or event with the same `id`. */
export interface AckFrame {
  type: typeof FrameType.ACK;
  id: number;
  data: unknown;
}
/**
 * Client -> server: new credentials for a live connection (a fresh token before the old
 * one expires); answered by ACK or ERROR with the same `id`.
 */
export interface RefreshFrame {
  type: typeof FrameType.REFRESH;
  id: number;
  auth: unknown;
}
/** Client -> server: answer to PING. */
export interface PongFrame {
  type: typeof FrameType.PONG;
}

/** Server -> client: the connection is accepted. */
export interface HelloFrame {
  type: typeof FrameType.HELLO;
  version: number;
  socketId: string;
  nodeId: string;
  /** Server sends PING this often; a side that hears nothing for 2x this may drop the link. */
  heartbeatMs: number;
  maxFrameBytes: number;
  maxRoomsPerSocket: number;
  /** How deep arrays and maps may nest in a frame the server accepts (see `Limits`). */
  maxFrameDepth: number;
  /** History rooms the server joined the socket to (absent when none). */
  rooms?: HelloRoom[];
}
/** Server -> client: an event, through `room` when it was a room broadcast. */
export interface EventFrame {
  type: typeof FrameType.EVENT;
  event: string;
  data: unknown;
  room: string | null;
  /** Non-zero when the server wants an ACK with this id. */
  id: number;
  /** The event's offset in the room's history; 0 when the room keeps none. */
  offset: number;
  /**
   * The broadcast's id, for a broadcast stored in several history rooms (null otherwise):
   * a client that recovers those rooms may get it through more than one, and shows it
   * once (docs/protocol.md, "Recovery").
   */
  bid: string | null;
}
/** Server -> client: a request failed (`id` > 0) or a frame was rejected (`id` 0). */
export interface ErrorFrame {
  type: typeof FrameType.ERROR;
  id: number;
  code: string;
  message: string;
}
export interface PingFrame {
  type: typeof FrameType.PING;
}
/**
 * Server -> client: the server joined the socket to a room that keeps history (after
 * HELLO: `socket.join`, `socketsJoin`, a channel subscribe); its position, so that the
 * client can recover the room after a drop (CONNECT `recover`). Events of the room follow.
 */
export interface PositionFrame extends RoomPosition {
  type: typeof FrameType.POSITION;
}
/**
 * Server -> client: a raid moved the socket from one room to another. When `to` keeps
 * history, `position` is where the socket starts in it (the events of `to` that follow
 * come after it), so that the client can recover `to` after a drop.
 */
export interface MovedFrame {
  type: typeof FrameType.MOVED;
  from: string;
  to: string;
  position: StreamPosition | null;
}
/**
 * Server -> client: the server took the socket out of a room the client had joined itself
 * (its refreshed token no longer allows it, or application code made it leave). The
 * client must not rejoin it on reconnect.
 */
export interface LeftFrame {
  type: typeof FrameType.LEFT;
  room: string;
  code: string;
  message: string;
}

export type ClientFrame =
  ConnectFrame | JoinFrame | LeaveFrame | EmitFrame | AckFrame | PongFrame | RefreshFrame;
export type ServerFrame =
  | HelloFrame
  | EventFrame
  | AckFrame
  | ErrorFrame
  | PingFrame
  | MovedFrame
  | PositionFrame
  | LeftFrame;

/** A msgpack decoder bounded by the frame limit, so a hostile length prefix allocates nothing. */
export function createFrameDecoder(
  limits: Pick<Limits, 'maxFrameBytes'> = DEFAULT_LIMITS,
): Decoder {
  const max = limits.maxFrameBytes;
  return new Decoder({
    maxStrLength: max,
    maxBinLength: max,
    maxArrayLength: max,
    maxMapLength: max,
    maxExtLength: max,
  });
}

const defaultDecoder = createFrameDecoder();

/**
 * Decodes every msgpack value in one WebSocket message. Throws `RF_FRAME_MALFORMED`
 * (close 1007) when the bytes are not a sequence of complete msgpack values or a str is
 * not valid UTF-8, and
 * `RF_FRAME_TOO_DEEP` (close 1007) when one nests arrays and maps deeper than `maxDepth`
 * (checked by a skip-parse before anything is decoded).
 */
export function decodeValues(
  bytes: Uint8Array,
  decoder: Decoder = defaultDecoder,
  maxDepth: number = DEFAULT_LIMITS.maxFrameDepth,
): unknown[] {
  if (bytes.byteLength === 0) {
    throw malformed('empty message');
  }
  for (let pos = 0; pos < bytes.length;) {
    const end = scanValue(bytes, pos, maxDepth, true);
    if (end === SCAN_TOO_DEEP) {
      throw new RoomfabricError(
        ErrorCode.FRAME_TOO_DEEP,
        `a frame nests arrays and maps more than ${maxDepth} deep`,
        { closeCode: CloseCode.INVALID_PAYLOAD, details: { maxDepth } },
      );
    }
    if (end === SCAN_BAD_UTF8) throw malformed('a string is not valid UTF-8');
    if (end < 0) throw malformed('incomplete or invalid msgpack');
    pos = end;
  }
  try {
    return [...decoder.decodeMulti(bytes)];
  } catch (cause) {
    throw malformed(cause instanceof Error ? cause.message : 'undecodable msgpack', cause);
  }
}

function malformed(why: string, cause?: unknown): RoomfabricError {
  return new RoomfabricError(ErrorCode.FRAME_MALFORMED, `malformed frame: ${why}`, {
    closeCode: CloseCode.INVALID_PAYLOAD,
    cause,
  });
}

function invalid(why: string): RoomfabricError {
  return new RoomfabricError(ErrorCode.FRAME_INVALID, `invalid frame: ${why}`, {
    closeCode: CloseCode.PROTOCOL_ERROR,
  });
}

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 0xffffffff;
}

/**
 * Checks the shape of one decoded value sent by a client. Throws `RF_FRAME_INVALID`
 * (close 1002) for a malformed frame of a known type, `RF_FRAME_UNKNOWN_TYPE` (no close:
 * an error frame, so that newer clients can probe older servers) for an unknown type.
 * Room ids and event names are checked by the edge, which knows its limits.
 */
export function parseClientFrame(value: unknown): ClientFrame {
  if (!Array.isArray(value) || value.length === 0) throw invalid('a frame is a non-empty array');
  const type: unknown = value[0];
  switch (type) {
    case FrameType.CONNECT: {
      const [, version, auth, recover = null] = value as [number, unknown, unknown, unknown];
      if (!isId(version)) throw invalid('CONNECT needs a protocol version');
      const positions = parseRecover(recover);
      return { type, version, auth: auth ?? null, ...(positions && { recover: positions }) };
    }
    case FrameType.JOIN:
    case FrameType.LEAVE: {
      const [, id, room, since = null] = value as [number, unknown, unknown, unknown];
      if (!isId(id) || id === 0) throw invalid('JOIN and LEAVE need a non-zero id');
      if (typeof room !== 'string') throw invalid('JOIN and LEAVE need a room id string');
      if (type === FrameType.LEAVE) return { type, id, room };
      return { type, id, room, since: parseSince(since) };
    }
    case FrameType.EMIT: {
      const [, event, data, id = 0, rooms = null, flags = 0] = value as unknown[];
      if (typeof event !== 'string') throw invalid('EMIT needs an event name string');
      if (!isId(id)) throw invalid('EMIT id must be an unsigned integer');
      if (rooms !== null && !(Array.isArray(rooms) && rooms.every((r) => typeof r === 'string'))) {
        throw invalid('EMIT rooms must be nil or an array of strings');
      }
      if (!isId(flags)) throw invalid('EMIT flags must be an unsigned integer');
      return { type, event, data: data ?? null, id, rooms, flags };
    }
    case FrameType.ACK: {
      const [, id, data] = value as [number, unknown, unknown];
      if (!isId(id) || id === 0) throw invalid('ACK needs a non-zero id');
      return { type, id, data: data ?? null };
    }
    case FrameType.PONG:
      return { type };
    case FrameType.REFRESH: {
      const [, id, auth] = value as [number, unknown, unknown];
      if (!isId(id) || id === 0) throw invalid('REFRESH needs a non-zero id');
      return { type, id, auth: auth ?? null };
    }
    default:
      throw new RoomfabricError(
        ErrorCode.FRAME_UNKNOWN_TYPE,
        `unknown frame type ${typeof type === 'number' ? type : typeof type}`,
      );
  }
}

function parseSince(since: unknown): RecoverFrom | null {
  if (since === null) return null;
  if (!Array.isArray(since)) throw invalid('JOIN since must be nil or [offset, epoch, socket id]');
  const [offset, epoch, socketId = null] = since as unknown[];
  if (!isOffset(offset) || typeof epoch !== 'string' || epoch.length > 200) {
    throw invalid('JOIN since needs an offset and an epoch');
  }
  if (socketId !== null && (typeof socketId !== 'string' || socketId.length > 200)) {
    throw invalid('JOIN since socket id must be nil or a string');
  }
  return { offset, epoch, socketId };
}

/** At most this many positions in one CONNECT (the edge also bounds it by its room limit). */
const MAX_RECOVER_ROOMS = 1024;

function parseRecover(recover: unknown): ConnectRecover | null {
  if (recover === null) return null;
  const shape = 'CONNECT recover must be nil or [socket id, [[room, offset, epoch], ...]]';
  if (!Array.isArray(recover)) throw invalid(shape);
  const [socketId = null, rooms] = recover as unknown[];
  if (socketId !== null && (typeof socketId !== 'string' || socketId.length > 200)) {
    throw invalid(shape);
  }
  if (!Array.isArray(rooms) || rooms.length > MAX_RECOVER_ROOMS) throw invalid(shape);
  return {
    socketId,
    rooms: rooms.map((entry: unknown) => {
      if (!Array.isArray(entry)) throw invalid(shape);
      const [room, offset, epoch] = entry as unknown[];
      if (typeof room !== 'string' || !isOffset(offset) || !isEpoch(epoch)) throw invalid(shape);
      return { room, offset, epoch };
    }),
  };
}

function isEpoch(v: unknown): v is string {
  return typeof v === 'string' && v.length <= 200;
}

function parseHelloRooms(rooms: unknown): HelloRoom[] | undefined {
  if (rooms === undefined || rooms === null) return undefined;
  if (!Array.isArray(rooms)) throw invalid('HELLO rooms must be an array');
  return rooms.map((entry: unknown) => {
    const [room, offset, epoch, recovered = null, missed = 0] = (
      Array.isArray(entry) ? entry : []
    ) as unknown[];
    if (
      typeof room !== 'string' ||
      !isOffset(offset) ||
      !isEpoch(epoch) ||
      (recovered !== null && typeof recovered !== 'boolean') ||
      !isOffset(missed)
    ) {
      throw invalid('HELLO rooms holds [room, offset, epoch, recovered, missed]');
    }
    return { room, offset, epoch, recovered, missed };
  });
}

function isOffset(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Checks the shape of one decoded value sent by a server. Throws `RF_FRAME_INVALID`. */
export function parseServerFrame(value: unknown): ServerFrame {
  if (!Array.isArray(value) || value.length === 0) throw invalid('a frame is a non-empty array');
  const type: unknown = value[0];
  switch (type) {
    case FrameType.HELLO: {
      const h: unknown = value[1];
      if (typeof h !== 'object' || h === null) throw invalid('HELLO needs a map');
      const m = h as Record<string, unknown>;
      if (typeof m.sid !== 'string' || typeof m.node !== 'string' || !isId(m.hb)) {
        throw invalid('HELLO needs sid, node and hb');
      }
      return {
        type,
        version: isId(m.v) ? m.v : 0,
        socketId: m.sid,
        nodeId: m.node,
        heartbeatMs: m.hb,
        maxFrameBytes: isId(m.maxFrame) ? m.maxFrame : DEFAULT_LIMITS.maxFrameBytes,
        maxRoomsPerSocket: isId(m.maxRooms) ? m.maxRooms : DEFAULT_LIMITS.maxRoomsPerSocket,
        maxFrameDepth: isId(m.maxDepth) ? m.maxDepth : DEFAULT_LIMITS.maxFrameDepth,
        ...(m.rooms !== undefined && { rooms: parseHelloRooms(m.rooms) }),
      };
    }
    case FrameType.EVENT: {
      const [, event, data, room = null, id = 0, offset = 0, bid = null] = value as unknown[];
      if (typeof event !== 'string') throw invalid('EVENT needs an event name');
      if (room !== null && typeof room !== 'string')
        throw invalid('EVENT room must be nil or a string');
      if (!isId(id)) throw invalid('EVENT id must be an unsigned integer');
      if (!isOffset(offset)) throw invalid('EVENT offset must be an unsigned integer');
      if (bid !== null && !(typeof bid === 'string' && bid.length <= 64))
        throw invalid('EVENT bid must be nil or a short string');
      return { type, event, data: data ?? null, room, id, offset, bid };
    }
    case FrameType.ACK: {
      const [, id, data] = value as [number, unknown, unknown];
      if (!isId(id)) throw invalid('ACK needs an id');
      return { type, id, data: data ?? null };
    }
    case FrameType.ERROR: {
      const [, id, code, message] = value as unknown[];
      if (!isId(id) || typeof code !== 'string') throw invalid('ERROR needs an id and a code');
      return { type, id, code, message: typeof message === 'string' ? message : '' };
    }
    case FrameType.PING:
      return { type };
    case FrameType.MOVED: {
      const [, from, to, offset = null, epoch = null] = value as unknown[];
      if (typeof from !== 'string' || typeof to !== 'string')
        throw invalid('MOVED needs two rooms');
      if (offset === null) return { type, from, to, position: null };
      if (!isOffset(offset) || !isEpoch(epoch)) {
        throw invalid('MOVED position needs an offset and an epoch');
      }
      return { type, from, to, position: { offset, epoch } };
    }
    case FrameType.LEFT: {
      const [, room, code, message] = value as unknown[];
      if (typeof room !== 'string' || typeof code !== 'string')
        throw invalid('LEFT needs a room and a code');
      return { type, room, code, message: typeof message === 'string' ? message : '' };
    }
    case FrameType.POSITION: {
      const [, room, offset, epoch] = value as unknown[];
      if (typeof room !== 'string' || !isOffset(offset) || !isEpoch(epoch)) {
        throw invalid('POSITION needs a room, an offset and an epoch');
      }
      return { type, room, offset, epoch };
    }
    default:
      throw new RoomfabricError(ErrorCode.FRAME_UNKNOWN_TYPE, `unknown frame type ${String(type)}`);
  }
}

/** Encodes one client frame (used by the SDK; the edge never encodes these). */
export function encodeClientFrame(frame: ClientFrame): Uint8Array {
  switch (frame.type) {
    case FrameType.CONNECT: {
      const r = frame.recover;
      if (!r || r.rooms.length === 0) return encode([frame.type, frame.version, frame.auth]);
      const rooms = r.rooms.map((p) => [p.room, p.offset, p.epoch]);
      return encode([frame.type, frame.version, frame.auth, [r.socketId, rooms]]);
    }
    case FrameType.JOIN: {
      const s = frame.since;
      if (!s) return encode([frame.type, frame.id, frame.room]);
      return encode([frame.type, frame.id, frame.room, [s.offset, s.epoch, s.socketId]]);
    }
    case FrameType.LEAVE:
      return encode([frame.type, frame.id, frame.room]);
    case FrameType.EMIT:
      return encode([frame.type, frame.event, frame.data, frame.id, frame.rooms, frame.flags]);
    case FrameType.ACK:
      return encode([frame.type, frame.id, frame.data]);
    case FrameType.PONG:
      return PONG_BYTES;
    case FrameType.REFRESH:
      return encode([frame.type, frame.id, frame.auth]);
  }
}

/** Encodes one server frame. EVENT frames for broadcasts use {@link encodeEventFrame}. */
export function encodeServerFrame(frame: ServerFrame): Uint8Array {
  switch (frame.type) {
    case FrameType.HELLO:
      return encode([
        frame.type,
        {
          v: frame.version,
          sid: frame.socketId,
          node: frame.nodeId,
          hb: frame.heartbeatMs,
          maxFrame: frame.maxFrameBytes,
          maxRooms: frame.maxRoomsPerSocket,
          maxDepth: frame.maxFrameDepth,
          ...(frame.rooms?.length && {
            rooms: frame.rooms.map((r) => [r.room, r.offset, r.epoch, r.recovered, r.missed]),
          }),
        },
      ]);
    case FrameType.EVENT:
      return encodeEventFrame(
        frame.event,
        encode(frame.data),
        frame.room,
        frame.id,
        frame.offset,
        frame.bid,
      );
    case FrameType.ACK:
      return encode([frame.type, frame.id, frame.data]);
    case FrameType.ERROR:
      return encode([frame.type, frame.id, frame.code, frame.message]);
    case FrameType.PING:
      return PING_BYTES;
    case FrameType.MOVED: {
      const p = frame.position;
      if (!p) return encode([frame.type, frame.from, frame.to]);
      return encode([frame.type, frame.from, frame.to, p.offset, p.epoch]);
    }
    case FrameType.LEFT:
      return encode([frame.type, frame.room, frame.code, frame.message]);
    case FrameType.POSITION:
      return encode([frame.type, frame.room, frame.offset, frame.epoch]);
  }
}

export const PING_BYTES: Uint8Array = encode([FrameType.PING]);
export const PONG_BYTES: Uint8Array = encode([FrameType.PONG]);

export { encodeEventFrame };
