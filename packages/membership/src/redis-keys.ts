/**
 * Key names of the Redis index (documented in `docs/redis-keys.md`) and the hash slot each
 * one lands in. Every script of `redis-scripts.ts` touches the keys of exactly one slot:
 * a room slot ({@link RoomKeys}), a node slot ({@link NodeKeys}), a socket pointer, or one
 * of the two global keys. The node script builds its per-socket keys in Lua from
 * {@link NodeKeys.base} with the same escaping as here; the two must stay in step.
 *
 * Every id (room, socket, node, raid) is escaped before it goes into a key: `%` -> `%25`,
 * `{` -> `%7B`, `}` -> `%7D` (raid ids also `:` -> `%3A`). The mapping is injective, and an
 * escaped id holds no brace, so the `{...}` written by a builder is its key's only hash tag
 * and a room named `{x}` can neither move the tag nor collide with another key. Everything
 * else (`:`, spaces, unicode) is kept, so keys stay readable in `redis-cli`.
 */

const escapes: Readonly<Record<string, string>> = { '%': '%25', '{': '%7B', '}': '%7D' };

/** Escapes an id for use inside a key name (see the module comment). */
export function escapeKeyId(id: string): string {
  return id.replace(/[%{}]/g, (c) => escapes[c] ?? c);
}

/**
 * Escapes a raid id: like {@link escapeKeyId}, and `:` -> `%3A`, so that in
 * `...:raid:<room>:<id>` the last `:` always separates the room from the id.
 */
export function escapeRaidId(id: string): string {
  return escapeKeyId(id).replace(/:/g, '%3A');
}

/** Undoes {@link escapeKeyId} and {@link escapeRaidId}. */
export function unescapeKeyId(escaped: string): string {
  return escaped.replace(/%(25|7B|7D|3A)/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

/**
 * The hash tag of a name by Redis Cluster's own rule: the text between the first `{` and
 * the first `}` after it, when that text is not empty; otherwise none (the whole name is
 * hashed). `{guild:7}general` -> `guild:7`; `a{}{b}` -> none; `{{a}}` -> `{a`.
 */
export function hashTag(name: string): string | undefined {
  const open = name.indexOf('{');
  if (open < 0) return undefined;
  const close = name.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return undefined;
  return name.slice(open + 1, close);
}

/** Number of hash slots of a Redis Cluster. */
export const SLOTS = 16384;

const crcTable = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    table[i] = crc;
  }
  return table;
})();

/** CRC16-CCITT (XModem), the checksum Redis Cluster hashes keys with. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes)
    crc = ((crc << 8) & 0xffff) ^ (crcTable[((crc >> 8) ^ byte) & 0xff] ?? 0);
  return crc;
}

/** The cluster slot of a key: CRC16 of its hash tag (or of the whole key) mod 16384. */
export function keySlot(key: string): number {
  return crc16(Buffer.from(hashTag(key) ?? key, 'utf8')) % SLOTS;
}

/**
 * The keys of one room, all in the room's slot. A room whose id has a hash tag (see
 * {@link hashTag}) shares the slot of every room with the same tag: `{guild:7}general` and
 * `{guild:7}stage` can then be raided into each other in one script.
 */
export interface RoomKeys {
  room: string;
  /** HASH socket id -> member value (`node`, or `node \0 user` for a signed-in socket). */
  members: string;
  /** HASH user -> how many of that user's sockets are in the room (presence). */
  users: string;
  /**
   * STRING with a PX TTL while a raid from this room runs (and shortly after): a join that
   * adds a member here then writes the member's reverse set once more (docs: "Raids").
   */
  raiding: string;
  /** The room's cluster slot. */
  slot: number;
  /** HASH `s` (state: `p` pending, `d` done), `m` (msgpack moved list): a raid from this room. */
  raid(raidId: string): string;
}

/** The keys of one node, all under the node's tag `{n:<node>}`, so in one slot. */
export interface NodeKeys {
  node: string;
  /** `<prefix>:{n:<node>}`: the Lua node script builds the per-socket keys from it. */
  base: string;
  /** SET of the socket ids registered on the node. */
  sockets: string;
  /** STRING with a PX TTL; exists while the node's lease is alive. */
  lease: string;
  /** STRING (SET NX PX, a random token): the one purger working the node now. */
  purge: string;
  slot: number;
  /** HASH `n` (node id), `d` (msgpack of `data`, empty for undefined), `u` (user, if any). */
  info(socketId: string): string;
  /** SET of the rooms the socket is in (the reverse index; a superset, see the docs). */
  rooms(socketId: string): string;
}

/** Builds the key names of one index under a prefix (default `rf`). */
export class RedisKeys {
  private readonly roomCache = new Map<string, RoomKeys>();
  private readonly nodeCache = new Map<string, NodeKeys>();

  constructor(readonly prefix: string) {
    if (/[{}]/.test(prefix)) throw new Error('the key prefix must not contain { or }');
  }

  /**
   * A room's keys. Without a hash tag in the id: `rf:{r:<room>}:m`, `:u`, `:x`, `:raid:<id>`.
   * With tag `t`: `rf:{g:<t>}:m:<room>`, `:u:<room>`, `:x:<room>`, `:raid:<room>:<id>` (the kind comes
   * first because the room is outside the braces: `<room>:m` could otherwise be the raid
   * key of another room).
   */
  room(room: string): RoomKeys {
    let keys = this.roomCache.get(room);
    if (keys) return keys;
    const tag = hashTag(room);
    const e = escapeKeyId(room);
    if (tag === undefined) {
      const base = `${this.prefix}:{r:${e}}`;
      keys = {
        room,
        members: `${base}:m`,
        users: `${base}:u`,
        raiding: `${base}:x`,
        slot: keySlot(base),
        raid: (id) => `${base}:raid:${escapeRaidId(id)}`,
      };
    } else {
      const base = `${this.prefix}:{g:${escapeKeyId(tag)}}`;
      keys = {
        room,
        members: `${base}:m:${e}`,
        users: `${base}:u:${e}`,
        raiding: `${base}:x:${e}`,
        slot: keySlot(base),
        raid: (id) => `${base}:raid:${e}:${escapeRaidId(id)}`,
      };
    }
    // Bounded: rooms come and go, and building keys again is cheap.
    if (this.roomCache.size >= 10_000) this.roomCache.clear();
    this.roomCache.set(room, keys);
    return keys;
  }

  /** A node's keys (see {@link NodeKeys}). */
  node(node: string): NodeKeys {
    let keys = this.nodeCache.get(node);
    if (keys) return keys;
    const base = `${this.prefix}:{n:${escapeKeyId(node)}}`;
    keys = {
      node,
      base,
      sockets: `${base}:s`,
      lease: `${base}:l`,
      purge: `${base}:purge`,
      slot: keySlot(base),
      info: (s) => `${base}:i:${escapeKeyId(s)}`,
      rooms: (s) => `${base}:r:${escapeKeyId(s)}`,
    };
    if (this.nodeCache.size >= 10_000) this.nodeCache.clear();
    this.nodeCache.set(node, keys);
    return keys;
  }

  /** STRING: the node a socket is registered on, so any instance finds its node slot. */
  pointer(socketId: string): string {
    return `${this.prefix}:{s:${escapeKeyId(socketId)}}:n`;
  }

  /** ZSET node id -> lease deadline (ms, Redis clock). A node leaves it when forgotten. */
  leases(): string {
    return `${this.prefix}:leases`;
  }

  /** SET of the node ids that have at least one registered socket. */
  nodes(): string {
    return `${this.prefix}:nodes`;
  }
}
