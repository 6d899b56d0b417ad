import type { Bus } from '@roomfabric/bus';
import type { Membership } from '@roomfabric/membership';
import { BusMessageType, encodeBusMessage, Subject } from '@roomfabric/protocol';

export interface PurgeOptions {
  membership: Membership;
  bus: Bus;
  nodeId: string;
  /** Sockets per atomic purge step. */
  batch: number;
  /** Why, in each SOCKET_LEFT event: `node-lost`, `node-restarted`. */
  reason: string;
  /** Called after every step; return true to stop early (shutdown). */
  stop?: () => boolean;
}

/**
 * Removes every socket of a node whose lease is gone, one atomic batch at a time, and
 * publishes one SOCKET_LEFT event per socket on `rf.evt.leave`. A purge of a node holds
 * that node's purge lock in the index, and each purger reports only the sockets it deleted,
 * so concurrent purgers of one node (service replicas, the node itself) never announce a
 * socket twice. Resolves with how many it removed.
 */
export async function purgeNodeSockets(options: PurgeOptions): Promise<number> {
  const { membership, bus, nodeId } = options;
  let removed = 0;
  for (;;) {
    const batch = await membership.purgeNode(nodeId, options.batch);
    if (batch.length === 0) return removed;
    removed += batch.length;
    await Promise.all(
      batch.map((s) =>
        bus.publish(
          Subject.socketLeft,
          encodeBusMessage({
            type: BusMessageType.SOCKET_LEFT,
            socketId: s.socketId,
            nodeId,
            rooms: s.rooms,
            reason: options.reason,
          }),
        ),
      ),
    );
    if (options.stop?.()) return removed;
  }
}
