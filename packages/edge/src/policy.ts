import {
  assertRoomId,
  ErrorCode,
  isReservedRoom,
  matchesRoomPattern,
  RoomfabricError,
} from '@roomfabric/protocol';
import type { EdgeContext } from './context.js';
import type { ClientPolicy } from './options.js';
import type { Socket } from './socket.js';

/*
 * What a client may do on its own, in one place: the rules (the edge's policy and, with
 * JWT auth, the token's grants) and the checks of the frames that use them (JOIN, LEAVE,
 * a broadcast). Application code asks the same rules through `socket.mayJoin` and
 * `socket.mayPublish`.
 */

/** The edge's policy and the tokens' grants: both must allow. */
export class ClientRules {
  constructor(
    private readonly policy: ClientPolicy,
    /** True with JWT auth: each token's `rf` grants apply too. */
    private readonly grants: boolean,
  ) {}

  mayJoin(socket: Socket, room: string): boolean {
    if (this.grants && !matchesRoomPattern(socket.grant?.join ?? [], room)) return false;
    const rule = this.policy.join;
    return typeof rule === 'function' ? rule(socket, room) : rule;
  }

  mayPublish(socket: Socket, rooms: readonly string[], event: string): boolean {
    const publish = socket.grant?.publish ?? [];
    if (this.grants && !rooms.every((r) => matchesRoomPattern(publish, r))) return false;
    const rule = this.policy.publish;
    return typeof rule === 'function' ? rule(socket, rooms, event) : rule;
  }
}

/**
 * A client's JOIN or LEAVE of `room`: a valid, unreserved room id, and for a join one the
 * rules allow. Throws `RF_ROOM_INVALID`, `RF_ROOM_RESERVED` or `RF_FORBIDDEN`.
 */
export function checkJoinLeave(
  ctx: EdgeContext<Socket>,
  socket: Socket,
  room: string,
  join: boolean,
): void {
  assertRoomId(room, ctx.limits.maxRoomLength);
  if (isReservedRoom(room)) {
    throw new RoomfabricError(ErrorCode.ROOM_RESERVED, `rooms starting with "$" are reserved`);
  }
  if (join && !ctx.mayJoin(socket, room)) {
    throw new RoomfabricError(ErrorCode.FORBIDDEN, `not allowed to join ${JSON.stringify(room)}`);
  }
}

/**
 * A client's broadcast of `event` to `targets`: 1 to `maxTargetRooms` valid, unreserved
 * rooms the socket is in, that the rules let it publish to. Returns them without repeats;
 * throws `RF_ROOM_LIMIT`, `RF_ROOM_INVALID`, `RF_ROOM_RESERVED`, `RF_NOT_IN_ROOM`,
 * `RF_FORBIDDEN`.
 */
export function checkBroadcast(
  ctx: EdgeContext<Socket>,
  socket: Socket,
  targets: readonly string[],
  event: string,
): string[] {
  const rooms = [...new Set(targets)];
  const max = ctx.limits.maxTargetRooms;
  if (rooms.length === 0 || rooms.length > max) {
    throw new RoomfabricError(ErrorCode.ROOM_LIMIT, `a broadcast targets 1 to ${max} rooms`, {
      details: { limit: max },
    });
  }
  for (const room of rooms) {
    assertRoomId(room, ctx.limits.maxRoomLength);
    if (isReservedRoom(room)) {
      throw new RoomfabricError(ErrorCode.ROOM_RESERVED, `rooms starting with "$" are reserved`);
    }
    if (!socket.rooms.has(room)) {
      throw new RoomfabricError(ErrorCode.NOT_IN_ROOM, `not in room ${JSON.stringify(room)}`);
    }
  }
  if (!ctx.mayPublish(socket, rooms, event)) {
    throw new RoomfabricError(ErrorCode.FORBIDDEN, 'not allowed to broadcast to these rooms');
  }
  return rooms;
}
