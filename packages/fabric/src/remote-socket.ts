import type { MemberInfo } from '@roomfabric/membership';
import { assertEventName, checkRooms, ControlOp } from '@roomfabric/protocol';
import type { Fabric } from './fabric.js';

/**
 * A socket anywhere in the cluster, as the index knows it. Its methods ask the node that
 * holds it to act, and resolve once it has.
 */
export class RemoteSocket {
  readonly id: string;
  readonly nodeId: string;
  readonly data: unknown;

  /** @internal */
  constructor(
    private readonly fabric: Fabric,
    member: MemberInfo,
  ) {
    this.id = member.socketId;
    this.nodeId = member.nodeId;
    this.data = member.data;
  }

  /** The rooms this socket is in, read from the index. */
  rooms(): Promise<string[]> {
    return this.fabric.membership.roomsOf(this.id);
  }

  /** Sends an event to this socket only. */
  async emit(event: string, data?: unknown): Promise<void> {
    assertEventName(event);
    await this.fabric.control([this.member()], ControlOp.EMIT, [], event, data);
  }

  async join(room: string | readonly string[]): Promise<void> {
    await this.fabric.control([this.member()], ControlOp.JOIN, checkRooms(room));
  }

  async leave(room: string | readonly string[]): Promise<void> {
    await this.fabric.control([this.member()], ControlOp.LEAVE, checkRooms(room));
  }

  /** Closes the connection with 4501 (`RF_KICKED`). */
  async disconnect(): Promise<void> {
    await this.fabric.control([this.member()], ControlOp.DISCONNECT);
  }

  private member(): MemberInfo {
    return { socketId: this.id, nodeId: this.nodeId, data: this.data };
  }
}
