/**
 * Frame types. A frame is a msgpack array whose first element is its type; a WebSocket
 * message holds one or more frames, concatenated. See docs/protocol.md.
 */
export const FrameType = {
  CONNECT: 0,
  HELLO: 1,
  JOIN: 2,
  LEAVE: 3,
  EMIT: 4,
  EVENT: 5,
  ACK: 6,
  ERROR: 7,
  PING: 8,
  PONG: 9,
  MOVED: 10,
  REFRESH: 11,
  POSITION: 12,
  LEFT: 13,
} as const;

export type FrameType = (typeof FrameType)[keyof typeof FrameType];
