/** One socket as the global index knows it. */
export interface MemberInfo {
  socketId: string;
  nodeId: string;
  /**
   * Who the socket belongs to, for presence (`socket.data.user` on an edge). Sockets of one
   * user count as one in {@link Membership.presenceStats}; a socket without one is
   * anonymous: a member of its rooms, but not part of their presence.
   */
  user?: string;
  /** `socket.data` as it was when the socket connected (msgpack-serialisable). */
  data: unknown;
}

/**
 * A room's lifecycle: `occupied` when it gets its first member anywhere in the cluster,
 * `vacated` when it loses its last. Decided atomically with the change that caused it, so
 * two nodes joining at once give exactly one `occupied`.
 */
export interface RoomEvent {
  room: string;
  kind: 'occupied' | 'vacated';
}

/**
 * A user's presence in a room changed: `join` when the user's first socket entered the
 * room (their count went 0 -> 1), `leave` when their last socket left it (1 -> 0). A user
 * with three tabs in a room gives one `join` and, once all three left, one `leave`.
 * Decided atomically with the change that caused it, like {@link RoomEvent}.
 */
export interface PresenceEvent {
  room: string;
  kind: 'join' | 'leave';
  user: string;
  /** The socket whose arrival or departure made the transition (for a raid: one of the user's). */
  socketId: string;
  /** That socket's `data`. */
  data: unknown;
}

/** One socket of a user in a room, as {@link Membership.presence} lists it. */
export interface PresenceMember {
  socketId: string;
  nodeId: string;
  user: string;
  data: unknown;
}

/** Sizes of a room: its sockets (anonymous ones included) and its distinct users. */
export interface PresenceStats {
  sockets: number;
  users: number;
}

/** A socket removed by a purge, with the rooms it was taken out of. */
export interface PurgedSocket {
  socketId: string;
  rooms: string[];
}

/** A socket moved by a raid. */
export interface MovedMember {
  socketId: string;
  nodeId: string;
}

export interface RaidResult {
  /**
   * Every socket moved from `from` to `to`: all of `from`'s members at the instant of the
   * move (for `RedisMembership` with rooms of two slots: at the raid's first step).
   */
  moved: MovedMember[];
  /** True when this raid id had already run: `moved` is then the earlier run's result. */
  repeated: boolean;
}

/** A node's whole local truth, for {@link Membership.reassert}. */
export interface NodeSnapshotSocket {
  socketId: string;
  /** The socket's presence identity (see {@link MemberInfo.user}). */
  user?: string;
  data: unknown;
  rooms: string[];
}

/** How {@link Membership.reassert} treats what the snapshot does not say. */
export interface ReassertOptions {
  /** Write only the listed sockets; the node's other sockets are left as they are. */
  only?: boolean;
  /**
   * Room entries to take out where they still name this node: rooms its sockets (listed
   * or gone) left recently, or whose writes failed. An index that lost recent writes (a
   * failover to a replica the write had not reached) or a write that lands after it timed
   * out can list a socket in such a room while the node's reverse index does not, so the
   * rest of a re-assert cannot find the entry. A pair whose room the snapshot lists for
   * its socket is ignored.
   */
  scrub?: readonly { socketId: string; room: string }[];
}

/**
 * The global two-way index: room -> members and socket -> rooms, plus socket -> node and
 * node leases. `MemoryMembership` in one process, `RedisMembership` across machines.
 * Every method may go remote and returns a Promise; every change is atomic (a reader never
 * sees half of it) and idempotent, so a caller may retry it after a failure. Failures of
 * the backing store reject with `RF_MEMBERSHIP_UNAVAILABLE` (temporary).
 */
