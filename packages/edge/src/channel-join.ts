import {
  channelRoom,
  CloseCode,
  ErrorCode,
  roomIdProblem,
  RoomfabricError,
} from '@roomfabric/protocol';
import type { EdgeContext } from './context.js';
import type { Socket, SocketState } from './socket.js';

/**
 * Joins a connecting socket to the rooms of its user's channels (docs/channels.md): one
 * read of the channel store, made after the socket is in its personal room and before
 * HELLO. A LEAVE that reached the socket while the read was in flight (an unsubscribe or a
 * delete, see `OpeningSockets`) wins over the read.
 *
 * When the store cannot be read the connection is refused with
 * `RF_CHANNEL_STORE_UNAVAILABLE` (close 1011): the SDK reconnects with backoff, and a socket
 * never runs without channels it is subscribed to. Resolves with false when the socket was
 * refused or has gone.
 */
export async function joinChannels(
  ctx: EdgeContext<Socket>,
  socket: Socket,
  user: string,
): Promise<boolean> {
  const store = ctx.channelStore;
  if (!store) return true;
  let channels: string[];
  try {
    channels = await store.channelsOf(user);
  } catch (cause) {
    const err = new RoomfabricError(
      ErrorCode.CHANNEL_STORE_UNAVAILABLE,
      'cannot read the channels of this user; retry',
      { cause, temporary: true, closeCode: CloseCode.INTERNAL_ERROR },
    );
    ctx.logger.warn({ err: cause, socket: socket.id }, 'connection refused: channels unreadable');
    socket.sendError(0, err);
    socket.close(CloseCode.INTERNAL_ERROR, err.code);
    return false;
  }
  if ((socket.state as SocketState) !== 'open') return false;
  const left = ctx.opening.left(socket);
  let rooms = channels
    .map(channelRoom)
    .filter(
      (room) =>
        !left.has(room) &&
        !socket.rooms.has(room) &&
        roomIdProblem(room, ctx.limits.maxRoomLength) === undefined,
    );
  const free = Math.max(ctx.limits.maxRoomsPerSocket - socket.rooms.size, 0);
  if (rooms.length > free) {
    // Refusing would refuse this user for good; the store's maxChannelsPerUser below
    // maxRoomsPerSocket keeps this from happening.
    ctx.logger.warn(
      { socket: socket.id, channels: rooms.length, joined: free },
      'more channels than a socket may join: joined the first ones',
    );
    rooms = rooms.slice(0, free);
  }
  if (rooms.length > 0) await socket.join(rooms);
  return (socket.state as SocketState) === 'open';
}
