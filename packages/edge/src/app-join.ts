import { encodeServerFrame, FrameType } from '@roomfabric/protocol';
import { catchUp, coalescedRead } from './history-join.js';
import type { Socket } from './socket.js';

/**
 * A join the server makes for a connected socket (`socket.join` in application code,
 * `socketsJoin`, a channel subscribe) of rooms that keep history: the client never asked,
 * so it gets a POSITION frame per room, and can recover the room after a drop (CONNECT
 * `recover`, docs/history.md). As for a client's JOIN, the socket holds the room's live
 * entries from before the join, reads the position after it, sends POSITION, then the
 * held entries that came after the position. A history that cannot be read leaves the
 * room joined and delivered live, without a position.
 */
export async function joinTellingPositions(
  socket: Socket,
  room: string | readonly string[],
): Promise<void> {
  const history = socket.edge.history!;
  const rooms = (typeof room === 'string' ? [room] : [...room]).filter(
    (r) =>
      typeof r === 'string' && history.covers(r) && !socket.rooms.has(r) && !socket.holding?.has(r),
  );
  if (rooms.length === 0) return socket.joinRooms(room);
  const holding = (socket.holding ??= new Map());
  const held = rooms.map((r) => {
    const list: Array<{ offset: number; frame: Uint8Array }> = [];
    holding.set(r, list);
    return list;
  });
  try {
    await socket.joinRooms(room);
    const { recoveryLimit } = socket.edge;
    const reads = await Promise.all(
      rooms.map((r) =>
        coalescedRead(history, r, null, recoveryLimit).catch((err: unknown) => {
          socket.edge.logger.warn(
            { err, room: r, socket: socket.id },
            'history unreadable at a server join: the room is delivered live, without a position',
          );
          return undefined;
        }),
      ),
    );
    rooms.forEach((r, i) => {
      const recovery = reads[i];
      if (!socket.rooms.has(r)) return; // left meanwhile
      if (!recovery) {
        for (const h of held[i]!) socket.enqueue(h.frame, false);
        return;
      }
      const { frames } = catchUp(socket, r, recovery, null, held[i]!);
      const { offset, epoch } = recovery.position;
      socket.enqueue(
        encodeServerFrame({ type: FrameType.POSITION, room: r, offset, epoch }),
        false,
      );
      for (const frame of frames) socket.enqueue(frame, false);
    });
  } finally {
    for (const r of rooms) holding.delete(r);
    if (holding.size === 0) socket.holding = undefined;
  }
}