export interface Membership {
  /** Registers a connected socket on a node. Idempotent. */
  addSocket(member: MemberInfo): Promise<void>;
  /**
   * Removes a socket and takes it out of every room it was in, in one step.
   * Resolves with the rooms it left (empty when the socket was unknown).
   */
  removeSocket(socketId: string): Promise<string[]>;
  /**
   * Adds a registered socket to rooms. Resolves with the rooms it was not in before.
   * Rejects with `RF_INVALID_ARGUMENT` for a socket that was never added.
   */
  join(socketId: string, rooms: readonly string[]): Promise<string[]>;
  /** Takes a socket out of rooms. Resolves with the rooms it was in. */
  leave(socketId: string, rooms: readonly string[]): Promise<string[]>;
  /** Members of a room, in no particular order. */
  members(room: string): Promise<MemberInfo[]>;
  /** How many sockets are in a room. O(1). */
  count(room: string): Promise<number>;
  /**
   * The nodes that hold at least one member of a room, in no particular order: who a raid
   * must prepare. O(members) in the store, but no member's info or data is read.
   */
  nodesOf(room: string): Promise<string[]>;
  /**
   * The sockets of a room that have a user (anonymous ones are left out), with their
   * user, node and data, O(members of the room). The members are one read of the room; for
   * `RedisMembership` their data is then read from their nodes, and a member that left in
   * between is left out.
   */
  presence(room: string): Promise<PresenceMember[]>;
  /** Sockets and distinct users in a room. O(1): two hash lengths, read together. */
  presenceStats(room: string): Promise<PresenceStats>;
  /** Rooms a socket is in (empty for an unknown socket). */
  roomsOf(socketId: string): Promise<string[]>;
  /** The socket, or undefined when it is not registered. */
  socket(socketId: string): Promise<MemberInfo | undefined>;
  /** Ids of the sockets registered on a node. */
  socketsOf(nodeId: string): Promise<string[]>;
  /** Nodes that hold a lease or have sockets in the index. */
  nodes(): Promise<string[]>;
  /** Cluster-wide totals. */
  totals(): Promise<{ sockets: number; nodes: number }>;

  /**
   * Renews a node's lease for `ttlMs`. Resolves true when the lease was still alive, false
   * when it had lapsed or never existed (first start, lease expired, or the store lost its
   * data) or when the store may have lost recent writes since this instance's last
   * renewal (`RedisMembership`: a Redis Cluster failover, a Redis restart), or while a
   * purge of the node's sockets runs and at the first renewal after it (a purge that began
   * while the lease had lapsed can remove what a re-assert just wrote): the node must then
   * {@link reassert} its membership.
   */
  renewLease(nodeId: string, ttlMs: number): Promise<boolean>;
  /** Drops a node's lease at once (graceful shutdown, after its sockets were removed). */
  dropLease(nodeId: string): Promise<void>;
  /** Nodes whose lease has lapsed and whose sockets may still be in the index. */
  expiredNodes(): Promise<string[]>;
  /**
   * Removes up to `batch` sockets of a node whose lease has lapsed, each leaving every room
   * in one step. Resolves with what it removed; call again until it resolves empty. Returns
   * empty at once (removing nothing) if the node renewed its lease meanwhile. When the node
   * has no sockets left, it is forgotten (no longer in {@link expiredNodes}).
   */
  purgeNode(nodeId: string, batch?: number): Promise<PurgedSocket[]>;
  /**
   * Makes the index match a node's local truth: its sockets with their data and rooms,
   * exactly (sockets of the node missing from the list are removed, unless
   * `options.only`). Used after the store lost data or the node's lease lapsed, and for
   * sockets whose writes failed (their outcome is unknown).
   */
  reassert(
    nodeId: string,
    sockets: readonly NodeSnapshotSocket[],
    options?: ReassertOptions,
  ): Promise<void>;
  /**
   * Moves every member of `from` into `to` in one atomic step: a concurrent reader sees all
   * of them in `from` or all in `to`. Idempotent per `raidId` (a retry of a raid that failed
   * half way completes it). For `RedisMembership` this holds for rooms of one hash slot
   * (their ids share a `{tag}`); for rooms of two slots each room changes in one step, `to`
   * first, so a reader never sees a mover in neither room but may see it in both for the
   * duration of the raid (docs/redis-keys.md, "Raids").
   */
  raid(raidId: string, from: string, to: string): Promise<RaidResult>;

  /**
   * Hears the room lifecycle events of the changes this instance makes (joins, leaves,
   * removals, purges, re-asserts, raids), each decided atomically with its change. Every
   * change runs in exactly one instance, so each event is heard once. Returns a function
   * that stops listening.
   */
  onRoomEvent(listener: (event: RoomEvent) => void): () => void;

  /**
   * Hears the presence transitions (a user's first socket into a room, their last out of
   * it) of the changes this instance makes, each decided atomically with its change, like
   * {@link onRoomEvent}: concurrent joins of one user through two instances give one
   * `join`. Returns a function that stops listening.
   */
  onPresence(listener: (event: PresenceEvent) => void): () => void;

  /** Releases connections. The instance is unusable afterwards. */
  close(): Promise<void>;
}
