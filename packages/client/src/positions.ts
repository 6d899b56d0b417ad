import type { HelloRoom, RecoverFrom, RoomPosition, StreamPosition } from '@roomfabric/protocol';

/**
 * Where the client stands in each room that keeps history (docs/history.md): set by a
 * join's ACK, advanced by each event's offset, sent back on rejoin so that the server
 * replays what was missed.
 */
export class Positions {
  private readonly rooms = new Map<string, StreamPosition>();

  get(room: string): StreamPosition | undefined {
    const p = this.rooms.get(room);
    return p && { ...p };
  }

  delete(room: string): void {
    this.rooms.delete(room);
  }

  /** An event with an offset came through `room`. */
  advance(room: string, offset: number): void {
    const position = this.rooms.get(room);
    if (position && offset > position.offset) position.offset = offset;
  }

  /**
   * A join's ACK names the room's position when the room keeps history. While replayed
   * events follow the ACK (`missed` > 0), the position advances with them, so that a drop
   * in the middle of the replay resumes from the last event handled.
   */
  joined(room: string, data: unknown): void {
    const ack = data as { offset?: unknown; epoch?: unknown; missed?: unknown } | null;
    if (typeof ack?.offset !== 'number' || typeof ack.epoch !== 'string') return;
    const prior = this.rooms.get(room);
    const replaying =
      typeof ack.missed === 'number' && ack.missed > 0 && prior?.epoch === ack.epoch;
    this.rooms.set(room, { offset: replaying ? prior.offset : ack.offset, epoch: ack.epoch });
  }

  /**
   * HELLO's word on the history rooms the server joined: their positions, as a join's ACK
   * gives them. Positions of rooms the client did not join itself and that HELLO no
   * longer names are dropped (the server took the client out of them).
   */
  serverJoined(rooms: readonly HelloRoom[], ownRooms: ReadonlySet<string>): void {
    const named = new Set<string>();
    for (const r of rooms) {
      named.add(r.room);
      if (r.epoch === '')
        this.rooms.delete(r.room); // unreadable: no position
      else this.joined(r.room, r);
    }
    for (const room of this.rooms.keys()) {
      if (!ownRooms.has(room) && !named.has(room)) this.rooms.delete(room);
    }
  }

  /** CONNECT's positions: those of rooms the client did not join itself. */
  serverRooms(ownRooms: ReadonlySet<string>): RoomPosition[] {
    const out: RoomPosition[] = [];
    for (const [room, p] of this.rooms) if (!ownRooms.has(room)) out.push({ room, ...p });
    return out;
  }

  /** What a rejoin of `room` sends: the position and the previous connection's socket id. */
  since(room: string, previousSocketId: string | undefined): RecoverFrom | null {
    const p = this.rooms.get(room);
    return p ? { ...p, socketId: previousSocketId ?? null } : null;
  }
}

/**
 * A bounded set of recent ids: remembers the last `capacity` it was given, forgetting the
 * oldest first.
 */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity: number) {}

  /** Adds `id`; false when it was there already (a repeat). */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    return true;
  }
}
