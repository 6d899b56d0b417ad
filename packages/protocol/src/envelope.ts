import { decode } from '@msgpack/msgpack';
import { ErrorCode, RoomfabricError } from './errors.js';
import { pack } from './pack.js';
import { isOneValue } from './msgpack-scan.js';

/**
 * How deep the event data a bus message carries may nest: what the msgpack encoder of a
 * publisher produces at most (its own default). Deeper, or not exactly one value, and the
 * message is dropped, since its data would be spliced as is into client frames.
 */
export const MAX_BUS_DATA_DEPTH = 100;
const isData = (v: unknown): v is Uint8Array =>
  v instanceof Uint8Array && isOneValue(v, MAX_BUS_DATA_DEPTH, true);

/**
 * Messages between nodes on the bus: a discriminated union keyed by a numeric type.
 * Each is a msgpack array whose first element is the type.
 */
export const BusMessageType = {
  BROADCAST: 1,
  CONTROL: 2,
  RAID_PREPARE: 3,
  RAID_COMMIT: 4,
  REPLY: 5,
  RAID_REQUEST: 6,
  SOCKET_LEFT: 7,
  ROOM_EVENT: 8,
  PRESENCE_EVENT: 9,
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
  /**
   * Set for a broadcast stored in several history rooms: its id, carried by its EVENT
   * frames as `bid`, so a client recovering those rooms shows it once.
   */
  id?: string;
}

/** What a CONTROL message asks a node to do with some of its sockets. */
export const ControlOp = {
  JOIN: 1,
  LEAVE: 2,
  DISCONNECT: 3,
  EMIT: 4,
} as const;

export type ControlOp = (typeof ControlOp)[keyof typeof ControlOp];

/** Sent to `rf.node.<id>` as a request: act on these local sockets, then reply. */
export interface ControlMessage {
  type: typeof BusMessageType.CONTROL;
  op: ControlOp;
  sockets: string[];
  /** Rooms to join or leave (JOIN, LEAVE). */
  rooms: string[];
  /** Event name and encoded data (EMIT). */
  event: string;
  data: Uint8Array;
}

/**
 * Raid step 1, a request to each node with members of `from`: subscribe to `to` and
 * buffer its traffic for the movers until the commit.
 */
export interface RaidPrepareMessage {
  type: typeof BusMessageType.RAID_PREPARE;
  raidId: string;
  from: string;
  to: string;
}

/**
 * Raid step 3, after the index moved everyone: published on `from`'s subject (so it comes
 * after every earlier message of `from`) and on the node's subject. `node` applies it to
 * `sockets`, its movers: out of `from`, into `to`, one MOVED frame, then `to`'s traffic.
 */
export interface RaidCommitMessage {
  type: typeof BusMessageType.RAID_COMMIT;
  raidId: string;
  from: string;
  to: string;
  node: string;
  /** Part number (from 0) when a node's movers span several messages, and how many parts. */
  part: number;
  parts: number;
  sockets: string[];
}

/** The answer to a request on the bus. */
export interface ReplyMessage {
  type: typeof BusMessageType.REPLY;
  ok: boolean;
  code: string;
  message: string;
  data: unknown;
}

/**
 * What a raid did: the data of the REPLY to a RAID_REQUEST, and what `raid()` resolves
 * with on the server API and the edge.
 */
export interface RaidReport {
  raidId: string;
  from: string;
  to: string;
  /** Sockets moved. */
  moved: number;
  /** Nodes that held movers. */
  nodes: number;
  /** Time spent in the atomic index move, ms. */
  commitMs: number;
  /** Whole raid, ms, until every node was sent its commit. */
  totalMs: number;
  /** True when this raid id had run before (the commit was re-sent, nothing moved twice). */
  repeated: boolean;
}

/** A raid asked of the membership service (`rf.svc.raid`). */
export interface RaidRequestMessage {
  type: typeof BusMessageType.RAID_REQUEST;
  raidId: string;
  from: string;
  to: string;
}

/** Published on `rf.evt.leave` when the fabric removed a socket on its own (dead node). */
export interface SocketLeftMessage {
  type: typeof BusMessageType.SOCKET_LEFT;
  socketId: string;
  nodeId: string;
  rooms: string[];
  reason: string;
}

/**
 * Published on `rf.evt.room` when a room got its first member in the cluster
 * (`occupied`) or lost its last (`vacated`), as decided by the index atomically.
 */
export interface RoomEventMessage {
  type: typeof BusMessageType.ROOM_EVENT;
  room: string;
  kind: 'occupied' | 'vacated';
}

/**
 * Published on `rf.evt.presence.<room token>` when a user's first socket entered a room
 * (`join`) or their last left it (`leave`), as decided by the index atomically. `data` is
 * the `socket.data` of the socket that made the transition.
 */
export interface PresenceEventMessage {
  type: typeof BusMessageType.PRESENCE_EVENT;
  room: string;
  kind: 'join' | 'leave';
  user: string;
  socketId: string;
  data: unknown;
}

export type BusMessage =
  | BroadcastMessage
  | ControlMessage
  | RaidPrepareMessage
  | RaidCommitMessage
  | ReplyMessage
  | RaidRequestMessage
  | SocketLeftMessage
  | RoomEventMessage
  | PresenceEventMessage;

