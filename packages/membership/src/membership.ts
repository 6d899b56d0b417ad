/** One socket as the global index knows it. */
export interface MemberInfo {
  socketId: string;
  nodeId: string;
  /** `socket.data` as it was when the socket connected (msgpack-serialisable). */
  data: unknown;
}

/**
 * The global two-way index: room -> members and socket -> rooms, plus socket -> node.
 * `MemoryMembership` in one process, `RedisMembership` across machines. Every method may
 * go remote and returns a Promise; every change is atomic (a reader never sees half of
 * it) and idempotent, so a caller may retry it after a failure.
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
  /** How many sockets are in a room. */
  count(room: string): Promise<number>;
  /** Rooms a socket is in (empty for an unknown socket). */
  roomsOf(socketId: string): Promise<string[]>;
  /** The socket, or undefined when it is not registered. */
  socket(socketId: string): Promise<MemberInfo | undefined>;
  /** Releases connections. The instance is unusable afterwards. */
  close(): Promise<void>;
}
