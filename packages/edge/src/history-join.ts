import type { HistoryEntry, Recovery } from '@roomfabric/bus';
import {
  BusMessageType,
  decodeBusMessage,
  encodeEventFrame,
  encodeServerFrame,
  FrameType,
  type RecoverFrom,
  type StreamPosition,
} from '@roomfabric/protocol';
import type { Socket } from './socket.js';

/** What the ACK of a JOIN to a history room carries (docs/protocol.md). */
export interface HistoryJoinAck extends StreamPosition {
  /** Present when the client asked to recover: whether it got everything it missed. */
  recovered?: boolean;
  /** How many events were replayed before the live ones. */
  missed: number;
}

/**
 * A client's join (request `id`) of a room that keeps history. The socket first holds the
 * room's live events, joins, then reads where the room stands (or what the client missed
 * since its position). It sends the ACK with the position, then the missed events, then
 * the held live events that came after them, before it stops holding: every event once,
 * in offset order, none lost in the handover. On failure nothing is left joined, and the
 * returned Promise rejects for the caller to answer with the error.
 */
export async function joinWithHistory(
  socket: Socket,
  id: number,
  room: string,
  since: RecoverFrom | null,
): Promise<void> {
  const { history, recoveryLimit } = socket.edge;
  const wasMember = socket.rooms.has(room);
  const holding = (socket.holding ??= new Map());
  const held: Array<{ offset: number; frame: Uint8Array }> = [];
  holding.set(room, held);
  try {
    await socket.join(room);
    let recovery: Recovery;
    if (since) {
      recovery = await history!.since(room, since, recoveryLimit);
    } else {
      const position = await history!.position(room);
      recovery = { recovered: false, entries: [], position };
    }
    const frames = replay(socket, room, since?.socketId ?? null, recovery.entries);
    const missed = frames.length;
    const last = recovery.position.offset;
    for (const h of held) if (h.offset > last) frames.push(h.frame);
    const ack: HistoryJoinAck = {
      ...recovery.position,
      ...(since && { recovered: recovery.recovered }),
      missed,
    };
    socket.send(encodeServerFrame({ type: FrameType.ACK, id, data: ack }), false);
    for (const frame of frames) socket.send(frame, false);
  } catch (err) {
    if (!wasMember && socket.connected) await socket.leave(room).catch(() => undefined);
    throw err;
  } finally {
    holding.delete(room);
    if (holding.size === 0) socket.holding = undefined;
  }
}

/**
 * EVENT frames for stored broadcasts, filtered as live delivery filters them. Broadcasts
 * the client sent itself (from its previous socket) are skipped: live, the sender is
 * excluded too.
 */
function replay(
  socket: Socket,
  room: string,
  previousSocket: string | null,
  entries: readonly HistoryEntry[],
): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (const entry of entries) {
    let msg;
    try {
      msg = decodeBusMessage(entry.payload);
    } catch {
      continue; // not ours: anyone may publish on a subject
    }
    if (msg.type !== BusMessageType.BROADCAST) continue;
    const index = msg.rooms.indexOf(room);
    if (index < 0) continue;
    if (previousSocket !== null && msg.exceptSocket === previousSocket) continue;
    if (msg.rooms.slice(0, index).some((r) => socket.rooms.has(r))) continue;
    if (msg.except.some((r) => socket.rooms.has(r))) continue;
    frames.push(encodeEventFrame(msg.event, msg.data, room, 0, entry.offset));
  }
  return frames;
}
