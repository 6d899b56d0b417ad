/**
 * What the modules of `RedisMembership` share, passed to each as one context object (the
 * raid steps of `redis-raid.ts` take the same object as their `RaidContext`): the
 * connection, key builders, the per-turn batcher, the node index, the sockets this instance
 * registered, and the event reporting of the public class. Also the few checks and reads
 * every module of it needs: a node id's validity and a socket's pointer to its node.
 */
import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type { RedisConnection } from './redis-connection.js';
import type { NodeIndex } from './redis-node-index.js';
import type { RaidContext } from './redis-raid.js';

/** A socket this instance registered: the edge that owns it is the only writer of its rooms. */
export interface OwnSocket {
  nodeId: string;
  data: unknown;
}

/** A socket of a node being removed: what its node slot said about it. */
export interface Leaving {
  socketId: string;
  data: unknown;
  rooms: string[];
}

/** The state of one `RedisMembership` that its modules share. */
export interface MembershipContext extends RaidContext {
  redis: RedisConnection;
  /** `rf:nodes` and the lease list. */
  nodes: NodeIndex;
  /** Sockets registered through this instance (removed on removeSocket and purge). */
  own: Map<string, OwnSocket>;
  /** Sockets per step in `reassert`. */
  reassertChunk: number;
  /**
   * node -> its lease as this instance last renewed it: the lease's value as this instance
   * created or last saw it, and whether that renewal found a purge of the node running.
   */
  leases: Map<string, { id: string; purging: boolean }>;
}

/** Node ids go into member values before a NUL, so they must not hold one. */
export function checkNodeId(nodeId: string): void {
  if (nodeId.includes('\0')) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'a node id must not contain NUL', {
      details: { nodeId },
    });
  }
}

/** The socket's pointer: the node it is registered on, or null. */
export function pointer(ctx: MembershipContext, socketId: string): Promise<string | null> {
  return ctx.redis.cmd((r) => r.get(ctx.keys.pointer(socketId)));
}
