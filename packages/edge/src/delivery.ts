import { historyOffset, type BusHeaders } from '@roomfabric/bus';
import {
  BroadcastFlag,
  BusMessageType,
  decodeBusMessage,
  encodeEventFrame,
  RESERVED_EVENTS,
  type BroadcastMessage,
  type BusMessage,
  type RaidCommitMessage,
} from '@roomfabric/protocol';
import { PRESENCE_EVENT } from '@roomfabric/fabric';
import type { EdgeContext } from './context.js';
import { HistoryGaps } from './history/gaps.js';
import type { LocalRoom } from './local-rooms.js';
import type { Socket } from './socket.js';

/** What the raid side of the node (node-control.ts) sees of the delivery path. */
export interface RaidTap {
  /** A RAID_COMMIT that arrived through room `from`'s subject. */
  onRoomCommit(msg: RaidCommitMessage): void;
  /** A broadcast received through `room`, with its history offset (0 for none). */
  onRoomBroadcast(room: LocalRoom<Socket>, msg: BroadcastMessage, offset: number): void;
}

/**
 * The delivery path of a node: bus messages for its rooms and for the whole fabric,
 * decoded once, turned into one EVENT frame per broadcast and room, and queued for each
 * local member (the end-of-turn write is in sender.ts).
 */
export class Delivery {
  /** Holes in the live stream of history rooms (undefined: the node keeps no history). */
  readonly gaps: HistoryGaps | undefined;

  constructor(
    private readonly ctx: EdgeContext<Socket>,
    private readonly raids: RaidTap,
  ) {
    if (ctx.history) {
      this.gaps = new HistoryGaps(ctx, (room, payload, offset) =>
        this.onRoomPayload(room, payload, offset),
      );
    }
  }

  onRoomMessage(
    room: LocalRoom<Socket>,
    payload: Uint8Array,
    headers: BusHeaders | undefined,
  ): void {
    this.ctx.counters.busIn++;
    this.ctx.busInByRoom.set(room.id, (this.ctx.busInByRoom.get(room.id) ?? 0) + 1);
    const offset = this.gaps ? this.gaps.admit(room, payload, headers) : historyOffset(headers);
    if (offset < 0) return; // held for a gap, delivered already, or an anchor (a position)
    this.onRoomPayload(room, payload, offset);
  }

  /** A room's message, in its room's order (history offset, or 0). */
  private onRoomPayload(room: LocalRoom<Socket>, payload: Uint8Array, offset: number): void {
    const msg = this.decode(payload);
    if (msg?.type === BusMessageType.RAID_COMMIT) {
      this.raids.onRoomCommit(msg);
      return;
    }
    if (msg?.type !== BusMessageType.BROADCAST) {
      if (msg) this.ctx.counters.busMalformed++;
      return;
    }
    const index = msg.rooms.indexOf(room.id);
    if (index < 0 || !deliverable(msg.event)) {
      this.ctx.counters.busMalformed++;
      return;
    }
    this.raids.onRoomBroadcast(room, msg, offset);
    this.deliver(msg, room.sockets, room.id, index, offset);
  }

  onAllMessage(payload: Uint8Array): void {
    this.ctx.counters.busIn++;
    const msg = this.decode(payload);
    if (msg?.type === BusMessageType.BROADCAST && deliverable(msg.event))
      this.deliver(msg, this.ctx.sockets.values(), null, 0);
    else if (msg) this.ctx.counters.busMalformed++;
  }

  private decode(payload: Uint8Array): BusMessage | undefined {
    try {
      return decodeBusMessage(payload);
    } catch (err) {
      // Anyone can publish on a subject: count and drop, never crash.
      this.ctx.counters.busMalformed++;
      this.ctx.logger.debug({ err }, 'dropped a malformed bus message');
      return undefined;
    }
  }

  /**
   * Delivers a broadcast received through `room` (with its history offset, 0 for none) to
   * some of its members only (raid movers).
   */
  deliverTo(msg: BroadcastMessage, sockets: Iterable<Socket>, room: string, offset: number): void {
    const index = msg.rooms.indexOf(room);
    if (index >= 0) this.deliver(msg, sockets, room, index, offset);
  }

  /**
   * The delivery path: one EVENT frame per broadcast and room, the same bytes queued for
   * every local member that passes the filters. A member of an earlier listed room gets
   * the message through that room instead (docs/architecture.md, "A broadcast"). A socket
   * catching up on a history room holds what arrives meanwhile (history/holds.ts).
   */
  private deliver(
    msg: BroadcastMessage,
    sockets: Iterable<Socket>,
    room: string | null,
    index: number,
    offset = 0,
  ): void {
    // The broadcast's id goes with its offset: only stored entries can come twice.
    const frame = encodeEventFrame(
      msg.event,
      msg.data,
      room,
      0,
      offset,
      offset > 0 ? (msg.id ?? null) : null,
    );
    const volatile = (msg.flags & BroadcastFlag.VOLATILE) !== 0;
    const { rooms, except, exceptSocket } = msg;
    const holds = this.ctx.holds;
    let delivered = 0;
    for (const socket of sockets) {
      if (socket.id === exceptSocket) continue;
      if (index > 0 && inAny(socket.rooms, rooms, index)) continue;
      if (except.length > 0 && inAny(socket.rooms, except, except.length)) continue;
      // A socket catching up on a history room holds what arrives meanwhile, and skips
      // what its catch-up sent already (history/holds.ts).
      if (offset > 0 && !holds.admit(socket, room!, offset, frame)) continue;
      if (socket.enqueue(frame, volatile)) delivered++;
    }
    this.ctx.counters.deliveries += delivered;
  }
}

/**
 * Whether a broadcast's event name may reach clients: never one of the SDK's lifecycle
 * names (`state`, `moved`, ...), which no publisher of the fabric sends, so that a rogue
 * publisher on the bus cannot fake a state change. `$presence` is the fabric's own.
 */
function deliverable(event: string): boolean {
  return event === PRESENCE_EVENT || !RESERVED_EVENTS.has(event);
}

function inAny(set: ReadonlySet<string>, rooms: readonly string[], end: number): boolean {
  for (let i = 0; i < end; i++) if (set.has(rooms[i]!)) return true;
  return false;
}
