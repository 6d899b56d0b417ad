import { ErrorCode, resolveLimits, RoomfabricError, type Limits } from '@roomfabric/protocol';

export interface EdgeLimits extends Limits {
  /** Above this many buffered outbound bytes, volatile messages to a socket are dropped. */
  volatileBufferBytes: number;
  /** Above this many buffered outbound bytes, a socket is closed with 3008 (slow consumer). */
  maxBufferedBytes: number;
  /** Frames a client may send per second (burst: one second's worth). Over it: `RF_RATE_LIMITED`. */
  maxFramesPerSecond: number;
  /** Bytes a client may send per second (burst: one second's worth). */
  maxBytesPerSecond: number;
  /**
   * Frames all sockets of one user on this node may send per second together (0: no
   * budget). Over it the node stops reading that user's sockets until the budget has room
   * (TCP backpressure, nothing refused): 500 sockets each under `maxFramesPerSecond`
   * cannot take the event loop from other users.
   */
  maxFramesPerSecondPerUser: number;
  /**
   * Frames all clients of this node may send per second together (0: no budget). Over it
   * the node stops reading the socket that hit the budget for the time it takes to refill,
   * so heavy senders slow down first and the lease renewal and heartbeats keep running.
   */
  maxFramesPerSecondPerNode: number;
  /** Connections this node holds at most. Past it an upgrade gets HTTP 503 (try another node). */
  maxConnections: number;
  /**
   * Connections from one client address at most (0: no cap); past it HTTP 429. The
   * address is the peer's, or, from a trusted proxy, the client its `X-Forwarded-For`
   * names (`EdgeOptions.trustedProxies`).
   */
  maxConnectionsPerAddress: number;
  /**
   * Connections of one user on this node at most (0: no cap); past it the CONNECT is
   * refused with `RF_CONNECTION_LIMIT` and close 1008.
   */
  maxConnectionsPerUser: number;
}

export const DEFAULT_EDGE_LIMITS = {
  volatileBufferBytes: 256 * 1024,
  maxBufferedBytes: 8 * 1024 * 1024,
  maxFramesPerSecond: 200,
  maxBytesPerSecond: 1024 * 1024,
  maxFramesPerSecondPerUser: 1000,
  maxFramesPerSecondPerNode: 50_000,
  maxConnections: 100_000,
  maxConnectionsPerAddress: 1000,
  maxConnectionsPerUser: 100,
} as const;

type EdgeOnlyLimit = keyof typeof DEFAULT_EDGE_LIMITS;

export function resolveEdgeLimits(partial: Partial<EdgeLimits> = {}): EdgeLimits {
  if (partial === null || typeof partial !== 'object') {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'limits must be an object');
  }
  const protocol: Partial<Limits> = {};
  const edge = { ...DEFAULT_EDGE_LIMITS } as Record<EdgeOnlyLimit, number>;
  for (const [key, value] of Object.entries(partial)) {
    if (value === undefined) continue;
    if (key in DEFAULT_EDGE_LIMITS) edge[key as EdgeOnlyLimit] = value;
    else (protocol as Record<string, number>)[key] = value;
  }
  for (const key of Object.keys(edge) as EdgeOnlyLimit[]) {
    const min = key === 'maxConnections' ? 1 : 0;
    if (!Number.isSafeInteger(edge[key]) || edge[key] < min) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        `limit ${key} must be an integer >= ${min}, got ${String(edge[key])}`,
      );
    }
  }
  return { ...resolveLimits(protocol), ...edge };
}
