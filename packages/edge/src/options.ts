import type { Server as HttpServer } from 'node:http';
import type { Bus, History, HistoryPolicy } from '@roomfabric/bus';
import type { Membership } from '@roomfabric/membership';
import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type { ChannelStore } from '@roomfabric/channels';
import type { Logger } from '@roomfabric/fabric';
import type { JwtAuthOptions } from './jwt-auth.js';
import type { EdgeLimits } from './limits.js';
import type { Socket } from './socket.js';

/**
 * What a client may do on its own, without application code: join rooms and broadcast
 * to rooms it is in. Each rule is a boolean or a synchronous check (decide from
 * `socket.data`, which connect middleware filled in). A client can never join or address
 * a reserved (`$`-prefixed) room, and can only broadcast to rooms it is in.
 */
export interface ClientPolicy {
  join: boolean | ((socket: Socket, room: string) => boolean);
  publish: boolean | ((socket: Socket, rooms: readonly string[], event: string) => boolean);
}

/** `open`: clients may join any room and broadcast to their rooms. `closed`: neither. */
export type ClientPolicyOption = 'open' | 'closed' | Partial<ClientPolicy>;

export interface EdgeOptions {
  /** This node's id, unique in the cluster. Default: `node-` and 8 random hex digits. */
  nodeId?: string;
  /** WebSocket endpoint path. Default `/ws`. */
  path?: string;
  /** Attach to an existing HTTP server instead of calling `listen()`. */
  server?: HttpServer;
  /** Carries broadcasts between nodes. Default: a private `MemoryBus` (embedded mode). */
  bus?: Bus;
  /** The global room index. Default: a private `MemoryMembership` (embedded mode). */
  membership?: Membership;
  /**
   * What clients may do without application code. Default `closed`, or, with `auth`, what
   * each token's `rf` claim allows. With both, a join or publish needs both to allow it.
   */
  policy?: ClientPolicyOption;
  /** JWT auth on connect (see `JwtAuthOptions`); the token's grants become the client policy. */
  auth?: JwtAuthOptions;
  limits?: Partial<EdgeLimits>;
  /** The server pings every this many ms; a silent connection is dropped within 2x. Default 25000. */
  heartbeatMs?: number;
  /** A connection must complete CONNECT and middleware within this many ms. Default 10000. */
  handshakeTimeoutMs?: number;
  /**
   * An HTTP request or WebSocket upgrade must arrive whole and be answered within this
   * many ms, else its socket is cut off (on the edge's own server, `listen()`; for a
   * server of yours, pass it to `hardenHttpServer()`). Default 10000.
   */
  upgradeTimeoutMs?: number;
  /**
   * Who may see room names on `GET /stats` (`busInByRoom`, the node's busiest rooms; names
   * such as `$user:alice@corp.example` identify people). Default: nobody, the counters
   * only. `public: true` shows them to anyone who reaches the port; `token` to requests
   * with `Authorization: Bearer <token>` (at least 16 characters).
   */
  stats?: { public?: boolean; token?: string };
  /**
   * The proxies whose `X-Forwarded-For` names the client, for `maxConnectionsPerAddress`:
   * addresses, CIDR blocks, `loopback`, `private`. Default `['loopback', 'private']`: a load
   * balancer in a private network is believed; a connection from such an address without
   * the header (a local tool, a benchmark) is not capped per address. `[]` counts every
   * peer by its own address.
   */
  trustedProxies?: readonly string[];
  /** Default: JSON lines on standard error at level `warn` (or `RF_LOG_LEVEL`). */
  logger?: Logger;
  /** How often the node renews its lease in the index, ms. Default 1000. */
  leaseIntervalMs?: number;
  /** Lease lifetime, ms: a node silent for this long is purged by the membership service. Default 5000. */
  leaseTtlMs?: number;
  /**
   * Presence rooms (docs/presence.md): room patterns (`*` matches any run of characters,
   * as in token grants) whose members get a `$presence` event `{ kind, user, info }` when a
   * user's first socket joins or their last leaves. Give the membership service the same.
   */
  presence?: { rooms: readonly string[] };
  /**
   * Persistent channels (docs/channels.md): on connect, a socket with a user id joins the
   * room of each channel the user is subscribed to, before HELLO; a connection whose
   * channels cannot be read is refused with `RF_CHANNEL_STORE_UNAVAILABLE` (1011, the SDK
   * reconnects). Default: a `MemoryChannelStore` in embedded mode (no `bus`, no
   * `membership`), else none. On a cluster pass a `KvChannelStore` on the bus's NATS
   * connection, the same bucket as the servers'.
   */
  channels?: ChannelStore;
  /**
   * Rooms that keep history, so that clients that reconnect get what they missed
   * (docs/history.md): policies (kept in JetStream on a `NatsBus`, in the process in
   * embedded mode), or a `History` of your own. Every node and server must use the same.
   */
  history?: readonly HistoryPolicy[] | History;
  /** A reconnecting client missing more than this many events of a room is told `recovered: false`. Default 1000. */
  recoveryLimit?: number;
}

export function resolvePolicy(option: ClientPolicyOption = 'closed'): ClientPolicy {
  if (option === 'open') return { join: true, publish: true };
  if (option === 'closed') return { join: false, publish: false };
  return { join: option.join ?? false, publish: option.publish ?? false };
}

export function positiveMs(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new RoomfabricError(
      ErrorCode.INVALID_ARGUMENT,
      `${name} must be a positive number of ms`,
    );
  }
  return value;
}

/** Checks an optional positive integer option; throws `RF_INVALID_ARGUMENT`. */
export function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `${name} must be a positive integer`);
  }
  return value;
}

/** Checks `EdgeOptions.stats`. */
export function resolveStatsAccess(option: EdgeOptions['stats']): {
  public: boolean;
  token: string | undefined;
} {
  const token = option?.token;
  if (token !== undefined && (typeof token !== 'string' || token.length < 16)) {
    throw new RoomfabricError(
      ErrorCode.INVALID_ARGUMENT,
      'stats.token must be a string of at least 16 characters',
    );
  }
  return { public: option?.public === true, token };
}
