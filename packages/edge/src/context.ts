import type { IndexRepairs } from './index-repairs.js';
import type { Decoder } from '@msgpack/msgpack';
import type { Bus, History } from '@roomfabric/bus';
import type { ChannelStore } from '@roomfabric/channels';
import type { Fabric, Logger, OperatorHost, RemoteSocket } from '@roomfabric/fabric';
import type { Membership } from '@roomfabric/membership';
import type { ConnectionLimits } from './connection-limits.js';
import type { FloodGuard } from './flood-guard.js';
import type { HistoryHolds } from './history/holds.js';
import type { EdgeLimits } from './limits.js';
import type { LocalRooms } from './local-rooms.js';
import type { OpeningSockets } from './opening-sockets.js';
import type { Sender } from './sender.js';
import type { DisconnectReason } from './socket-types.js';
import type { EdgeCounters } from './stats.js';

/**
 * The node's shared state, in one object that the edge's modules receive: its settings,
 * services (bus, index, history), counters, local rooms and sockets, and the few calls
 * that cross modules. It is not the public `Edge`, and it names the socket type only as
 * `S` (the edge uses `EdgeContext<Socket>`), so no module needs a module above it: each
 * module takes what it needs from here, and the modules above wire them (node.ts).
 */
export interface EdgeContext<S extends { readonly id: string }> {
  readonly nodeId: string;
  readonly limits: EdgeLimits;
  readonly bus: Bus;
  readonly membership: Membership;
  /** Rooms that keep history (undefined: none do). */
  readonly history: History | undefined;
  /** A reconnecting client missing more than this many events of a room is not recovered. */
  readonly recoveryLimit: number;
  /** Where users' channels are read on connect (undefined: no channels). */
  readonly channelStore: ChannelStore | undefined;
  readonly logger: Logger;
  readonly decoder: Decoder;
  readonly counters: EdgeCounters;
  /** Bus messages received per local room, while the node holds the room. */
  readonly busInByRoom: Map<string, number>;
  /**
   * Set while the node re-asserts its membership: sockets that have not registered yet
   * wait for it, so every socket in the index is either in the snapshot or registered
   * after it (lease.ts).
   */
  indexHold: Promise<void> | undefined;
  /** Recent removals and failed index writes, for re-asserts. */
  readonly indexRepairs: IndexRepairs;
  /** Open sockets, by id. */
  readonly sockets: Map<string, S>;
  /** Sockets between the index and HELLO, reachable by cluster JOIN and LEAVE. */
  readonly opening: OpeningSockets<S>;
  readonly localRooms: LocalRooms<S>;
  /** Who holds which history room's live entries while catching up. */
  readonly holds: HistoryHolds<S>;
  /** The end-of-turn write. */
  readonly sender: Sender;
  readonly floodGuard: FloodGuard;
  readonly connectionLimits: ConnectionLimits;
  readonly fabric: Fabric;
  /** How operators (`edge.to(room)`, `socket.to(room)`) reach the fabric and this node. */
  readonly operatorHost: OperatorHost<S | RemoteSocket>;
  /** The server's PING interval, ms (HELLO `hb`). */
  readonly heartbeatMs: number;
  /** Resolves once the node is started (subscriptions registered, first lease taken). */
  readonly started: Promise<void>;
  /** A background failure: counted, logged, reported on the edge's `error` event. */
  onBackgroundError(err: unknown): void;
  /** The client policy and the token's grants: may `socket` join `room` on its own? */
  mayJoin(socket: S, room: string): boolean;
  /** ... and broadcast `event` to `rooms`? */
  mayPublish(socket: S, rooms: readonly string[], event: string): boolean;
  /**
   * A join made by application code (or the cluster) for an open socket: with history,
   * the client is told its position in each history room (POSITION).
   */
  appJoin(socket: S, rooms: readonly string[]): Promise<void>;
  /** The handshake is done: the socket joins `sockets`, `connection` fires. */
  register(socket: S): void;
  /** The socket's WebSocket closed. */
  closed(socket: S, reason: DisconnectReason): void;
  /** The handshake steps the frame receiver starts (handshake.ts). */
  readonly handshakes: HandshakeSteps<S>;
}

/** What the frame receiver asks of the handshake. */
export interface HandshakeSteps<S> {
  /** True once CONNECT arrived and until the socket is open. */
  isAuthenticating(socket: S): boolean;
  /** After CONNECT: token, middleware, index, then HELLO; or a refusal. */
  authenticate(socket: S): void;
  /** A REFRESH frame's new credentials. */
  refresh(socket: S, auth: unknown): Promise<void>;
}
