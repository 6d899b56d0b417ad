/**
 * Reading `CLUSTER NODES`: its lines ({@link clusterNodes}) and the slot view every node
 * must agree on ({@link slotView}).
 */
import type { RespValue } from './resp.js';

/** Slot ranges with the port of the primary serving each; what the nodes must agree on. */
export type SlotView = {
  start: number;
  end: number;
  primaryPort: number;
  replicaPorts: number[];
}[];

/** One line of `CLUSTER NODES`. */
interface NodeEntry {
  id: string;
  port: number;
  flags: string;
  /** Id of the primary of a replica; `-` for a primary. */
  primaryId: string;
  /** Slot ranges served, `[start, end]`. */
  slots: [number, number][];
}

/**
 * `CLUSTER NODES`: `<id> <ip:port@bus[,hostname]> <flags> <primary> <ping> <pong> <epoch>
 * <link> <slot> <slot> ...`, a slot being `a-b` or `a` (`[...]` entries are migrations).
 */
export function clusterNodes(reply: RespValue): NodeEntry[] {
  return String(reply)
    .trim()
    .split('\n')
    .map((line) => {
      const [id = '', address = '', flags = '', primaryId = '', ...rest] = line.trim().split(' ');
      const slots = rest
        .slice(4)
        .filter((token) => !token.startsWith('['))
        .map((token) => {
          const [start, end = start] = token.split('-').map(Number) as [number, number?];
          return [start, end] as [number, number];
        });
      const port = Number(address.split('@')[0]?.split(':').pop());
      return { id, port, flags, primaryId, slots };
    });
}

/**
 * Slot ranges, sorted, each with the port of its primary and of its replicas that are not
 * marked failed: what {@link RedisCluster.waitHealthy} asks every node to agree on.
 */
export function slotView(entries: readonly NodeEntry[]): SlotView {
  const view: SlotView = [];
  for (const primary of entries) {
    const replicaPorts = entries
      .filter((each) => each.primaryId === primary.id && !each.flags.includes('fail'))
      .map((each) => each.port)
      .sort((a, b) => a - b);
    for (const [start, end] of primary.slots) {
      view.push({ start, end, primaryPort: primary.port, replicaPorts });
    }
  }
  return view.sort((a, b) => a.start - b.start);
}
