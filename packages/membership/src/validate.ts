import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type { MemberInfo } from './membership.js';

/** Throws `RF_INVALID_ARGUMENT` unless `value` is a positive integer. */
export function positiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `${name} must be a positive integer`, {
      details: { [name]: value },
    });
  }
}

/** Throws `RF_INVALID_ARGUMENT` when a raid would move a room into itself. */
export function distinctRooms(from: string, to: string): void {
  if (from === to) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'a raid needs two different rooms', {
      details: { room: from },
    });
  }
}

/** A `MemberInfo` with `user` only when it has one (a non-empty string, as Redis stores it). */
export function memberInfo(
  socketId: string,
  nodeId: string,
  user: string | undefined,
  data: unknown,
): MemberInfo {
  return user ? { socketId, nodeId, user, data } : { socketId, nodeId, data };
}
