import {
  assertEventName,
  BroadcastFlag,
  CloseCode,
  decodeValues,
  encodeServerFrame,
  ErrorCode,
  FrameType,
  isRoomfabricError,
  parseClientFrame,
  PROTOCOL_VERSION,
  RoomfabricError,
  type RecoverFrom,
  type ClientFrame,
  type EmitFrame,
} from '@roomfabric/protocol';
import type WebSocket from 'ws';
import type { RawData } from 'ws';
import type { Operator } from '@roomfabric/fabric';
import { joinWithHistory } from './history/join.js';
import { checkBroadcast, checkJoinLeave } from './policy.js';
import type { AckFn, FabricSocket, Socket } from './socket.js';

/*
 * Per-connection WebSocket handlers, defined once and bound to each `ws` (as the `ws`
 * library does), not closures made per connection.
 */

const sockets = new WeakMap<WebSocket, Socket>();

/** Wires a freshly accepted WebSocket to its Socket. */
export function bindSocket(ws: WebSocket, socket: Socket): void {
  sockets.set(ws, socket);
  ws.on('message', onMessage);
  ws.on('close', onClose);
  ws.on('error', onError);
}

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  const socket = sockets.get(this);
  if (!socket || socket.state === 'closed') return;
  try {
    receive(socket, data, isBinary);
  } catch (err) {
    // Last line of defence: whatever escaped is this connection's problem, not the node's.
    socket.ctx.logger.error({ err, socket: socket.id }, 'frame handling failed');
    socket.sendError(0, new RoomfabricError(ErrorCode.INTERNAL, 'internal error'));
    socket.close(CloseCode.INTERNAL_ERROR, ErrorCode.INTERNAL);
  }
}

function receive(socket: Socket, data: RawData, isBinary: boolean): void {
  socket.alive = true;
  socket.ctx.counters.messagesIn++;
  if (!isBinary) {
    reject(
      socket,
      0,
      new RoomfabricError(ErrorCode.FRAME_TEXT, 'text frames are not part of the protocol', {
        closeCode: CloseCode.UNSUPPORTED_DATA,
      }),
    );
    return;
  }
  const rate = socket.rate;
  const size = Array.isArray(data)
    ? data.reduce((n, b) => n + b.length, 0)
    : (data as Buffer | ArrayBuffer).byteLength;
  if (!rate.takeBytes(size)) {
    limited(socket, 0);
    return;
  }
  const bytes = Array.isArray(data)
    ? Buffer.concat(data)
    : data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : data;
  let values: unknown[];
  try {
    values = decodeValues(bytes, socket.ctx.decoder, socket.ctx.limits.maxFrameDepth);
  } catch (err) {
    reject(socket, 0, asRoomfabricError(socket, err));
    return;
  }
  // A user's sockets, and the node's, share frame budgets: past them, stop reading this
  // socket for a while (its frames wait in its own buffers) rather than refuse anything.
  const wait = socket.ctx.floodGuard.charge(socket.countedUser, values.length);
  if (wait > 0) pause(socket, wait);
  for (const value of values) {
    if (isClosed(socket)) return;
    let frame: ClientFrame;
    try {
      frame = parseClientFrame(value);
    } catch (err) {
      if (!reject(socket, 0, asRoomfabricError(socket, err))) continue;
      return;
    }
    if (socket.state === 'open' && !rate.takeFrame()) {
      // PONGs count too: liveness was recorded above, so a refused one costs nothing.
      if (limited(socket, 'id' in frame ? frame.id : 0)) return;
      continue;
    }
    try {
      handleFrame(socket, frame);
    } catch (err) {
      // No frame may take the process down: a handler's failure is this socket's error.
      socket.sendError('id' in frame ? frame.id : 0, asRoomfabricError(socket, err));
    }
  }
}

/** Stops reading a socket for `ms` (counted once per pause). */
function pause(socket: Socket, ms: number): void {
  if (socket.paused) return;
  socket.paused = true;
  socket.ctx.counters.floodPauses++;
  socket.ws.pause();
  setTimeout(() => {
    socket.paused = false;
    if (socket.state !== 'closed') socket.ws.resume();
  }, ms).unref();
}

/**
 * A frame or message over the socket's allowance: refused with `RF_RATE_LIMITED` (an
 * answer for a request, else one notice a second); a socket sending more than twice its
 * allowance is closed with 1008. Returns true when the connection is being closed.
 */
