import {
  BusMessageType,
  ControlOp,
  decodeBusMessage,
  encodeEventFrame,
  encodeReply,
  encodeServerFrame,
  ErrorCode,
  FrameType,
  isRoomfabricError,
  RoomfabricError,
  type BroadcastMessage,
  type ControlMessage,
  type RaidCommitMessage,
  type RaidPrepareMessage,
} from '@roomfabric/protocol';
import type { Edge } from './edge.js';
import type { LocalRoom } from './local-rooms.js';
import type { Socket } from './socket.js';

interface PendingRaid {
  from: string;
  to: string;
  /** Broadcasts received on `to` since PREPARE, owed to movers once they are moved. */
  buffer: BroadcastMessage[];
  partsDone: Set<number>;
  timer: NodeJS.Timeout;
}

/** A raid whose commit never comes (the coordinator died) is forgotten after this. */
const RAID_STATE_TTL_MS = 30_000;
/** How many applied commit parts are remembered, to ignore re-sent duplicates. */
const APPLIED_MEMORY = 4096;

/**
 * The node's side of cluster operations: control requests on `rf.node.<id>` (join, leave,
 * disconnect or emit to some of its sockets) and the node's part of raids.
 */
export class NodeControl {
  private readonly raids = new Map<string, PendingRaid>();
  private readonly applied = new Set<string>();
  /** Commits that came on the node subject while `from` still had local members. */
  private readonly deferred = new Map<string, RaidCommitMessage[]>();

  constructor(private readonly edge: Edge) {}

  /** Handles a message on this node's own subject. */
  onNodeMessage(payload: Uint8Array, reply: string | undefined): void {
    let msg;
    try {
      msg = decodeBusMessage(payload);
    } catch {
      this.edge.counters.busMalformed++;
      return;
    }
    switch (msg.type) {
      case BusMessageType.CONTROL:
        this.answer(reply, this.control(msg));
        return;
      case BusMessageType.RAID_PREPARE:
        this.answer(reply, this.prepare(msg));
        return;
      case BusMessageType.RAID_COMMIT:
        // The copy on `from`'s subject keeps the order with `from`'s messages: prefer it
        // while this node still holds `from`.
        if (this.edge.localRooms.get(msg.from)) {
          const list = this.deferred.get(msg.from) ?? [];
          list.push(msg);
          this.deferred.set(msg.from, list);
        } else {
          this.commit(msg);
        }
        return;
      default:
        this.edge.counters.busMalformed++;
    }
  }

  /** A RAID_COMMIT that arrived through room `from`'s subject. */
  onRoomCommit(msg: RaidCommitMessage): void {
    this.commit(msg);
  }

  /** Called for every broadcast received on a room: buffers it for pending raids into that room. */
  onRoomBroadcast(room: LocalRoom, msg: BroadcastMessage): void {
    if (this.raids.size === 0) return;
    for (const raid of this.raids.values()) if (raid.to === room.id) raid.buffer.push(msg);
  }

  /** A local room was deleted: commits deferred for it will not come through it any more. */
  onRoomDeleted(room: string): void {
    const list = this.deferred.get(room);
    if (!list) return;
    this.deferred.delete(room);
    for (const msg of list) this.commit(msg);
  }

  close(): void {
    for (const raid of this.raids.values()) clearTimeout(raid.timer);
    this.raids.clear();
    this.deferred.clear();
  }

  private async control(msg: ControlMessage): Promise<void> {
    // A socket still opening gets JOIN and LEAVE too (see OpeningSockets).
    const sockets = msg.sockets
      .map((id) => this.edge.sockets.get(id) ?? this.edge.opening.forControl(id, msg.op, msg.rooms))
      .filter((s): s is Socket => s !== undefined && s.connected);
    switch (msg.op) {
      case ControlOp.JOIN:
        await Promise.all(sockets.map((s) => s.join(msg.rooms)));
        return;
      case ControlOp.LEAVE:
        await Promise.all(sockets.map((s) => s.leave(msg.rooms)));
        return;
      case ControlOp.DISCONNECT:
        await Promise.all(sockets.map((s) => s.disconnect()));
        return;
      case ControlOp.EMIT: {
        const frame = encodeEventFrame(msg.event, msg.data, null, 0);
        for (const s of sockets) s.send(frame, false);
        return;
      }
    }
  }

  private async prepare(msg: RaidPrepareMessage): Promise<void> {
    if (!this.raids.has(msg.raidId)) {
      const room = this.edge.localRooms.pin(msg.to);
      this.raids.set(msg.raidId, {
        from: msg.from,
        to: msg.to,
        buffer: [],
        partsDone: new Set(),
        timer: setTimeout(() => this.forget(msg.raidId), RAID_STATE_TTL_MS).unref(),
      });
      await room.ready;
    } else {
      await this.edge.localRooms.get(msg.to)?.ready;
    }
  }

  private commit(msg: RaidCommitMessage): void {
    if (msg.node !== this.edge.nodeId) return;
    const key = `${msg.raidId}:${msg.part}`;
    if (this.applied.has(key)) return;
    this.remember(key);
    const raid = this.raids.get(msg.raidId);
    const moved: Socket[] = [];
    const frame = encodeServerFrame({ type: FrameType.MOVED, from: msg.from, to: msg.to });
    for (const id of msg.sockets) {
      const socket = this.edge.sockets.get(id);
      if (!socket?.connected) continue;
      if (socket.rooms.has(msg.from)) {
        socket.moveLocal(msg.from, msg.to);
        socket.send(frame, false);
        moved.push(socket);
      } else if (!socket.rooms.has(msg.to)) {
        // It left `from` while the raid ran, so the index moved it into `to`: undo that.
        this.edge.membership.leave(id, [msg.to]).catch(this.edge.onBackgroundError);
      }
    }
    this.edge.counters.raidMoves += moved.length;
    if (raid) {
      // What `to` received since PREPARE is owed to the movers, after their MOVED frame.
      const room = this.edge.localRooms.get(msg.to);
      if (room && moved.length > 0)
        for (const b of raid.buffer) this.edge.delivery.deliverTo(b, moved, room.id);
      raid.partsDone.add(msg.part);
      if (raid.partsDone.size >= msg.parts) this.forget(msg.raidId);
    }
  }

  private forget(raidId: string): void {
    const raid = this.raids.get(raidId);
    if (!raid) return;
    clearTimeout(raid.timer);
    this.raids.delete(raidId);
    this.edge.localRooms.unpin(raid.to);
  }

  private remember(key: string): void {
    this.applied.add(key);
    if (this.applied.size > APPLIED_MEMORY) {
      const oldest = this.applied.values().next().value;
      if (oldest !== undefined) this.applied.delete(oldest);
    }
  }

  private answer(reply: string | undefined, work: Promise<void>): void {
    work.then(
      () => this.reply(reply, encodeReply({ ok: true })),
      (err: unknown) => {
        const error = isRoomfabricError(err)
          ? err
          : new RoomfabricError(ErrorCode.INTERNAL, 'control request failed', { cause: err });
        this.reply(reply, encodeReply({ ok: false, error }));
      },
    );
  }

  private reply(reply: string | undefined, payload: Uint8Array): void {
    if (reply) this.edge.bus.publish(reply, payload).catch(this.edge.onBackgroundError);
  }
}
