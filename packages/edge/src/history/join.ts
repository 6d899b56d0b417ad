import {
  encodeServerFrame,
  FrameType,
  type RecoverFrom,
  type StreamPosition,
} from '@roomfabric/protocol';
import type { EdgeContext } from '../context.js';
import type { Socket } from '../socket.js';
import { catchUp, coalescedRead, readOrLive } from './reads.js';

/** What the ACK of a JOIN to a history room carries (docs/protocol.md). */
export interface HistoryJoinAck extends StreamPosition {
  /** Present when the client asked to recover: whether it got everything it missed. */
  recovered?: boolean;
  /** How many events were replayed before the live ones. */
  missed: number;
}

/*
 * The joins of rooms that keep history, all on one path: hold the room's live entries,
 * join, read where the room stands (or what was missed since a position), send the
 * client its notice of the position, then the missed entries, then the held ones that
 * came after them, and stop holding. Every event once, in offset order, none lost in the
 * handover. The notice is the JOIN's ACK for a client's own join, a POSITION frame for a
 * join made by the server after HELLO, and HELLO itself at connect (connect.ts).
 */

/**
 * A client's join (request `id`) of a room that keeps history. On failure (the history
 * cannot be read) nothing is left joined, and the returned Promise rejects for the caller
 * to answer with the error.
 */
export async function joinWithHistory(
  ctx: EdgeContext<Socket>,
  socket: Socket,
  id: number,
  room: string,
  since: RecoverFrom | null,
  onJoined: () => void = () => undefined,
): Promise<void> {
  const wasMember = socket.rooms.has(room);
  const held = ctx.holds.hold(socket, room);
  try {
    await socket.joinRooms(room);
    const recovery = await coalescedRead(ctx.history!, room, since, ctx.recoveryLimit);
    const { frames, missed } = catchUp(ctx, socket, room, recovery, since?.socketId ?? null, held);
    const ack: HistoryJoinAck = {
      ...recovery.position,
      ...(since && { recovered: recovery.recovered }),
      missed,
    };
    onJoined();
    socket.enqueue(encodeServerFrame({ type: FrameType.ACK, id, data: ack }), false);
    for (const frame of frames) socket.enqueue(frame, false);
  } catch (err) {
    if (!wasMember && socket.connected) await socket.leave(room).catch(() => undefined);
    throw err;
  } finally {
    ctx.holds.unhold(socket, room);
  }
}

/**
 * A join the server makes for a connected socket (`socket.join` in application code,
 * `socketsJoin`, a channel subscribe): the client never asked, so it gets a POSITION
 * frame per history room it was not in, and can recover the room after a drop (CONNECT
 * `recover`, docs/history.md). A history that cannot be read leaves the room joined and
 * delivered live, without a position.
 */
export async function joinTellingPositions(
  ctx: EdgeContext<Socket>,
  socket: Socket,
  rooms: readonly string[],
): Promise<void> {
  const history = ctx.history!;
  const told = rooms.filter(
    (r) => history.covers(r) && !socket.rooms.has(r) && !ctx.holds.isHolding(socket, r),
  );
  if (told.length === 0) return socket.joinRooms(rooms);
  const held = told.map((r) => ctx.holds.hold(socket, r));
  try {
    await socket.joinRooms(rooms);
    const reads = await Promise.all(
      told.map((r) => readOrLive(ctx, r, null, { socket: socket.id, at: 'a server join' })),
    );
    told.forEach((r, i) => {
      const recovery = reads[i];
      if (!socket.rooms.has(r)) return; // left meanwhile
      if (!recovery) {
        for (const h of held[i]!) socket.enqueue(h.frame, false);
        return;
      }
      const { frames } = catchUp(ctx, socket, r, recovery, null, held[i]!);
      const { offset, epoch } = recovery.position;
      socket.enqueue(
        encodeServerFrame({ type: FrameType.POSITION, room: r, offset, epoch }),
        false,
      );
      for (const frame of frames) socket.enqueue(frame, false);
    });
  } finally {
    for (const r of told) ctx.holds.unhold(socket, r);
  }
}