export function encodeBusMessage(msg: BusMessage): Uint8Array {
  switch (msg.type) {
    case BusMessageType.BROADCAST: {
      const fields = [
        msg.type,
        msg.rooms,
        msg.except,
        msg.exceptSocket,
        msg.flags,
        msg.event,
        msg.data,
      ];
      if (msg.id !== undefined) fields.push(msg.id);
      return pack(fields);
    }
    case BusMessageType.CONTROL:
      return pack([msg.type, msg.op, msg.sockets, msg.rooms, msg.event, msg.data]);
    case BusMessageType.RAID_PREPARE:
    case BusMessageType.RAID_REQUEST:
      return pack([msg.type, msg.raidId, msg.from, msg.to]);
    case BusMessageType.RAID_COMMIT:
      return pack([
        msg.type,
        msg.raidId,
        msg.from,
        msg.to,
        msg.node,
        msg.part,
        msg.parts,
        msg.sockets,
      ]);
    case BusMessageType.REPLY:
      return pack([msg.type, msg.ok, msg.code, msg.message, msg.data]);
    case BusMessageType.SOCKET_LEFT:
      return pack([msg.type, msg.socketId, msg.nodeId, msg.rooms, msg.reason]);
    case BusMessageType.ROOM_EVENT:
      return pack([msg.type, msg.room, msg.kind]);
    case BusMessageType.PRESENCE_EVENT:
      return pack([msg.type, msg.room, msg.kind, msg.user, msg.socketId, msg.data ?? null]);
  }
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isStrArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);
const isUint = (v: unknown): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

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
  const msg = Array.isArray(value) ? checkShape(value) : undefined;
  if (!msg) throw new RoomfabricError(ErrorCode.FRAME_MALFORMED, 'bus message of unknown shape');
  return msg;
}

function checkShape(v: unknown[]): BusMessage | undefined {
  switch (v[0]) {
    case BusMessageType.BROADCAST: {
      const [, rooms, except, exceptSocket, flags, event, data, id] = v;
      if (
        isStrArray(rooms) &&
        isStrArray(except) &&
        (exceptSocket === null || isStr(exceptSocket)) &&
        isUint(flags) &&
        isStr(event) &&
        isData(data) &&
        (id === undefined || (isStr(id) && id.length > 0 && id.length <= 64))
      ) {
        const msg: BroadcastMessage = {
          type: BusMessageType.BROADCAST,
          rooms,
          except,
          exceptSocket,
          flags,
          event,
          data,
        };
        if (id !== undefined) msg.id = id;
        return msg;
      }
      return undefined;
    }
    case BusMessageType.CONTROL: {
      const [, op, sockets, rooms, event, data] = v;
      if (
        isUint(op) &&
        op >= 1 &&
        op <= 4 &&
        isStrArray(sockets) &&
        isStrArray(rooms) &&
        isStr(event) &&
        data instanceof Uint8Array &&
        (op !== ControlOp.EMIT || isData(data))
      ) {
        return { type: BusMessageType.CONTROL, op: op as ControlOp, sockets, rooms, event, data };
      }
      return undefined;
    }
    case BusMessageType.RAID_PREPARE:
    case BusMessageType.RAID_REQUEST: {
      const [type, raidId, from, to] = v;
      if (isStr(raidId) && isStr(from) && isStr(to)) {
        return { type: type as typeof BusMessageType.RAID_PREPARE, raidId, from, to };
      }
      return undefined;
    }
    case BusMessageType.RAID_COMMIT: {
      const [, raidId, from, to, node, part, parts, sockets] = v;
      if (
        isStr(raidId) &&
        isStr(from) &&
        isStr(to) &&
        isStr(node) &&
        isUint(part) &&
        isUint(parts) &&
        part < parts &&
        isStrArray(sockets)
      ) {
        return { type: BusMessageType.RAID_COMMIT, raidId, from, to, node, part, parts, sockets };
      }
      return undefined;
    }
    case BusMessageType.REPLY: {
      const [, ok, code, message, data] = v;
      if (typeof ok === 'boolean' && isStr(code) && isStr(message)) {
        return { type: BusMessageType.REPLY, ok, code, message, data: data ?? null };
      }
      return undefined;
    }
    case BusMessageType.SOCKET_LEFT: {
      const [, socketId, nodeId, rooms, reason] = v;
      if (isStr(socketId) && isStr(nodeId) && isStrArray(rooms) && isStr(reason)) {
        return { type: BusMessageType.SOCKET_LEFT, socketId, nodeId, rooms, reason };
      }
      return undefined;
    }
    case BusMessageType.ROOM_EVENT: {
      const [, room, kind] = v;
      if (isStr(room) && (kind === 'occupied' || kind === 'vacated')) {
        return { type: BusMessageType.ROOM_EVENT, room, kind };
      }
      return undefined;
    }
    case BusMessageType.PRESENCE_EVENT: {
      const [, room, kind, user, socketId, data] = v;
      if (isStr(room) && (kind === 'join' || kind === 'leave') && isStr(user) && isStr(socketId)) {
        return { type: BusMessageType.PRESENCE_EVENT, room, kind, user, socketId, data };
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** Encodes a REPLY: success with data, or failure with a `RoomfabricError`'s code. */
export function encodeReply(
  result: { ok: true; data?: unknown } | { ok: false; error: RoomfabricError },
): Uint8Array {
  return result.ok
    ? encodeBusMessage({
        type: BusMessageType.REPLY,
        ok: true,
        code: '',
        message: '',
        data: result.data ?? null,
      })
    : encodeBusMessage({
        type: BusMessageType.REPLY,
        ok: false,
        code: result.error.code,
        message: result.error.message,
        data: null,
      });
}
