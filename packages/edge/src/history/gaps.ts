import { historyLink, type BusHeaders, type Recovery } from '@roomfabric/bus';
import { CloseCode, ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type { EdgeContext } from '../context.js';
import type { LocalRoom } from '../local-rooms.js';
import type { Socket } from '../socket.js';

/** Live entries a room may hold while its gap is read; past this, its members reconnect. */
const MAX_HELD = 10_000;
/** Reads of a gap before giving up on it, spaced by RETRY_MS, 2 x RETRY_MS, ... */
const FILL_ATTEMPTS = 3;
const RETRY_MS = 250;
/** History rooms checked at once after a bus reconnect. */
const CHECKS_AT_ONCE = 16;

/** What a room's delivery path does with one live message it was given. */
export type Dispatch = (room: LocalRoom<Socket>, payload: Uint8Array, offset: number) => void;

/**
 * Fills the holes that core NATS leaves in the live stream of a history room. NATS
 * delivers at most once: a node whose bus connection dropped (a NATS server restarted, a
 * slow consumer cut off by the server) misses whatever was stored meanwhile, and its
 * clients would never know. Every live entry names the room's previous offset
 * (`Nats-Last-Sequence`), so the node sees the hole at the next entry: it holds the room's
 * live entries, reads the missing ones from the history, delivers them in order, then
 * what it held. After a bus reconnect it checks every history room it holds at once,
 * without waiting for a next entry.
 *
 * A hole it cannot fill (the entries are gone, more than `recoveryLimit`, another epoch,
 * the history down for every attempt) closes the room's local members with 4004
 * (`RF_HISTORY_GAP`): the SDK reconnects and rejoins with its positions, and is told
 * `recovered: false` if the gap is really gone. Never a silent gap.
 */
export class HistoryGaps {
  constructor(
    private readonly ctx: EdgeContext<Socket>,
    private readonly dispatch: Dispatch,
  ) {}

  /**
   * Called for every live message of a room, in arrival order. Returns the offset to
   * deliver it with now (0: not from this node's history of the room), or -1 when it is
   * not delivered now: held for a fill, delivered already, or an anchor.
   */
  admit(room: LocalRoom<Socket>, payload: Uint8Array, headers: BusHeaders | undefined): number {
    const link = historyLink(headers);
    if (!link) return 0; // not from history: nothing to check
    if (link.stream !== undefined && link.stream !== this.ctx.history!.streamOf(room.id)) {
      // Stored by a process with other history settings: delivered, outside the sequence.
      this.foreign(room, link.stream);
      return link.anchor ? -1 : 0;
    }
    if (room.gapHeld) {
      if (room.gapHeld.length >= MAX_HELD) this.lost(room, 'too many live entries during a fill');
      else room.gapHeld.push({ payload, headers });
      return -1;
    }
    const last = room.lastOffset;
    if (last > 0 && link.offset <= last) return -1; // a fill delivered it already
    // Before the first live entry, what the joins read is what the sockets were owed from.
    const from = last > 0 ? last : room.historyFloor;
    if (from > 0 && link.previous > from) {
      room.gapHeld = [{ payload, headers }];
      void this.fill(room, from);
      return -1;
    }
    room.lastOffset = link.offset;
    return link.anchor ? -1 : link.offset; // an anchor is a position, not a message
  }

  /**
   * After the bus reconnected: reads, for every history room this node delivers, what was
   * stored since its last entry, once the subscriptions are back on the server.
   */
  async checkAll(): Promise<void> {
    try {
      await this.ctx.bus.flush();
    } catch {
      return; // down again: the next reconnect checks
    }
    const rooms: LocalRoom<Socket>[] = [];
    for (const id of this.ctx.localRooms.ids()) {
      const room = this.ctx.localRooms.get(id)!;
      if (room.lastOffset > 0) rooms.push(room);
    }
    for (let i = 0; i < rooms.length; i += CHECKS_AT_ONCE) {
      await Promise.all(
        rooms.slice(i, i + CHECKS_AT_ONCE).map((room) => {
          if (room.deleted || room.gapHeld || room.lastOffset === 0) return undefined;
          room.gapHeld = [];
          return this.fill(room, room.lastOffset);
        }),
      );
    }
  }

  private async fill(room: LocalRoom<Socket>, from: number): Promise<void> {
    const history = this.ctx.history!;
    let recovery: Recovery | undefined;
    let failure: unknown;
    for (let attempt = 0; attempt < FILL_ATTEMPTS && !room.deleted; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, RETRY_MS * attempt));
      try {
        const epoch = room.historyEpoch ?? (await history.position(room.id)).epoch;
        recovery = await history.since(room.id, { offset: from, epoch }, this.ctx.recoveryLimit);
        break;
      } catch (err) {
        failure = err;
      }
    }
    if (room.deleted || !room.gapHeld) return; // gone, or given up on meanwhile
    if (!recovery?.recovered) {
      this.lost(
        room,
        recovery ? 'the missing entries are gone' : 'the history did not answer',
        failure,
      );
      return;
    }
    const { counters } = this.ctx;
    if (recovery.entries.length > 0) counters.historyGapsFilled++;
    for (const entry of recovery.entries) {
      if (entry.offset <= room.lastOffset) continue;
      room.lastOffset = entry.offset;
      counters.historyGapEntries++;
      this.dispatch(room, entry.payload, entry.offset);
    }
    room.lastOffset = Math.max(room.lastOffset, recovery.position.offset);
    // What arrived meanwhile goes through the same check: entries the fill covered are
    // dropped, and a new hole starts a new fill that holds the rest.
    const held = room.gapHeld;
    room.gapHeld = undefined;
    for (const m of held) {
      const offset = this.admit(room, m.payload, m.headers);
      if (offset >= 0) this.dispatch(room, m.payload, offset);
    }
  }

  /** Streams already reported as not this node's (each is logged once). */
  private readonly foreignSeen = new Set<string>();

  private foreign(room: LocalRoom<Socket>, stream: string): void {
    if (this.foreignSeen.has(stream) || this.foreignSeen.size >= 100) return;
    this.foreignSeen.add(stream);
    this.ctx.logger.warn(
      { room: room.id, stream, expected: this.ctx.history!.streamOf(room.id) },
      'a broadcast was stored in another history stream than this node keeps the room in: every process must use the same history policies (docs/history.md); delivered without an offset',
    );
  }

  /** The hole cannot be filled here: the room's members reconnect and recover themselves. */
  private lost(room: LocalRoom<Socket>, why: string, cause?: unknown): void {
    room.gapHeld = undefined;
    room.lastOffset = 0; // the next live entry starts the sequence again
    room.historyFloor = 0;
    this.ctx.counters.historyGapsLost++;
    this.ctx.logger.warn(
      { room: room.id, members: room.sockets.size, err: cause },
      `history gap not filled (${why}): closing the room's members with 4004 so they recover`,
    );
    const err = new RoomfabricError(
      ErrorCode.HISTORY_GAP,
      `part of the live stream of ${JSON.stringify(room.id)} was lost: reconnect and recover`,
      { temporary: true },
    );
    for (const socket of [...room.sockets]) {
      socket.sendError(0, err);
      socket.close(CloseCode.HISTORY_GAP, err.code);
    }
  }
}
