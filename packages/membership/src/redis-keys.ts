/**
 * Key names of the Redis index (documented in `docs/redis-keys.md`). The Lua prelude in
 * `redis-scripts.ts` builds the same names; the two must stay in step.
 *
 * Every id (room, socket, node, raid) is escaped before it goes into a key: `%` -> `%25`,
 * `{` -> `%7B`, `}` -> `%7D`. The mapping is injective, and an escaped id holds no brace,
 * so the `{...}` of each key is its only hash tag and a room named `{x}` can neither move
 * the tag nor collide with another key. Everything else (`:`, spaces, unicode) is kept,
 * so keys stay readable in `redis-cli`.
 */

const escapes: Readonly<Record<string, string>> = { '%': '%25', '{': '%7B', '}': '%7D' };

/** Escapes an id for use inside a key name (see the module comment). */
export function escapeKeyId(id: string): string {
  return id.replace(/[%{}]/g, (c) => escapes[c] ?? c);
}

/** Undoes {@link escapeKeyId}. */
export function unescapeKeyId(escaped: string): string {
  return escaped.replace(/%(25|7B|7D)/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

/** Builds the key names of one index under a prefix (default `rf`). */
export class RedisKeys {
  constructor(readonly prefix: string) {
    if (/[{}]/.test(prefix)) throw new Error('the key prefix must not contain { or }');
  }

  /** HASH socket id -> node id: the members of a room, with where each one lives. */
  room(room: string): string {
    return `${this.prefix}:{r:${escapeKeyId(room)}}:m`;
  }

  /**
   * HASH user -> how many of that user's sockets are in the room (presence). Same hash tag
   * as {@link room}, so both live in one slot.
   */
  roomUsers(room: string): string {
    return `${this.prefix}:{r:${escapeKeyId(room)}}:u`;
  }

  /** SET of the rooms a socket is in. */
  socketRooms(socketId: string): string {
    return `${this.prefix}:{s:${escapeKeyId(socketId)}}:r`;
  }

  /** HASH `n` (node id), `d` (msgpack of `data`, empty for undefined), `u` (user, if any). */
  socketInfo(socketId: string): string {
    return `${this.prefix}:{s:${escapeKeyId(socketId)}}:i`;
  }

  /** SET of the socket ids registered on a node. */
  nodeSockets(nodeId: string): string {
    return `${this.prefix}:{n:${escapeKeyId(nodeId)}}:s`;
  }

  /** STRING with a PX TTL; exists while the node's lease is alive. */
  lease(nodeId: string): string {
    return `${this.prefix}:{n:${escapeKeyId(nodeId)}}:l`;
  }

  /** ZSET node id -> lease deadline (ms, Redis clock). A node leaves it when forgotten. */
  leases(): string {
    return `${this.prefix}:leases`;
  }

  /** SET of the node ids that have at least one registered socket. */
  nodes(): string {
    return `${this.prefix}:nodes`;
  }

  /** STRING (msgpack of the moved pairs) kept for an hour, so a raid id runs once. */
  raid(raidId: string): string {
    return `${this.prefix}:raid:${escapeKeyId(raidId)}`;
  }
}
