import type { RecoverFrom, StreamPosition } from '@roomfabric/protocol';

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

  /** What a rejoin of `room` sends: the position and the previous connection's socket id. */
  since(room: string, previousSocketId: string | undefined): RecoverFrom | null {
    const p = this.rooms.get(room);
    return p ? { ...p, socketId: previousSocketId ?? null } : null;
  }
}
