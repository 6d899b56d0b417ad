/**
 * Which nodes `RedisMembership` lists: the global `rf:nodes` set (nodes with at least one
 * socket) and the live entries of the `rf:leases` ZSET. Owns the one-command-per-turn SADD
 * of the nodes that registered sockets in a turn, and the two ways a node leaves the list
 * without losing a socket or a lease that arrives at the same time: taken out of `rf:nodes`
 * when it emptied, or forgotten (leases too) when a purge emptied it; both read the node's
 * slot afterwards and put back what it says (docs/redis-keys.md).
 */
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { distinct } from './redis-values.js';

/** `rf:nodes` and the lease list of one `RedisMembership`. */
export class NodeIndex {
  /** The `rf:nodes` SADD being gathered in this turn ({@link list}). */
  private listing: { ids: Set<string>; sent: Promise<unknown> } | undefined;

  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  /** Nodes with a live lease or with sockets in the index. */
  async all(): Promise<string[]> {
    const [withSockets, live] = await Promise.all([
      this.redis.cmd((r) => r.smembers(this.keys.nodes())),
      this.redis.script('leases', [this.keys.leases()], ['live']) as Promise<string[]>,
    ]);
    return distinct([...withSockets, ...live]);
  }

  /**
   * SADD `rf:nodes`: the registrations of one turn share one command (its own slot). Sent
   * with the node-slot writes, before the caller resolves, so a node with sockets is listed.
   */
  list(nodeId: string): Promise<unknown> {
    let pending = this.listing;
    if (!pending) {
      const ids = new Set<string>();
      const sent = new Promise<unknown>((resolve, reject) =>
        queueMicrotask(() => {
          this.listing = undefined;
          this.redis.cmd((r) => r.sadd(this.keys.nodes(), ...ids)).then(resolve, reject);
        }),
      );
      pending = this.listing = { ids, sent };
    }
    pending.ids.add(nodeId);
    return pending.sent;
  }

  /** SADD `rf:nodes` of one node now (a re-assert that listed sockets). */
  add(nodeId: string): Promise<number> {
    return this.redis.cmd((r) => r.sadd(this.keys.nodes(), nodeId));
  }

  /** Takes a node out of `rf:nodes`, then puts it back if a socket arrived meanwhile. */
  async forgetIfEmpty(nodeId: string): Promise<void> {
    const node = this.keys.node(nodeId);
    await this.redis.cmd((r) => r.srem(this.keys.nodes(), nodeId));
    const [left] = (await this.redis.script('nodeLease', [node.sockets], [node.base, 'check'])) as [
      number,
      number,
    ];
    if (left > 0) await this.add(nodeId);
  }

  /**
   * Forgets a purged node (no sockets, lease lapsed): out of the leases and `rf:nodes`; then,
   * if it renewed or got a socket meanwhile, back in with what its slot says.
   */
  async forget(nodeId: string): Promise<void> {
    const node = this.keys.node(nodeId);
    await Promise.all([
      this.redis.script('leases', [this.keys.leases()], ['forget', nodeId]),
      this.redis.cmd((r) => r.srem(this.keys.nodes(), nodeId)),
    ]);
    const [left, pttl] = (await this.redis.script(
      'nodeLease',
      [node.sockets],
      [node.base, 'check'],
    )) as [number, number];
    if (left > 0) await this.add(nodeId);
    if (pttl > 0) {
      await this.redis.script('leases', [this.keys.leases()], ['restore', nodeId, pttl]);
    }
  }
}
