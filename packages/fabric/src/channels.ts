import { assertChannelName, channelRoom, userRoom } from '@roomfabric/protocol';
import { Operator, type OperatorHost } from './operator.js';
import type { ChannelInfo, ChannelMeta, ChannelStore } from '@roomfabric/channels';

/** Users whose sockets one control round asks to leave a deleted channel's room. */
const LEAVE_BATCH = 500;

/**
 * Persistent channels, cluster-wide (docs/channels.md): `RoomfabricServer.channels`, and
 * `Edge.channels` in embedded mode. The store is the truth; live sockets follow it:
 *
 * - `subscribe` writes the store, then makes the user's sockets (wherever they are) join
 *   the channel's room `channelRoom(name)`;
 * - `unsubscribe` writes the store, then makes them leave it;
 * - `delete` removes every subscription, then every socket leaves the room.
 *
 * The store write comes first and an edge reads a user's channels only after the socket is
 * in the user's personal room, so a connecting socket cannot miss a change: either its read
 * sees the write, or the live step that follows the write finds the socket. A live step
 * that fails (a node did not answer) rejects the call; the store write stands, and calling
 * again is safe.
 *
 * @example
 * await rf.channels.create('general', { title: 'General' });
 * await rf.channels.subscribe('ada', 'general'); // durable; her sockets join now and on every connect
 * await rf.channels.to('general').emit('message', { from: 'bob', text: 'hi' });
 */
export class Channels<S> {
  private readonly root: Operator<S>;

  /** @internal */
  constructor(
    /** Where channels and subscriptions live. */
    readonly store: ChannelStore,
    host: OperatorHost<S>,
  ) {
    this.root = new Operator(host);
  }

  /** Creates a channel with no members. Idempotent with the same `meta`, else `RF_CHANNEL_EXISTS`. */
  create(name: string, meta?: ChannelMeta): Promise<ChannelInfo> {
    return this.store.create(name, meta);
  }

  /**
   * Deletes a channel: every subscription is removed, then every socket leaves its room.
   * Resolves with false when there was no such channel.
   */
  async delete(name: string): Promise<boolean> {
    const { existed, unsubscribed } = await this.store.delete(name);
    const room = channelRoom(name);
    // Through the personal rooms of the former subscribers: that also reaches a socket that
    // was connecting and read its channels just before the delete.
    for (let i = 0; i < unsubscribed.length; i += LEAVE_BATCH) {
      const users = unsubscribed.slice(i, i + LEAVE_BATCH).map(userRoom);
      await this.root.in(users).socketsLeave(room);
    }
    // Then anyone else in the room (sockets the application joined to it itself).
    await this.root.in(room).socketsLeave(room);
    return existed;
  }

  get(name: string): Promise<ChannelInfo | undefined> {
    return this.store.get(name);
  }

  /** Every channel, sorted by name. */
  list(): Promise<ChannelInfo[]> {
    return this.store.list();
  }

  /**
   * Subscribes `user` to channel `name`, durably; the user's sockets that are connected
   * join the channel's room now, and every later socket of the user on connect. Resolves
   * with false when the user already was subscribed. `RF_CHANNEL_NOT_FOUND` when the
   * channel does not exist.
   */
  async subscribe(user: string, name: string): Promise<boolean> {
    const added = await this.store.subscribe(user, name);
    await this.root.in(userRoom(user)).socketsJoin(channelRoom(name));
    return added;
  }

  /** Removes a subscription; the user's sockets leave the channel's room. False when there was none. */
  async unsubscribe(user: string, name: string): Promise<boolean> {
    const removed = await this.store.unsubscribe(user, name);
    await this.root.in(userRoom(user)).socketsLeave(channelRoom(name));
    return removed;
  }

  /** The users subscribed to channel `name`, online or not, sorted. */
  subscribers(name: string): Promise<string[]> {
    return this.store.subscribersOf(name);
  }

  /** The channels `user` is subscribed to, sorted. */
  of(user: string): Promise<string[]> {
    return this.store.channelsOf(user);
  }

  /**
   * Targets the live room of channel `name`: the connected sockets of its subscribers.
   * An emit is a broadcast and reads no store; to a missing channel it reaches nobody.
   */
  to(name: string): Operator<S> {
    assertChannelName(name);
    return this.root.to(channelRoom(name));
  }
}
