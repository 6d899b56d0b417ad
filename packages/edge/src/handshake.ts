import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  CloseCode,
  encodeData,
  encodeServerFrame,
  ErrorCode,
  FrameType,
  isRoomfabricError,
  PROTOCOL_VERSION,
  RoomfabricError,
  roomIdProblem,
  userRoom,
} from '@roomfabric/protocol';
import type { WebSocket } from 'ws';
import { joinChannels } from './channel-join.js';
import type { EdgeContext, HandshakeSteps } from './context.js';
import {
  connectCatchUp,
  holdForConnect,
  releaseConnectHold,
  type ConnectCatchUp,
} from './history/connect.js';
import { bindSocket } from './receiver.js';
import type { AuthGrant, JwtVerifier } from './jwt-auth.js';
import { presenceUser } from './presence.js';
import { Socket, type SocketState } from './socket.js';

/** Connect-time middleware: call `next()` to accept, `next(err)` to refuse (close 4500). */
export type Middleware = (socket: Socket, next: (err?: Error) => void) => void | Promise<void>;

/**
 * From an accepted WebSocket to an open socket: the handshake timeout, the CONNECT frame's
 * token check, connect middleware, registration in the index, then HELLO. Also token
 * refresh and expiry for open sockets.
 */
export class Handshakes implements HandshakeSteps<Socket> {
  /** Sockets accepted but not yet open. */
  readonly pending = new Set<Socket>();
  readonly middlewares: Middleware[] = [];
  private readonly authenticating = new WeakSet<Socket>();

  constructor(
    private readonly ctx: EdgeContext<Socket>,
    private readonly jwt: JwtVerifier | undefined,
    private readonly timeoutMs: number,
  ) {}

