import {
  assertEventName,
  assertRoomId,
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
  type BusMessage,
  type ControlMessage,
  type RaidCommitMessage,
  type RaidPrepareMessage,
  type StreamPosition,
} from '@roomfabric/protocol';
import type { EdgeContext } from './context.js';
import type { RaidTap } from './delivery.js';
import { readOrLive } from './history/reads.js';
import type { LocalRoom } from './local-rooms.js';
import type { Socket } from './socket.js';

/** Delivers a broadcast received through `room` to some of its members only (the delivery path's). */
export type DeliverTo = (
  msg: BroadcastMessage,
  sockets: Iterable<Socket>,
  room: string,
  offset: number,
) => void;

interface PendingRaid {
  from: string;
  to: string;
  /**
   * Broadcasts received on `to` since PREPARE (with their history offsets, 0 for none),
   * owed to movers once they are moved.
   */
  buffer: Array<{ msg: BroadcastMessage; offset: number }>;
  /**
   * When `to` keeps history: its position read after the node subscribed to it, where
   * movers start (sent in MOVED); buffered entries up to it are not theirs.
   */
  position: StreamPosition | undefined;
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
export class NodeControl implements RaidTap {
  private readonly raids = new Map<string, PendingRaid>();
  private readonly applied = new Set<string>();
  /** Commits that came on the node subject while `from` still had local members. */
  private readonly deferred = new Map<string, RaidCommitMessage[]>();

  constructor(
    private readonly ctx: EdgeContext<Socket>,
    private readonly deliverTo: DeliverTo,
  ) {}

  /** Handles a message on this node's own subject. */
  onNodeMessage(payload: Uint8Array, reply: string | undefined): void {
    let msg;
    try {
      msg = decodeBusMessage(payload);
      // Checked like a client's frame: a room id past the node's limits would become a
      // subject NATS refuses (a 5,000-character one once cut the node off NATS).
      this.checkRooms(msg);
    } catch (err) {
      this.ctx.counters.busMalformed++;
      this.ctx.logger.debug({ err }, 'dropped a malformed message on the node subject');
      if (reply && isRoomfabricError(err) && err.code !== ErrorCode.FRAME_MALFORMED) {
        this.reply(reply, encodeReply({ ok: false, error: err }));
      }
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
        if (this.ctx.localRooms.get(msg.from)) {
          const list = this.deferred.get(msg.from) ?? [];
          list.push(msg);
          this.deferred.set(msg.from, list);
        } else {
          this.commit(msg);
        }
        return;
      default:
        this.ctx.counters.busMalformed++;
    }
  }

  /** A RAID_COMMIT that arrived through room `from`'s subject. */
  onRoomCommit(msg: RaidCommitMessage): void {
    try {
      this.checkRooms(msg);
    } catch {
      this.ctx.counters.busMalformed++;
      return;
    }
    this.commit(msg);
  }

  /** Throws `RF_ROOM_INVALID` / `RF_EVENT_INVALID` for ids the node's limits refuse. */
  private checkRooms(msg: BusMessage): void {
    const { maxRoomLength, maxEventLength } = this.ctx.limits;
    switch (msg.type) {
      case BusMessageType.CONTROL:
        for (const room of msg.rooms) assertRoomId(room, maxRoomLength);
        if (msg.op === ControlOp.EMIT) assertEventName(msg.event, maxEventLength);
        return;
      case BusMessageType.RAID_PREPARE:
      case BusMessageType.RAID_COMMIT:
        assertRoomId(msg.from, maxRoomLength);
        assertRoomId(msg.to, maxRoomLength);
        return;
      default:
        return;
    }
  }

  /** Called for every broadcast received on a room: buffers it for pending raids into that room. */
  onRoomBroadcast(room: LocalRoom<Socket>, msg: BroadcastMessage, offset: number): void {
    if (this.raids.size === 0) return;
    for (const raid of this.raids.values()) {
      if (raid.to === room.id) raid.buffer.push({ msg, offset });
    }
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
      .map((id) => this.ctx.sockets.get(id) ?? this.ctx.opening.forControl(id, msg.op, msg.rooms))
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
        for (const s of sockets) s.enqueue(frame, false);
        return;
      }
    }
  }

  private async prepare(msg: RaidPrepareMessage): Promise<void> {
    let raid = this.raids.get(msg.raidId);
    if (!raid) {
      const room = this.ctx.localRooms.pin(msg.to);
      raid = {
        from: msg.from,
        to: msg.to,
        buffer: [],
        position: undefined,
        partsDone: new Set(),
        timer: setTimeout(() => this.forget(msg.raidId), RAID_STATE_TTL_MS).unref(),
      };
      this.raids.set(msg.raidId, raid);
      await room.ready;
    } else {
      await this.ctx.localRooms.get(msg.to)?.ready;
    }
    if (raid.position === undefined && this.ctx.history?.covers(msg.to)) {
      // Read after the subscription is in place, so every entry past this position is in
      // the buffer or still to come live.
      const read = await readOrLive(this.ctx, msg.to, null, { raidId: msg.raidId, at: 'a raid' });
      raid.position = read?.position;
    }
  }

  private commit(msg: RaidCommitMessage): void {
    if (msg.node !== this.ctx.nodeId) return;
    const key = `${msg.raidId}:${msg.part}`;
    if (this.applied.has(key)) return;
    this.remember(key);
    const raid = this.raids.get(msg.raidId);
    const position = raid?.position ?? null;
    // Sockets new to `to` start at its position; one already in it keeps its own.
    const joining = encodeServerFrame({
      type: FrameType.MOVED,
      from: msg.from,
      to: msg.to,
      position,
    });
    const staying = encodeServerFrame({
      type: FrameType.MOVED,
      from: msg.from,
      to: msg.to,
      position: null,
    });
    const moved: Socket[] = [];
    let count = 0;
    for (const id of msg.sockets) {
      const socket = this.ctx.sockets.get(id);
      if (!socket?.connected) continue;
      if (socket.rooms.has(msg.from)) {
        const wasInTo = socket.rooms.has(msg.to);
        socket.moveLocal(msg.from, msg.to);
        socket.enqueue(wasInTo ? staying : joining, false);
        // A socket that was in `to` already got its traffic live.
        if (!wasInTo) moved.push(socket);
        count++;
      } else if (!socket.rooms.has(msg.to)) {
        // It left `from` while the raid ran, so the index moved it into `to`: undo that.
        this.ctx.membership.leave(id, [msg.to]).catch(this.ctx.onBackgroundError);
      }
    }
    this.ctx.counters.raidMoves += count;
    if (raid) {
      // What `to` received since PREPARE is owed to the movers, after their MOVED frame
      // (of a history room, only what came after the position they were given).
      const room = this.ctx.localRooms.get(msg.to);
      if (room && moved.length > 0) {
        const after = position?.offset ?? 0;
        for (const b of raid.buffer) {
          if (position && b.offset > 0 && b.offset <= after) continue;
          this.deliverTo(b.msg, moved, room.id, b.offset);
        }
      }
      raid.partsDone.add(msg.part);
      if (raid.partsDone.size >= msg.parts) this.forget(msg.raidId);
    }
  }

  private forget(raidId: string): void {
    const raid = this.raids.get(raidId);
    if (!raid) return;
    clearTimeout(raid.timer);
    this.raids.delete(raidId);
    this.ctx.localRooms.unpin(raid.to);
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
    if (reply) this.ctx.bus.publish(reply, payload).catch(this.ctx.onBackgroundError);
  }
}
