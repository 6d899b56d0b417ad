import type { MemberInfo } from '@roomfabric/membership';
import {
  assertEventName,
  BroadcastFlag,
  BusMessageType,
  checkRooms,
  ControlOp,
  encodeData,
} from '@roomfabric/protocol';
import type { Fabric } from './fabric.js';
import type { RemoteSocket } from './remote-socket.js';

/** Where an operator sends its work: the fabric, plus how fetched members become objects. */
export interface OperatorHost<S> {
  readonly fabric: Fabric;
  /** Turns a member of the index into what `fetchSockets` returns. */
  toSocket(member: MemberInfo): S;
  /** Called when a fire-and-forget emit fails (the returned Promise rejects too). */
  onEmitError(err: unknown): void;
  /** Hook for counters: bus messages published by one emit. */
  onPublished?(count: number): void;
}

/**
 * Selects sockets across the cluster and acts on them: `to`/`in` add rooms (union, each
 * socket once), `except` removes the members of rooms, `volatile` lets slow sockets miss
 * the message. Immutable: each call returns a new operator. Without `to`, it targets every
 * socket of the fabric.
 */
export class Operator<S = RemoteSocket> {
  /** @internal */
  constructor(
    private readonly host: OperatorHost<S>,
    private readonly rooms: readonly string[] = [],
    private readonly exceptRooms: readonly string[] = [],
    private readonly exceptSocket: string | null = null,
    private readonly flags = 0,
  ) {}

  /** Adds target rooms. Throws `RF_ROOM_INVALID` for an invalid id. */
  to(room: string | readonly string[]): Operator<S> {
    return new Operator(
      this.host,
      union(this.rooms, room),
      this.exceptRooms,
      this.exceptSocket,
      this.flags,
    );
  }

  /** Same as {@link to}. */
  in(room: string | readonly string[]): Operator<S> {
    return this.to(room);
  }

  /** Excludes the members of `room`. */
  except(room: string | readonly string[]): Operator<S> {
    return new Operator(
      this.host,
      this.rooms,
      union(this.exceptRooms, room),
      this.exceptSocket,
      this.flags,
    );
  }

  /** The message may be dropped for a socket whose outbound buffer is over its threshold. */
  get volatile(): Operator<S> {
    const flags = this.flags | BroadcastFlag.VOLATILE;
    return new Operator(this.host, this.rooms, this.exceptRooms, this.exceptSocket, flags);
  }

  /**
   * Broadcasts an event: the data is encoded once and published once per target room
   * (never once per socket). Throws `RF_EVENT_INVALID`/`RF_EVENT_RESERVED` for a bad
   * name, `RF_INVALID_ARGUMENT` for data msgpack cannot encode; the Promise rejects with `RF_BUS_UNAVAILABLE` when the bus refuses it. Not
   * awaiting it is fine: a failure is then logged and counted.
   */
  emit(event: string, data?: unknown): Promise<void> {
    assertEventName(event);
    const encoded = encodeData(data);
    const done = this.host.fabric
      .broadcast({
        type: BusMessageType.BROADCAST,
        rooms: [...this.rooms],
        except: [...this.exceptRooms],
        exceptSocket: this.exceptSocket,
        flags: this.flags,
        event,
        data: encoded,
      })
      .then((count) => this.host.onPublished?.(count));
    done.catch((err: unknown) => this.host.onEmitError(err));
    return done;
  }

  /** The selected sockets, read from the index (socket id, node id, `socket.data`). */
  async fetchSockets(): Promise<S[]> {
    return (await this.members()).map((m) => this.host.toSocket(m));
  }

  /** Makes the selected sockets join `room`, on whatever node they are; resolves when done. */
  async socketsJoin(room: string | readonly string[]): Promise<void> {
    const rooms = checkRooms(room);
    await this.host.fabric.control(await this.members(), ControlOp.JOIN, rooms);
  }

  /** Makes the selected sockets leave `room`. */
  async socketsLeave(room: string | readonly string[]): Promise<void> {
    const rooms = checkRooms(room);
    await this.host.fabric.control(await this.members(), ControlOp.LEAVE, rooms);
  }

  /** Disconnects the selected sockets with `RF_KICKED` (4501); their clients do not reconnect. */
  async disconnectSockets(): Promise<void> {
    await this.host.fabric.control(await this.members(), ControlOp.DISCONNECT);
  }

  private members(): Promise<MemberInfo[]> {
    return this.host.fabric.select({
      rooms: this.rooms,
      except: this.exceptRooms,
      exceptSocket: this.exceptSocket,
    });
  }
}

function union(current: readonly string[], room: string | readonly string[]): string[] {
  const out = [...current];
  for (const r of checkRooms(room)) if (!out.includes(r)) out.push(r);
  return out;
}
