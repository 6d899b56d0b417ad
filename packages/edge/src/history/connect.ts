import type { ConnectRecover, HelloRoom } from '@roomfabric/protocol';
import type { EdgeContext } from '../context.js';
import type { Socket } from '../socket.js';
import { catchUp, readOrLive } from './reads.js';

/** What a connecting socket gets right after HELLO for the history rooms the server joined. */
export interface ConnectCatchUp {
  /** HELLO's `rooms`. */
  rooms: HelloRoom[];
  /** Replayed and held EVENT frames, room by room, in offset order within each room. */
  frames: Uint8Array[];
}

/**
 * History rooms the server joins a socket to before HELLO (its personal room, its
 * channels, cluster joins that reached it while it connected): the client never sent a
 * JOIN for them, so it recovers them through CONNECT instead (docs/history.md, "Rooms the
 * server joined"). From before the first of those joins the socket holds the live entries
 * of every history room; once they are joined, the edge reads each room's position, or
 * what the client missed since the position it gave in CONNECT, and sends HELLO with the
 * positions, then the missed entries, then the held ones that came after them. Every event
 * once, in offset order, as for a JOIN with `since`.
 */
export function holdForConnect(ctx: EdgeContext<Socket>, socket: Socket): void {
  if (ctx.history) ctx.holds.holdAll(socket);
}

/**
 * Reads and builds the catch-up of every history room the socket is in. A room whose
 * history cannot be read is reported with offset 0 and an empty epoch (no position;
 * `recovered: false` if the client asked) and gets what was held: live delivery is never
 * blocked by a history outage. The socket keeps holding until {@link releaseConnectHold}.
 */
export async function connectCatchUp(
  ctx: EdgeContext<Socket>,
  socket: Socket,
  recover: ConnectRecover | null,
): Promise<ConnectCatchUp> {
  const history = ctx.history;
  const out: ConnectCatchUp = { rooms: [], frames: [] };
  if (!history) return out;
  const asked = new Map((recover?.rooms ?? []).map((p) => [p.room, p]));
  const rooms = [...socket.rooms].filter((room) => history.covers(room));
  const reads = await Promise.all(
    rooms.map((room) => {
      const p = asked.get(room);
      const since = p ? { offset: p.offset, epoch: p.epoch, socketId: null } : null;
      return readOrLive(ctx, room, since, { socket: socket.id, at: 'connect' });
    }),
  );
  rooms.forEach((room, i) => {
    const recovery = reads[i];
    const askedHere = asked.has(room);
    const held = ctx.holds.held(socket, room);
    if (!recovery) {
      out.rooms.push({
        room,
        offset: 0,
        epoch: '',
        recovered: askedHere ? false : null,
        missed: 0,
      });
      for (const h of held) out.frames.push(h.frame);
      return;
    }
    const previous = recover?.socketId ?? null;
    const { frames, missed } = catchUp(ctx, socket, room, recovery, previous, held);
    out.rooms.push({
      room,
      ...recovery.position,
      recovered: askedHere ? recovery.recovered : null,
      missed,
    });
    out.frames.push(...frames);
  });
  return out;
}

/**
 * Stops holding; call it in the turn the catch-up frames are sent. Returns what was held
 * for history rooms the catch-up did not cover (joined by the cluster while it read), to
 * be sent after the catch-up: live entries, without a position.
 */
export function releaseConnectHold(
  ctx: EdgeContext<Socket>,
  socket: Socket,
  caughtUp?: ConnectCatchUp,
): Uint8Array[] {
  const covered = new Set(caughtUp?.rooms.map((r) => r.room));
  return ctx.holds.releaseAll(socket, covered, (room) => socket.rooms.has(room));
}
