import type { History, HistoryEntry, Recovery } from '@roomfabric/bus';
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
  onJoined: () => void = () => undefined,
): Promise<void> {
  const { history, recoveryLimit } = socket.edge;
  const wasMember = socket.rooms.has(room);
  const holding = (socket.holding ??= new Map());
  const held: Array<{ offset: number; frame: Uint8Array }> = [];
  holding.set(room, held);
  try {
    await socket.joinRooms(room);
    const recovery = await coalescedRead(history!, room, since, recoveryLimit);
    const { frames, missed } = catchUp(socket, room, recovery, since?.socketId ?? null, held);
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
    holding.delete(room);
    if (holding.size === 0) socket.holding = undefined;
  }
}

/**
 * The frames that bring a socket up to date in a history room after a read: the missed
 * entries, then the held live ones that came after them. The caller sends them in this
 * turn; from then on the room's live entries up to the last of them are not sent again,
 * and the room's epoch is known to the node (for filling gaps, history-gaps.ts).
 */
export function catchUp(
  socket: Socket,
  room: string,
  recovery: Recovery,
  previousSocket: string | null,
  held: ReadonlyArray<{ offset: number; frame: Uint8Array }>,
): { frames: Uint8Array[]; missed: number } {
  const frames = replay(socket, room, previousSocket, recovery.entries);
  const missed = frames.length;
  let last = recovery.position.offset;
  for (const h of held) {
    if (h.offset <= last) continue;
    frames.push(h.frame);
    last = h.offset;
  }
  (socket.caughtUpTo ??= new Map()).set(room, last);
  const local = socket.edge.localRooms.get(room);
  if (local) {
    local.historyEpoch = recovery.position.epoch;
    const read = recovery.position.offset;
    if (local.lastOffset === 0 && (local.historyFloor === 0 || read < local.historyFloor)) {
      local.historyFloor = read;
    }
  }
  return { frames, missed };
}

/** A read not started yet, which later askers may still share. */
interface PendingRead {
  started: boolean;
  promise: Promise<Recovery>;
}

const pending = new WeakMap<History, Map<string, PendingRead>>();

/**
 * The room's position, or what came after `since`. Identical asks made in the same turn
 * share one read, which starts at the end of the turn: a reconnect storm reads each room
 * and position once per turn. Only reads that have not started are shared, so every
 * asker's read still begins after its own join (and hold) was in place.
 */
export function coalescedRead(
  history: History,
  room: string,
  since: RecoverFrom | null,
  limit: number,
): Promise<Recovery> {
  let reads = pending.get(history);
  if (!reads) pending.set(history, (reads = new Map()));
  const key = since ? `${room}\n${since.epoch}\n${since.offset}` : `${room}\n`;
  const waiting = reads.get(key);
  if (waiting && !waiting.started) return waiting.promise;
  const read: PendingRead = {
    started: false,
    promise: new Promise<Recovery>((resolve, reject) => {
      setImmediate(() => {
        read.started = true;
        if (reads.get(key) === read) reads.delete(key);
        const run = since
          ? history.since(room, since, limit)
          : history.position(room).then((position) => ({
              recovered: false,
              entries: [],
              position,
            }));
        run.then(resolve, reject);
      });
    }),
  };
  reads.set(key, read);
  return read.promise;
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
    frames.push(encodeEventFrame(msg.event, msg.data, room, 0, entry.offset, msg.id ?? null));
  }
  return frames;
}