function limited(socket: Socket, id: number): boolean {
  const ctx = socket.ctx;
  ctx.counters.rateLimited++;
  const err = new RoomfabricError(ErrorCode.RATE_LIMITED, 'too many messages: slow down', {
    temporary: true,
    details: {
      framesPerSecond: ctx.limits.maxFramesPerSecond,
      bytesPerSecond: ctx.limits.maxBytesPerSecond,
    },
  });
  if (socket.rate.abusive) {
    socket.sendError(0, err);
    socket.close(CloseCode.POLICY_VIOLATION, err.code);
    return true;
  }
  if (id !== 0) socket.sendError(id, err);
  else if (socket.rate.shouldNotify()) socket.sendError(0, err);
  return false;
}

function onClose(this: WebSocket, code: number, reason: Buffer): void {
  const socket = sockets.get(this);
  if (!socket) return;
  sockets.delete(this);
  try {
    socket.ctx.closed(socket, { code, reason: reason.toString() });
  } catch (err) {
    socket.ctx.onBackgroundError(err);
  }
}

function onError(this: WebSocket, err: Error): void {
  // `ws` closes the connection after an error (a frame over maxPayload among them: 1009,
  // with an empty reason and before we could say why).
  const socket = sockets.get(this);
  if (!socket) return;
  if ((err as NodeJS.ErrnoException).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    socket.ctx.counters.rejectedFrames++;
    socket.ctx.logger.debug(
      {
        code: ErrorCode.FRAME_TOO_LARGE,
        socket: socket.id,
        limit: socket.ctx.limits.maxFrameBytes,
      },
      'message over maxFrameBytes: closed with 1009',
    );
    return;
  }
  socket.ctx.logger.debug({ err, socket: socket.id }, 'websocket error');
}

function handleFrame(socket: Socket, frame: ClientFrame): void {
  if (socket.state === 'handshaking') {
    if (frame.type !== FrameType.CONNECT || socket.ctx.handshakes.isAuthenticating(socket)) {
      reject(
        socket,
        0,
        new RoomfabricError(
          ErrorCode.HANDSHAKE_REQUIRED,
          'the first frame must be CONNECT, alone, and wait for HELLO',
          {
            closeCode: CloseCode.PROTOCOL_ERROR,
          },
        ),
      );
      return;
    }
    if (frame.version !== PROTOCOL_VERSION) {
      reject(
        socket,
        0,
        new RoomfabricError(
          ErrorCode.PROTOCOL_VERSION,
          `protocol version ${frame.version} is not supported; this node speaks ${PROTOCOL_VERSION}`,
          {
            closeCode: CloseCode.PROTOCOL_VERSION,
          },
        ),
      );
      return;
    }
    socket.handshake.auth = frame.auth;
    socket.connectRecover = frame.recover ?? null;
    socket.ctx.handshakes.authenticate(socket);
    return;
  }
  switch (frame.type) {
    case FrameType.JOIN:
      handleJoinLeave(socket, frame.type, frame.id, frame.room, frame.since ?? null);
      return;
    case FrameType.LEAVE:
      handleJoinLeave(socket, frame.type, frame.id, frame.room, null);
      return;
    case FrameType.EMIT:
      handleEmit(socket, frame);
      return;
    case FrameType.ACK:
      if (!socket.settleAck(frame.id, frame.data)) {
        socket.sendError(
          0,
          new RoomfabricError(ErrorCode.ACK_UNKNOWN, `no pending event with ack id ${frame.id}`, {
            details: { id: frame.id },
          }),
        );
      }
      return;
    case FrameType.PONG:
      return;
    case FrameType.REFRESH:
      socket.ctx.handshakes.refresh(socket, frame.auth).then(
        () => sendAck(socket, frame.id, null),
        (err: unknown) => socket.sendError(frame.id, asRoomfabricError(socket, err)),
      );
      return;
    case FrameType.CONNECT:
      reject(
        socket,
        0,
        new RoomfabricError(ErrorCode.FRAME_INVALID, 'CONNECT after the handshake', {
          closeCode: CloseCode.PROTOCOL_ERROR,
        }),
      );
      return;
  }
}

