/**
 * The frames of the wire protocol, as TypeScript types (docs/protocol.md). Decoding and
 * shape checks are in `frame-codec.ts`.
 */
import { FrameType } from './frame-type.js';

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
