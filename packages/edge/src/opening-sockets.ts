import { ControlOp } from '@roomfabric/protocol';

interface Opening<S> {
  socket: S;
  /** Rooms a cluster LEAVE took from the socket while it was opening. */
  left: Set<string>;
}

/**
 * Sockets between their registration in the index and HELLO (`Handshakes.open`): already
 * in the index (in their personal room), so cluster selections such as
 * `in(userRoom(user))` find them, but not yet in `edge.sockets`. Cluster JOIN and LEAVE
 * requests reach them through here: a channel subscribed or unsubscribed while a socket
 * of the user connects is then followed by it too (docs/channels.md, "Ordering"). A LEAVE
 * is also remembered, so that the socket does not join that channel from a read of its
 * channels made before the unsubscribe.
 */
export class OpeningSockets<S extends { readonly id: string }> {
  private readonly byId = new Map<string, Opening<S>>();

  add(socket: S): void {
    this.byId.set(socket.id, { socket, left: new Set() });
  }

  delete(socket: S): void {
    this.byId.delete(socket.id);
  }

  /** Rooms a cluster LEAVE removed from `socket` since {@link add}. */
  left(socket: S): ReadonlySet<string> {
    return this.byId.get(socket.id)?.left ?? new Set();
  }

  /** The opening socket a JOIN or LEAVE control request targets, noting what it does. */
  forControl(id: string, op: ControlOp, rooms: readonly string[]): S | undefined {
    const opening = this.byId.get(id);
    if (!opening) return undefined;
    if (op === ControlOp.LEAVE) for (const room of rooms) opening.left.add(room);
    else if (op === ControlOp.JOIN) for (const room of rooms) opening.left.delete(room);
    else return undefined;
    return opening.socket;
  }
}
