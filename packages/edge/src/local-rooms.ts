import type { Bus, BusHeaders, BusSubscription } from '@roomfabric/bus';
import { ErrorCode, RoomfabricError, Subject } from '@roomfabric/protocol';

/**
 * One room as this node holds it: its local members (`M`, the node's sockets) and the bus
 * interest that feeds it.
 */
export class LocalRoom<M = unknown> {
  readonly sockets = new Set<M>();
  /** Resolves once the bus subscription for this room is registered with the server. */
  readonly ready: Promise<void>;
  /** Set once the room was deleted; a late bus message for it is ignored. */
  deleted = false;
  /** History rooms: the offset of the last live entry delivered (0: none yet). */
  lastOffset = 0;
  /**
   * History rooms, until the first live entry: the lowest position a join read. The
   * entries after it are owed to the sockets that read it, so the first live entry is
   * checked against it (on a NATS cluster, the room's interest may reach the stream's
   * server only after the read, and the entries in between never come live).
   */
  historyFloor = 0;
  /** History rooms: the epoch a join of it last read. */
  historyEpoch: string | undefined;
  /** History rooms: live entries held while a gap is read (see history-gaps.ts). */
  gapHeld: Array<{ payload: Uint8Array; headers: BusHeaders | undefined }> | undefined;
  private sub: BusSubscription | undefined;

  constructor(
    readonly id: string,
    bus: Bus,
    onMessage: (room: LocalRoom<M>, payload: Uint8Array, headers: BusHeaders | undefined) => void,
  ) {
    this.ready = bus
      .subscribe(Subject.room(id), (payload, _subject, _reply, headers) => {
        if (!this.deleted) onMessage(this, payload, headers);
      })
      .then(
        (sub) => {
          if (this.deleted) sub.unsubscribe();
          else this.sub = sub;
        },
        (cause: unknown) => {
          throw new RoomfabricError(
            ErrorCode.BUS_UNAVAILABLE,
            `could not subscribe to room ${JSON.stringify(id)}`,
            { cause, temporary: true },
          );
        },
      );
    // Joiners await `ready` and handle its failure; this keeps an unobserved failure quiet.
    this.ready.catch(() => undefined);
  }

  /**
   * True once the bus subscription is registered (a room still in the node's index is never
   * deleted): a join of the room has nothing to wait for.
   */
  get subscribed(): boolean {
    return this.sub !== undefined;
  }

  /** Stops delivery at once and drops the bus interest. */
  delete(): void {
    this.deleted = true;
    this.sub?.unsubscribe();
    this.sub = undefined;
  }
}

/**
 * The node's local index: `room -> sockets` here, `socket -> rooms` on each socket. A room
 * exists while it has at least one local member; the node subscribes to the room's
 * subject when it is created and unsubscribes when it is deleted.
 */
export class LocalRooms<M> {
  private readonly rooms = new Map<string, LocalRoom<M>>();
  /** Rooms kept subscribed without local members (a raid's target, until its commit). */
  private readonly pins = new Map<string, number>();

  constructor(
    private readonly bus: Bus,
    private readonly onMessage: (
      room: LocalRoom<M>,
      payload: Uint8Array,
      headers: BusHeaders | undefined,
    ) => void,
    private readonly onCreated: (room: string) => void,
    private readonly onDeleted: (room: string) => void,
  ) {}

  get size(): number {
    return this.rooms.size;
  }

  get(room: string): LocalRoom<M> | undefined {
    return this.rooms.get(room);
  }

  ids(): IterableIterator<string> {
    return this.rooms.keys();
  }

  /** Adds a socket to a room, creating the room (and its bus interest) if needed. */
  add(roomId: string, socket: M): LocalRoom<M> {
    const room = this.ensure(roomId);
    room.sockets.add(socket);
    return room;
  }

  /** Removes a socket from a room, deleting the room when it was the last member. */
  remove(roomId: string, socket: M): void {
    const room = this.rooms.get(roomId);
    if (!room || !room.sockets.delete(socket)) return;
    this.deleteIfUnused(room);
  }

  /** Keeps a room subscribed even with no local member, until {@link unpin}. */
  pin(roomId: string): LocalRoom<M> {
    this.pins.set(roomId, (this.pins.get(roomId) ?? 0) + 1);
    return this.ensure(roomId);
  }

  unpin(roomId: string): void {
    const n = (this.pins.get(roomId) ?? 0) - 1;
    if (n > 0) {
      this.pins.set(roomId, n);
      return;
    }
    this.pins.delete(roomId);
    const room = this.rooms.get(roomId);
    if (room) this.deleteIfUnused(room);
  }

  private ensure(roomId: string): LocalRoom<M> {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = new LocalRoom(roomId, this.bus, this.onMessage);
      this.rooms.set(roomId, room);
      this.onCreated(roomId);
    }
    return room;
  }

  private deleteIfUnused(room: LocalRoom<M>): void {
    if (room.sockets.size > 0 || this.pins.has(room.id)) return;
    this.rooms.delete(room.id);
    room.delete();
    this.onDeleted(room.id);
  }

  /** Drops every room (on close). */
  clear(): void {
    for (const room of this.rooms.values()) room.delete();
    this.rooms.clear();
    this.pins.clear();
  }
}
