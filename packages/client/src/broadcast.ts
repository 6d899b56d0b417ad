import {
  assertEventName,
  assertRoomId,
  encodeClientFrame,
  encodeData,
  ErrorCode,
  FrameType,
  isOneValue,
  RoomfabricError,
  type ClientFrame,
} from '@roomfabric/protocol';

/** Where a broadcast's emits go: the client's own send and request paths. */
export interface BroadcastSink {
  post(event: string, data: unknown, rooms: string[] | null, flags: number): boolean;
  request(
    event: string,
    data: unknown,
    rooms: string[] | null,
    flags: number,
    timeout?: number,
  ): Promise<unknown>;
}

/**
 * Checks an emit's event, rooms and data (msgpack can encode it, and it nests no deeper
 * than the server accepts: `maxDepth` for the frame, whose array and EMIT's own level
 * take 1) and the frame fits in the server's `maxFrameBytes` (`RF_FRAME_TOO_LARGE`),
 * and returns a builder of its EMIT frame for a given id. So a bad emit throws at the
 * call, never later when a queued frame is sent.
 */
export function emitFrame(
  event: string,
  data: unknown,
  rooms: string[] | null,
  flags: number,
  maxDepth: number,
  maxFrameBytes: number,
): (id: number) => ClientFrame {
  assertEventName(event);
  if (rooms) for (const r of rooms) assertRoomId(r);
  const encoded = encodeData(data);
  if (!isOneValue(encoded, maxDepth - 1)) {
    throw new RoomfabricError(
      ErrorCode.FRAME_TOO_DEEP,
      `event data may nest at most ${maxDepth - 1} arrays and maps deep`,
      { details: { maxDepth } },
    );
  }
  // The frame as it will be sent, with the widest id: the server closes a connection
  // with 1009 for a message over its limit, losing the emit; refuse it here instead.
  const size = encodeClientFrame({
    type: FrameType.EMIT,
    event,
    data,
    id: 0xffffffff,
    rooms,
    flags,
  }).length;
  if (size > maxFrameBytes) {
    throw new RoomfabricError(
      ErrorCode.FRAME_TOO_LARGE,
      `an emit of ${size} bytes is over the server's limit of ${maxFrameBytes}`,
      { details: { bytes: size, maxFrameBytes } },
    );
  }
  return (id) => ({ type: FrameType.EMIT, event, data, id, rooms, flags });
}

/**
 * A room broadcast from the client (sender excluded); built by `client.to(room)`.
 */
export class ClientBroadcast {
  /** @internal */
  constructor(
    private readonly sink: BroadcastSink,
    private readonly rooms: readonly string[],
    private readonly flags: number,
  ) {}

  /**
   * Adds another room; each member of several gets the event once.
   *
   * @example
   * client.to('a').to('b').emit('notice', 'hi');
   */
  to(room: string): ClientBroadcast {
    return new ClientBroadcast(this.sink, [...this.rooms, room], this.flags);
  }

  /**
   * Sends the event to the rooms' members (not to this client). Returns false when dropped.
   *
   * @example
   * client.to('lobby').emit('chat', 'hello');
   */
  emit(event: string, data?: unknown): boolean {
    return this.sink.post(event, data, [...this.rooms], this.flags);
  }

  /**
   * Like {@link emit}, resolving once the edge has published it (or rejecting with
   * `RF_NOT_IN_ROOM`, `RF_FORBIDDEN`, ...).
   *
   * @example
   * await client.to('lobby').emitWithAck('chat', 'hello');
   */
  emitWithAck(event: string, data?: unknown, options: { timeout?: number } = {}): Promise<void> {
    return this.sink
      .request(event, data, [...this.rooms], this.flags, options?.timeout)
      .then(() => undefined);
  }
}
