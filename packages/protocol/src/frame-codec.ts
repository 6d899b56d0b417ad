/** Decoding of frames from bytes, and the shape checks of each frame (docs/protocol.md). */
import { Decoder } from '@msgpack/msgpack';
import { CloseCode, ErrorCode, RoomfabricError } from './errors.js';
import { pack } from './pack.js';
import { encodeEventFrame } from './event-frame.js';
import { FrameType } from './frame-type.js';
import { DEFAULT_LIMITS, type Limits } from './limits.js';
import { SCAN_BAD_UTF8, SCAN_TOO_DEEP, scanValue } from './msgpack-scan.js';
import {
  type ConnectRecover,
  type HelloRoom,
  type RecoverFrom,
  type ClientFrame,
  type ServerFrame,
} from './frames.js';

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
      if (!r || r.rooms.length === 0) return pack([frame.type, frame.version, frame.auth]);
      const rooms = r.rooms.map((p) => [p.room, p.offset, p.epoch]);
      return pack([frame.type, frame.version, frame.auth, [r.socketId, rooms]]);
    }
    case FrameType.JOIN: {
      const s = frame.since;
      if (!s) return pack([frame.type, frame.id, frame.room]);
      return pack([frame.type, frame.id, frame.room, [s.offset, s.epoch, s.socketId]]);
    }
    case FrameType.LEAVE:
      return pack([frame.type, frame.id, frame.room]);
    case FrameType.EMIT:
      return pack([frame.type, frame.event, frame.data, frame.id, frame.rooms, frame.flags]);
    case FrameType.ACK:
      return pack([frame.type, frame.id, frame.data]);
    case FrameType.PONG:
      return PONG_BYTES;
    case FrameType.REFRESH:
      return pack([frame.type, frame.id, frame.auth]);
  }
}

/** Encodes one server frame. EVENT frames for broadcasts use {@link encodeEventFrame}. */
export function encodeServerFrame(frame: ServerFrame): Uint8Array {
  switch (frame.type) {
    case FrameType.HELLO:
      return pack([
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
        pack(frame.data),
        frame.room,
        frame.id,
        frame.offset,
        frame.bid,
      );
    case FrameType.ACK:
      return pack([frame.type, frame.id, frame.data]);
    case FrameType.ERROR:
      return pack([frame.type, frame.id, frame.code, frame.message]);
    case FrameType.PING:
      return PING_BYTES;
    case FrameType.MOVED: {
      const p = frame.position;
      if (!p) return pack([frame.type, frame.from, frame.to]);
      return pack([frame.type, frame.from, frame.to, p.offset, p.epoch]);
    }
    case FrameType.LEFT:
      return pack([frame.type, frame.room, frame.code, frame.message]);
    case FrameType.POSITION:
      return pack([frame.type, frame.room, frame.offset, frame.epoch]);
  }
}

export const PING_BYTES: Uint8Array = pack([FrameType.PING]);
export const PONG_BYTES: Uint8Array = pack([FrameType.PONG]);

export { encodeEventFrame };