  /** A new WebSocket: it has `timeoutMs` to complete CONNECT and middleware. */
  accept(ws: WebSocket, req: IncomingMessage): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const socket = new Socket(
      randomBytes(12).toString('base64url'),
      {
        auth: null,
        headers: req.headers,
        query: Object.fromEntries(url.searchParams),
        url: req.url ?? '/',
        address: req.socket.remoteAddress ?? '',
        time: Date.now(),
      },
      ws,
      this.ctx,
    );
    this.pending.add(socket);
    socket.handshakeTimer = setTimeout(() => {
      const err = new RoomfabricError(
        ErrorCode.HANDSHAKE_TIMEOUT,
        'no completed handshake in time',
      );
      socket.sendError(0, err);
      socket.close(CloseCode.HANDSHAKE_TIMEOUT, err.code);
    }, this.timeoutMs);
    bindSocket(ws, socket);
  }

  /** True once CONNECT arrived and until the socket is open. */
  isAuthenticating(socket: Socket): boolean {
    return this.authenticating.has(socket);
  }

  /** After CONNECT: token, middleware, index, then HELLO; or a refusal with its code. */
  authenticate(socket: Socket): void {
    const ctx = this.ctx;
    this.authenticating.add(socket);
    const verified = this.jwt
      ? this.jwt.verify(socket.handshake.auth).then((grant) => this.applyGrant(socket, grant))
      : Promise.resolve();
    verified
      .then(() => this.runMiddleware(socket))
      .then(
        async () => {
          await ctx.started;
          // Not while a re-assert runs (it would take this socket for a stale one).
          while (ctx.indexHold) await ctx.indexHold;
          if (socket.state === 'closed' || socket.closing) return;
          // What middleware stored must reach the index: a value msgpack cannot carry is
          // the application's bug, refused here instead of failing in the index as if
          // Redis were down (which the client would retry for ever).
          try {
            encodeData(socket.data, 'socket.data');
          } catch (err) {
            ctx.onBackgroundError(err);
            const failed = new RoomfabricError(ErrorCode.INTERNAL, 'internal error');
            socket.sendError(0, failed);
            socket.close(CloseCode.INTERNAL_ERROR, failed.code);
            return;
          }
          const user = presenceUser(socket.data);
          if (user !== undefined) {
            if (!ctx.connectionLimits.addUser(user)) {
              ctx.counters.connectionsRefused++;
              const max = ctx.limits.maxConnectionsPerUser;
              const err = new RoomfabricError(
                ErrorCode.CONNECTION_LIMIT,
                `this user already has ${max} connections on this node`,
                { temporary: true, details: { limit: max } },
              );
              socket.sendError(0, err);
              socket.close(CloseCode.POLICY_VIOLATION, err.code);
              return;
            }
            socket.countedUser = user;
            ctx.floodGuard.addUser(user);
          }
          socket.registered = true;
          await ctx.membership
            .addSocket({
              socketId: socket.id,
              nodeId: ctx.nodeId,
              user: presenceUser(socket.data),
              data: socket.data,
            })
            .catch((err: unknown) => {
              // It may still land: a repair removes it if the socket is gone by then.
              ctx.indexRepairs.failed(socket.id, []);
              throw err;
            });
          // The client may have gone (or been refused) while the index was written.
          if ((socket.state as SocketState) === 'closed' || socket.closing) {
            await ctx.membership.removeSocket(socket.id);
            return;
          }
          await this.open(socket);
        },
        (err: unknown) => {
          const refused = isRoomfabricError(err)
            ? err
            : new RoomfabricError(
                ErrorCode.UNAUTHORIZED,
                err instanceof Error && err.message ? err.message : 'connection refused',
              );
          socket.sendError(0, refused);
          socket.close(refused.closeCode ?? CloseCode.UNAUTHORIZED, refused.code);
        },
      )
      .catch((err: unknown) => {
        ctx.onBackgroundError(err);
        const failed = new RoomfabricError(
          ErrorCode.MEMBERSHIP_UNAVAILABLE,
          'cannot register the connection',
          {
            temporary: true,
          },
        );
        socket.sendError(0, failed);
        socket.close(CloseCode.INTERNAL_ERROR, failed.code);
      });
  }

  /**
   * A REFRESH frame: verifies the new token (same user), takes its grants and expiry.
   * Without JWT auth there is nothing to refresh.
   */
  async refresh(socket: Socket, auth: unknown): Promise<void> {
    if (!this.jwt) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        'this node has no token auth to refresh',
      );
    }
    const grant = await this.jwt.verify(auth);
    if (grant.user !== socket.grant?.user) {
      throw new RoomfabricError(
        ErrorCode.UNAUTHORIZED,
        'a refreshed token must be for the same user',
      );
    }
    if (!socket.connected) return;
    this.applyGrant(socket, grant);
    // The new token may allow less: the rooms the client joined on its own are checked
    // again, and it leaves (told with LEFT, RF_FORBIDDEN) those no longer allowed.
    const lost = [...(socket.clientRooms ?? [])].filter((r) => !this.ctx.mayJoin(socket, r));
    if (lost.length > 0) {
      await socket.leaveTelling(
        lost,
        ErrorCode.FORBIDDEN,
        'the refreshed token does not allow this room',
      );
    }
  }

  /** Takes a verified token's grants and closes the socket with 4002 when it expires. */
  private applyGrant(socket: Socket, grant: AuthGrant): void {
    socket.grant = grant;
    socket.data.user = grant.user;
    // Presence metadata; read by the index at connect (a refresh changes it locally only).
    if (grant.info !== undefined) socket.data.info = grant.info;
    clearTimeout(socket.authTimer);
    if (grant.expiresAt === undefined) return;
    // setTimeout holds at most 2^31-1 ms (~24.8 days); a later expiry is re-armed then.
    const delay = Math.min(Math.max(0, grant.expiresAt - Date.now()), 0x7fffffff);
    socket.authTimer = setTimeout(() => {
      if (grant.expiresAt! > Date.now() + 1000) return this.applyGrant(socket, grant);
      const err = new RoomfabricError(
        ErrorCode.TOKEN_EXPIRED,
        'the token has expired; refresh it or reconnect',
      );
      socket.sendError(0, err);
      socket.close(CloseCode.TOKEN_EXPIRED, err.code);
    }, delay);
    socket.authTimer.unref();
  }

  private async runMiddleware(socket: Socket): Promise<void> {
    for (const middleware of this.middlewares) {
      await new Promise<void>((resolve, reject) => {
        const next = (err?: Error) => (err ? reject(err) : resolve());
        try {
          const result = middleware(socket, next);
          if (result instanceof Promise) result.catch(reject);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    }
  }

  private async open(socket: Socket): Promise<void> {
    const ctx = this.ctx;
    this.authenticating.delete(socket);
    clearTimeout(socket.handshakeTimer);
    socket.handshakeTimer = undefined;
    socket.state = 'open';
    // Until it is registered the socket stays in `pending` (closed on shutdown, re-asserted
    // with the lease), and cluster JOIN/LEAVE reach it through `ctx.opening`.
    ctx.opening.add(socket);
    holdForConnect(ctx, socket);
    let catchUp: ConnectCatchUp | undefined;
    try {
      // An authenticated user's sockets share a personal room, joined before HELLO so that
      // an emit to the user right after the connection reaches this socket too. Then the
      // user's channels, read after that join: a subscribe either is in that read or finds
      // the socket through the personal room (docs/channels.md, "Ordering").
      const user = socket.data.user;
      if (typeof user === 'string' && user.length > 0) {
        const room = userRoom(user);
        if (roomIdProblem(room, ctx.limits.maxRoomLength) === undefined) {
          await socket.join(room);
          if ((socket.state as SocketState) !== 'open') return;
          if (!(await joinChannels(ctx, socket, user))) return;
        }
      }
      catchUp = await connectCatchUp(ctx, socket, socket.connectRecover);
      socket.connectRecover = null;
      if ((socket.state as SocketState) !== 'open') {
        releaseConnectHold(ctx, socket);
        return;
      }
    } finally {
      // Synchronously up to register(): no control request can fall in between.
      ctx.opening.delete(socket);
      if (!catchUp) releaseConnectHold(ctx, socket);
    }
    this.pending.delete(socket);
    socket.enqueue(
      encodeServerFrame({
        type: FrameType.HELLO,
        version: PROTOCOL_VERSION,
        socketId: socket.id,
        nodeId: ctx.nodeId,
        heartbeatMs: ctx.heartbeatMs,
        maxFrameBytes: ctx.limits.maxFrameBytes,
        maxRoomsPerSocket: ctx.limits.maxRoomsPerSocket,
        maxFrameDepth: ctx.limits.maxFrameDepth,
        rooms: catchUp.rooms,
      }),
      false,
    );
    for (const frame of catchUp.frames) socket.enqueue(frame, false);
    for (const frame of releaseConnectHold(ctx, socket, catchUp)) socket.enqueue(frame, false);
    ctx.register(socket);
  }
}
