import { assertEventName, assertRoomId, ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type { Operator } from '@roomfabric/fabric';

/** Where a stream publishes its batches: the edge's `to(room)`. */
export interface TickTarget {
  to(room: string): Operator<unknown>;
}

export interface TickStreamOptions {
  /** Event name of the batched update the room receives. */
  event: string;
  /** Ticks per second. Default 20; a game may use 30 or 60. */
  hz?: number;
  /** Send the batches as volatile (droppable for slow sockets). Default true. */
  volatile?: boolean;
}

/**
 * High-rate state (positions, cursors) sent as one batch per tick instead of one message
 * per update: `set(key, value)` keeps only the latest value per key, and each tick the room
 * gets one `event` whose data maps every key that changed to its latest value (`null` for
 * a deleted key). 100 players at 60 Hz become 60 messages a second per member instead of
 * 6,000, and a member that falls behind gets the newest state, not a backlog.
 *
 * Across nodes, each edge batches the keys set on it: a member gets one message per tick
 * per edge that had updates.
 *
 * @example
 * const positions = edge.stream('arena:1', { event: 'positions', hz: 60 });
 * edge.on('connection', (socket) => {
 *   socket.on('pos', (p) => positions.set(socket.id, p));
 *   socket.on('disconnect', () => positions.delete(socket.id));
 * });
 */
export class TickStream {
  readonly room: string;
  readonly event: string;
  /** Ticks that sent a batch, and values set (before coalescing). */
  readonly counters = { ticks: 0, batches: 0, updates: 0 };
  private pending = new Map<string, unknown>();
  private readonly timer: NodeJS.Timeout;
  private readonly volatile: boolean;
  private closed = false;

  /** @internal Use `edge.stream(room, options)`. */
  constructor(
    private readonly target: TickTarget,
    room: string,
    options: TickStreamOptions,
  ) {
    assertRoomId(room);
    assertEventName(options.event);
    const hz = options.hz ?? 20;
    if (!Number.isFinite(hz) || hz <= 0 || hz > 1000) {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `hz must be in (0, 1000], got ${hz}`);
    }
    this.room = room;
    this.event = options.event;
    this.volatile = options.volatile ?? true;
    this.timer = setInterval(() => this.tick(), 1000 / hz);
    this.timer.unref();
  }

  /** Sets the latest value for `key` (a player, a cursor); earlier values this tick are dropped. */
  set(key: string, value: unknown): void {
    if (this.closed) return;
    this.counters.updates++;
    this.pending.set(key, value);
  }

  /** Announces `key` as gone (its value is `null` in the next batch). */
  delete(key: string): void {
    if (!this.closed) this.pending.set(key, null);
  }

  /** Stops ticking; what is pending is dropped. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.pending.clear();
  }

  private tick(): void {
    this.counters.ticks++;
    if (this.pending.size === 0) return;
    const batch = Object.fromEntries(this.pending);
    this.pending = new Map();
    this.counters.batches++;
    const op = this.target.to(this.room);
    void (this.volatile ? op.volatile : op).emit(this.event, batch);
  }
}
