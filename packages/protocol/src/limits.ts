import { ErrorCode, RoomfabricError } from './errors.js';
/** Protocol limits. Every field has a default; a node may raise or lower each. */
export interface Limits {
  /** Largest WebSocket message a peer may send, in bytes. Larger: close 1009. */
  maxFrameBytes: number;
  /** Rooms one socket may be in at once. */
  maxRoomsPerSocket: number;
  /** Longest room id, in Unicode code points. */
  maxRoomLength: number;
  /** Longest event name, in Unicode code points. */
  maxEventLength: number;
  /** Rooms one client broadcast may target. */
  maxTargetRooms: number;
  /**
   * How deep arrays and maps may nest in one frame, the frame's own array counting as 1.
   * Deeper: `RF_FRAME_TOO_DEEP`, close 1007. Bounds the work of decoding and re-encoding.
   */
  maxFrameDepth: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrameBytes: 64 * 1024,
  maxRoomsPerSocket: 128,
  maxRoomLength: 200,
  maxEventLength: 200,
  maxTargetRooms: 16,
  maxFrameDepth: 32,
});

/** The largest `maxRoomLength` a node may set (see {@link resolveLimits}). */
export const MAX_ROOM_LENGTH = 250;

/** Fills in defaults and checks that every given limit is a positive integer. */
export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  const limits = { ...DEFAULT_LIMITS, ...partial };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        `limit ${key} must be a positive integer, got ${String(value)}`,
      );
    }
  }
  if (limits.maxRoomLength > MAX_ROOM_LENGTH) {
    throw new RoomfabricError(
      ErrorCode.INVALID_ARGUMENT,
      `limit maxRoomLength must be at most ${MAX_ROOM_LENGTH}: a room's bus subject (up to 12 characters per code point) must fit NATS's 4 KiB protocol line`,
    );
  }
  return limits;
}