function handleJoinLeave(
  socket: Socket,
  type: 2 | 3,
  id: number,
  room: string,
  since: RecoverFrom | null,
): void {
  const ctx = socket.ctx;
  try {
    checkJoinLeave(ctx, socket, room, type === FrameType.JOIN);
  } catch (err) {
    socket.sendError(id, asRoomfabricError(socket, err));
    return;
  }
  if (type === FrameType.LEAVE) {
    // The client's own leave: nothing to tell it.
    socket.clientRooms?.delete(room);
    socket.leave(room).then(
      () => sendAck(socket, id, null),
      (err: unknown) => socket.sendError(id, asRoomfabricError(socket, err)),
    );
    return;
  }
  const joined = () => (socket.clientRooms ??= new Set()).add(room);
  if (ctx.history?.covers(room)) {
    joinWithHistory(ctx, socket, id, room, since, joined).catch((err: unknown) =>
      socket.sendError(id, asRoomfabricError(socket, err)),
    );
    return;
  }
  socket.join(room).then(
    () => {
      joined();
      sendAck(socket, id, null);
    },
    (err: unknown) => socket.sendError(id, asRoomfabricError(socket, err)),
  );
}

function handleEmit(socket: Socket, frame: EmitFrame): void {
  const ctx = socket.ctx;
  const { id } = frame;
  try {
    assertEventName(frame.event, ctx.limits.maxEventLength);
  } catch (err) {
    socket.sendError(id, asRoomfabricError(socket, err));
    return;
  }
  if (frame.rooms === null) {
    const ack = id === 0 ? undefined : makeAck(socket, id);
    if (!socket.dispatch(frame.event, frame.data, ack)) {
      ctx.counters.unhandledEvents++;
      if (id !== 0) {
        socket.sendError(
          id,
          new RoomfabricError(ErrorCode.NO_HANDLER, `no handler for "${frame.event}"`),
        );
      }
    }
    return;
  }
  let op: Operator<FabricSocket>;
  try {
    op = clientBroadcast(socket, frame);
  } catch (err) {
    socket.sendError(id, asRoomfabricError(socket, err));
    return;
  }
  const done = op.emit(frame.event, frame.data);
  if (id !== 0) {
    done.then(
      () => sendAck(socket, id, null),
      (err: unknown) => socket.sendError(id, asRoomfabricError(socket, err)),
    );
  }
}

/** Checks a client-originated room broadcast and returns the operator that sends it. */
function clientBroadcast(socket: Socket, frame: EmitFrame): Operator<FabricSocket> {
  const rooms = checkBroadcast(socket.ctx, socket, frame.rooms ?? [], frame.event);
  const op = socket.broadcast.to(rooms);
  return (frame.flags & BroadcastFlag.VOLATILE) !== 0 ? op.volatile : op;
}

function makeAck(socket: Socket, id: number): AckFn {
  const ack = ((response?: unknown) => {
    if (!ack.pending) return;
    ack.pending = false;
    try {
      sendAck(socket, id, response ?? null);
    } catch (err) {
      // The handler answered with something msgpack cannot carry (a function, a cycle).
      socket.ctx.logger.warn({ err, socket: socket.id }, 'ack response cannot be encoded');
      socket.sendError(
        id,
        new RoomfabricError(ErrorCode.HANDLER_FAILED, 'the handler answered with unencodable data'),
      );
    }
  }) as AckFn;
  ack.id = id;
  ack.pending = true;
  return ack;
}

function sendAck(socket: Socket, id: number, data: unknown): void {
  socket.enqueue(encodeServerFrame({ type: FrameType.ACK, id, data }), false);
}

/**
 * Answers a bad frame: an ERROR frame, then a close when the error carries a close code.
 * Returns true when the connection is being closed.
 */
function reject(socket: Socket, id: number, err: RoomfabricError): boolean {
  socket.ctx.counters.rejectedFrames++;
  socket.sendError(id, err);
  if (err.closeCode === undefined) return false;
  socket.close(err.closeCode, err.code);
  return true;
}

function asRoomfabricError(socket: Socket, err: unknown): RoomfabricError {
  if (isRoomfabricError(err)) return err;
  socket.ctx.logger.error({ err, socket: socket.id }, 'unexpected error');
  return new RoomfabricError(ErrorCode.INTERNAL, 'internal error', { cause: err });
}

/** Re-reads the state: handling one frame may have closed the socket. */
function isClosed(socket: Socket): boolean {
  return socket.state === 'closed';
}
