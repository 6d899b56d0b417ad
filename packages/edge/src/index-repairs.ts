/**
 * What this node's sockets left recently, and which of their index writes failed, so that
 * a re-assert can take out room entries the index may hold by mistake. Two ways the index
 * ends up listing a socket in a room it left, with the node's reverse index not listing
 * the room (so the rest of a re-assert cannot find the entry):
 *
 * - a failover to a replica that had not received the leave yet (Redis replicates
 *   asynchronously): the room slot lost the leave, the node slot kept it;
 * - a write that failed by timing out may still land later (the Redis client re-sends it
 *   to the new primary after a failover), after the leave that undid it locally.
 *
 * Removals are kept for {@link REMOVALS_KEPT_MS} and given to every full re-assert as its
 * scrub list. A socket with a failed write is also re-asserted alone after each
 * successful lease renewal until {@link SUSPECT_MS} passed since its last failure
 * (docs/redis-keys.md, "After a failover").
 */

/** How long a removal is remembered: a failover plus the renewal that notices it. */
export const REMOVALS_KEPT_MS = 60_000;
/** How long after a failed write a socket is re-asserted at each renewal. */
export const SUSPECT_MS = 10_000;

export interface ScrubPair {
  socketId: string;
  room: string;
}

export class IndexRepairs {
  /** `socket NUL room` -> the pair and when it was removed (or failed). Oldest first. */
  private readonly removed = new Map<string, ScrubPair & { at: number }>();
  /** socket -> time of its last failed write. */
  private readonly suspects = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The socket left these rooms (a leave, a raid's `from`, its close). */
  left(socketId: string, rooms: Iterable<string>): void {
    const at = this.now();
    for (const room of rooms) {
      const key = `${socketId}\0${room}`;
      this.removed.delete(key); // re-inserted last: the map stays ordered by time
      this.removed.set(key, { socketId, room, at });
    }
    this.prune();
  }

  /**
   * A write of these rooms failed, so its outcome is unknown: the rooms count as left
   * (when the socket holds them locally, a re-assert keeps them) and the socket is a
   * suspect.
   */
  failed(socketId: string, rooms: Iterable<string>): void {
    this.left(socketId, rooms);
    this.suspects.set(socketId, this.now());
  }

  /** Sockets with a failed write that {@link repaired} has not forgotten yet. */
  suspectIds(): string[] {
    return [...this.suspects.keys()];
  }

  /**
   * After a successful repair of `socketIds` started at `since`: forgets the ones whose
   * last failure is older than {@link SUSPECT_MS} and did not fail again after `since`.
   */
  repaired(socketIds: readonly string[], since: number): void {
    const now = this.now();
    for (const id of socketIds) {
      const at = this.suspects.get(id);
      if (at !== undefined && at < since && now - at > SUSPECT_MS) this.suspects.delete(id);
    }
  }

  /** The remembered removals of these sockets (all of them when undefined), oldest first. */
  scrub(socketIds?: readonly string[]): ScrubPair[] {
    this.prune();
    const only = socketIds && new Set(socketIds);
    const out: ScrubPair[] = [];
    for (const { socketId, room } of this.removed.values()) {
      if (!only || only.has(socketId)) out.push({ socketId, room });
    }
    return out;
  }

  /** Drops removals older than {@link REMOVALS_KEPT_MS}. */
  prune(): void {
    const oldest = this.now() - REMOVALS_KEPT_MS;
    for (const [key, { at }] of this.removed) {
      if (at >= oldest) break;
      this.removed.delete(key);
    }
  }

  /** Remembered removals. */
  get size(): number {
    return this.removed.size;
  }
}
