import { encode } from '@msgpack/msgpack';
import {
  assertEventName,
  assertRoomId,
  BroadcastFlag,
  BusMessageType,
  encodeBusMessage,
  Subject,
} from '@roomfabric/protocol';
import type { Edge } from './edge.js';
import type { Socket } from './socket.js';

/**
 * Selects sockets and acts on them: `to`/`in` add rooms (union, each socket once),
 * `except` removes the members of rooms, `volatile` lets a slow socket miss the message.
 * Immutable: each call returns a new operator. Without any `to`, it targets every socket.
 */
export class BroadcastOperator {
  /** @internal */
  constructor(
    private readonly edge: Edge,
    private readonly rooms: readonly string[] = [],
    private readonly exceptRooms: readonly string[] = [],
    private readonly exceptSocket: string | null = null,
    private readonly flags = 0,
  ) {}

  /** Adds target rooms. Throws `RF_ROOM_INVALID` for an invalid id. */
  to(room: string | readonly string[]): BroadcastOperator {
    const rooms = this.union(this.rooms, room);
    return new BroadcastOperator(this.edge, rooms, this.exceptRooms, this.exceptSocket, this.flags);
  }

  /** Same as {@link to}. */
  in(room: string | readonly string[]): BroadcastOperator {
    return this.to(room);
  }

  /** Excludes the members of `room`. */
  except(room: string | readonly string[]): BroadcastOperator {
    const except = this.union(this.exceptRooms, room);
    return new BroadcastOperator(this.edge, this.rooms, except, this.exceptSocket, this.flags);
  }

  /** The message may be dropped for a socket whose outbound buffer is over the threshold. */
  get volatile(): BroadcastOperator {
    const flags = this.flags | BroadcastFlag.VOLATILE;
    return new BroadcastOperator(this.edge, this.rooms, this.exceptRooms, this.exceptSocket, flags);
  }

  /**
   * Broadcasts an event. The data is encoded once and the message published once per
   * target room (never once per socket). Throws `RF_EVENT_INVALID`/`RF_EVENT_RESERVED` for
   * a bad event name; the Promise rejects with `RF_BUS_UNAVAILABLE` when the bus refuses
   * it. Not awaiting it is fine: a failure is then logged and counted.
   */
  emit(event: string, data?: unknown): Promise<void> {
    assertEventName(event, this.edge.limits.maxEventLength);
    const payload = encodeBusMessage({
      type: BusMessageType.BROADCAST,
      rooms: [...this.rooms],
      except: [...this.exceptRooms],
      exceptSocket: this.exceptSocket,
      flags: this.flags,
      event,
      data: encode(data),
    });
    const subjects = this.rooms.length === 0 ? [Subject.all] : this.rooms.map(Subject.room);
    const bus = this.edge.bus;
    this.edge.counters.busOut += subjects.length;
    const done =
      subjects.length === 1
        ? bus.publish(subjects[0]!, payload)
        : Promise.all(subjects.map((s) => bus.publish(s, payload))).then(() => undefined);
    done.catch(this.edge.onBackgroundError);
    return done;
  }

  /** The selected sockets of this node (embedded mode: this node is the whole fabric). */
  fetchSockets(): Promise<Socket[]> {
    return Promise.resolve([...this.select()]);
  }

  /** Makes the selected sockets join `room`. */
  async socketsJoin(room: string | readonly string[]): Promise<void> {
    await Promise.all([...this.select()].map((s) => s.join(room)));
  }

  /** Makes the selected sockets leave `room`. */
  async socketsLeave(room: string | readonly string[]): Promise<void> {
    await Promise.all([...this.select()].map((s) => s.leave(room)));
  }

  /** Disconnects the selected sockets with `RF_KICKED` (4501); their clients do not reconnect. */
  disconnectSockets(): Promise<void> {
    for (const socket of this.select()) socket.disconnect();
    return Promise.resolve();
  }

  private *select(): Generator<Socket> {
    const seen = new Set<Socket>();
    const candidates =
      this.rooms.length === 0
        ? [this.edge.sockets.values()]
        : this.rooms.map((r) => this.edge.localRooms.get(r)?.sockets ?? []);
    for (const list of candidates) {
      for (const socket of list) {
        if (seen.has(socket) || !socket.connected) continue;
        seen.add(socket);
        if (socket.id === this.exceptSocket) continue;
        if (this.exceptRooms.some((r) => socket.rooms.has(r))) continue;
        yield socket;
      }
    }
  }

  private union(current: readonly string[], room: string | readonly string[]): string[] {
    const add = typeof room === 'string' ? [room] : room;
    const out = [...current];
    for (const r of add) {
      assertRoomId(r, this.edge.limits.maxRoomLength);
      if (!out.includes(r)) out.push(r);
    }
    return out;
  }
}
