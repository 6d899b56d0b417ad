import type { MovedMember } from '@roomfabric/membership';
import {
  BusMessageType,
  encodeBusMessage,
  ErrorCode,
  RoomfabricError,
  Subject,
  type RaidReport,
} from '@roomfabric/protocol';
import { Fabric } from './fabric.js';

/** Movers per RAID_COMMIT message, so one message stays well under NATS's 1 MiB default. */
const COMMIT_PART_SIZE = 10_000;

/**
 * Moves every member of `from` into `to`, cluster-wide, gap-free (docs/cluster.md, "Raids"):
 * 1. PREPARE each node with members of `from`: it subscribes to `to` and buffers `to`'s
 *    traffic for its movers;
 * 2. move everyone in the index in one atomic step;
 * 3. COMMIT on `from`'s subject, so each node applies it after every earlier message of
 *    `from`: the movers get one MOVED frame, then the buffered and later `to` traffic.
 * Safe to retry with the same `raidId`: the index move runs once, commits are re-sent and
 * nodes ignore commits they applied.
 */
export async function runRaid(
  fabric: Fabric,
  raidId: string,
  from: string,
  to: string,
): Promise<RaidReport> {
  if (from === to) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'a raid needs two different rooms');
  }
  const started = performance.now();
  // Who holds members of `from`: read from the room's own entries, not every member's data.
  const prepareNodes = await fabric.membership.nodesOf(from);
  const prepare = encodeBusMessage({ type: BusMessageType.RAID_PREPARE, raidId, from, to });
  const prepared = await Promise.allSettled(
    prepareNodes.map((n) => fabric.request(Subject.node(n), prepare)),
  );
  prepared.forEach((r, i) => {
    // A node that cannot prepare (dead, or partitioned) still has its sockets moved in the
    // index; its lease will lapse and the purge removes them, or it applies the commit late.
    if (r.status === 'rejected') {
      fabric.logger.warn({ err: r.reason, node: prepareNodes[i], raidId }, 'raid prepare failed');
    }
  });
  const commitStarted = performance.now();
  const result = await fabric.membership.raid(raidId, from, to);
  const commitMs = performance.now() - commitStarted;
  const byNode = Fabric.byNode(result.moved.map((m: MovedMember) => ({ ...m, data: null })));
  const sends: Array<Promise<void>> = [];
  for (const [node, sockets] of byNode) {
    const parts = Math.ceil(sockets.length / COMMIT_PART_SIZE);
    for (let part = 0; part < parts; part++) {
      const payload = encodeBusMessage({
        type: BusMessageType.RAID_COMMIT,
        raidId,
        from,
        to,
        node,
        part,
        parts,
        sockets: sockets.slice(part * COMMIT_PART_SIZE, (part + 1) * COMMIT_PART_SIZE),
      });
      // On `from`'s subject for ordering; on the node's own subject in case the node no
      // longer holds `from` (its last local member left meanwhile).
      sends.push(
        fabric.bus.publish(Subject.room(from), payload),
        fabric.bus.publish(Subject.node(node), payload),
      );
    }
  }
  await Promise.all(sends);
  await fabric.bus.flush();
  return {
    raidId,
    from,
    to,
    moved: result.moved.length,
    nodes: byNode.size,
    commitMs: Math.round(commitMs * 10) / 10,
    totalMs: Math.round((performance.now() - started) * 10) / 10,
    repeated: result.repeated,
  };
}
