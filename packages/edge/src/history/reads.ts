import type { History, HistoryEntry, Recovery } from '@roomfabric/bus';
import {
  BusMessageType,
  decodeBusMessage,
  encodeEventFrame,
  type RecoverFrom,
} from '@roomfabric/protocol';
import type { EdgeContext } from '../context.js';
import type { Socket } from '../socket.js';
import type { Held } from './holds.js';

/**
 * Reads for catch-ups: the room's position or what came after a position (coalesced
 * within a turn), the frames a socket is owed from a read, and a read that turns an
 * unreadable history into "no position" for the callers that deliver live anyway.
 */

/**
 * {@link coalescedRead}, for callers that go on without a position when the history
 * cannot be read (a join made by the server, the connect catch-up, a raid): the failure
 * is logged, with `what` for context, and answered with undefined.
 */
export function readOrLive(
  ctx: EdgeContext<Socket>,
  room: string,
  since: RecoverFrom | null,
  what: { socket?: string; raidId?: string; at: string },
): Promise<Recovery | undefined> {
  return coalescedRead(ctx.history!, room, since, ctx.recoveryLimit).catch((err: unknown) => {
    ctx.logger.warn(
      { err, room, ...what },
      `history unreadable at ${what.at}: the room is delivered live, without a position`,
    );
    return undefined;
  });
}

/**
 * The frames that bring a socket up to date in a history room after a read: the missed
 * entries, then the held live ones that came after them. The caller sends them in this
 * turn; from then on the room's live entries up to the last of them are not sent again,
 * and the room's epoch is known to the node (for filling gaps, gaps.ts).
 */
export function catchUp(
  ctx: EdgeContext<Socket>,
  socket: Socket,
  room: string,
  recovery: Recovery,
  previousSocket: string | null,
  held: readonly Held[],
): { frames: Uint8Array[]; missed: number } {
  const frames = replay(socket, room, previousSocket, recovery.entries);
  const missed = frames.length;
  let last = recovery.position.offset;
  for (const h of held) {
    if (h.offset <= last) continue;
    frames.push(h.frame);
    last = h.offset;
  }
  ctx.holds.caughtUp(socket, room, last);
  const local = ctx.localRooms.get(room);
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
