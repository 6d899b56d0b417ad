/**
 * The Lua scripts of `RedisMembership`. Every change that touches more than one key is one
 * script, so no reader ever sees half of it. Each script gets the key prefix as ARGV[1];
 * keys known to the caller come in KEYS, keys found inside the script (a socket's rooms, a
 * room's members) are built by the prelude with the same escaping as `redis-keys.ts`.
 * See `docs/redis-keys.md` for the layout and what stays atomic on Redis Cluster.
 */

/** Escaping and key builders shared by every script (mirrors `RedisKeys`). */
const prelude = `
local P = ARGV[1]
local ESC = { ['%'] = '%25', ['{'] = '%7B', ['}'] = '%7D' }
local find = string.find
-- Plain finds first: most ids need no escaping, and gsub would copy each one.
local function esc(id)
  if find(id, '{', 1, true) or find(id, '}', 1, true) or find(id, '%', 1, true) then
    return (string.gsub(id, '[%%{}]', ESC))
  end
  return id
end
local function room_key(r) return P .. ':{r:' .. esc(r) .. '}:m' end
local function rooms_key(s) return P .. ':{s:' .. esc(s) .. '}:r' end
local function info_key(s) return P .. ':{s:' .. esc(s) .. '}:i' end
local function node_key(n) return P .. ':{n:' .. esc(n) .. '}:s' end
local NODES = P .. ':nodes'
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Takes a socket off a node's set; the node leaves NODES when that empties its set.
local function unlink_node(n, s)
  local nk = node_key(n)
  redis.call('SREM', nk, s)
  if redis.call('EXISTS', nk) == 0 then redis.call('SREM', NODES, n) end
end
-- Room lifecycle, decided here, atomically with the change: a room that got its first
-- member (occupied) or lost its last (vacated). Every changing script returns both lists.
local EV_O, EV_V = {}, {}
local function added_to(r)
  if redis.call('HLEN', room_key(r)) == 1 then EV_O[#EV_O + 1] = r end
end
local function removed_from(r)
  if redis.call('EXISTS', room_key(r)) == 0 then EV_V[#EV_V + 1] = r end
end
-- Takes a socket out of every room and deletes its keys (not its node's set).
local function drop_socket(s)
  local rk = rooms_key(s)
  local rooms = redis.call('SMEMBERS', rk)
  for i = 1, #rooms do
    if redis.call('HDEL', room_key(rooms[i]), s) == 1 then removed_from(rooms[i]) end
  end
  redis.call('DEL', rk, info_key(s))
  return rooms
end
`;

/** One script: how many KEYS it takes and its body (run after the prelude). */
interface ScriptSource {
  keys: number;
  body: string;
}

const sources = {
  /** KEYS: info, node set. ARGV: P, socket, node, data. */
  addSocket: {
    keys: 2,
    body: `
local s, n = ARGV[2], ARGV[3]
local old = redis.call('HGET', KEYS[1], 'n')
if old and old ~= n then
  unlink_node(old, s)
  for _, r in ipairs(redis.call('SMEMBERS', rooms_key(s))) do redis.call('HSET', room_key(r), s, n) end
end
redis.call('HSET', KEYS[1], 'n', n, 'd', ARGV[4])
redis.call('SADD', KEYS[2], s)
redis.call('SADD', NODES, n)
return 1`,
  },
  /** KEYS: info. ARGV: P, socket. Returns the rooms left. */
  removeSocket: {
    keys: 1,
    body: `
local s = ARGV[2]
local n = redis.call('HGET', KEYS[1], 'n')
local rooms = drop_socket(s)
if n then unlink_node(n, s) end
return { rooms, EV_O, EV_V }`,
  },
  /** KEYS: info, socket rooms. ARGV: P, socket, rooms... Nil for an unknown socket. */
  join: {
    keys: 2,
    body: `
local n = redis.call('HGET', KEYS[1], 'n')
if not n then return false end
local s, added = ARGV[2], {}
for i = 3, #ARGV do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    if redis.call('HSET', room_key(ARGV[i]), s, n) == 1 then added_to(ARGV[i]) end
    added[#added + 1] = ARGV[i]
  end
end
return { added, EV_O, EV_V }`,
  },
  /** KEYS: socket rooms. ARGV: P, socket, rooms... Returns the rooms left. */
  leave: {
    keys: 1,
    body: `
local s, left = ARGV[2], {}
for i = 3, #ARGV do
  if redis.call('SREM', KEYS[1], ARGV[i]) == 1 then
    if redis.call('HDEL', room_key(ARGV[i]), s) == 1 then removed_from(ARGV[i]) end
    left[#left + 1] = ARGV[i]
  end
end
return { left, EV_O, EV_V }`,
  },
  /** KEYS: room. ARGV: P. Returns flat [socket, node, data, ...], read in one step. */
  members: {
    keys: 1,
    body: `
local kv, out = redis.call('HGETALL', KEYS[1]), {}
for i = 1, #kv, 2 do
  out[#out + 1] = kv[i]; out[#out + 1] = kv[i + 1]
  out[#out + 1] = redis.call('HGET', info_key(kv[i]), 'd') or ''
end
return out`,
  },
  /**
   * KEYS: leases. ARGV: P, 'count' or 'list'. Nodes with sockets or a live lease: either
   * {sockets, nodes} or the node ids.
   */
  nodes: {
    keys: 1,
    body: `
local seen, list, sockets = {}, {}, 0
for _, n in ipairs(redis.call('SMEMBERS', NODES)) do
  seen[n] = true; list[#list + 1] = n
  if ARGV[2] == 'count' then sockets = sockets + redis.call('SCARD', node_key(n)) end
end
for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now_ms(), '+inf')) do
  if not seen[n] then list[#list + 1] = n end
end
if ARGV[2] == 'count' then return {sockets, #list} end
return list`,
  },
  /** KEYS: lease, leases. ARGV: P, node, ttl ms. Returns 1 when the lease was alive. */
  renewLease: {
    keys: 2,
    body: `
local ttl = tonumber(ARGV[3])
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ttl)
redis.call('ZADD', KEYS[2], string.format('%d', now_ms() + ttl), ARGV[2])
return existed`,
  },
  /** KEYS: lease, leases, node set. ARGV: P, node. A node with sockets left stays, lapsed. */
  dropLease: {
    keys: 3,
    body: `
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('ZADD', KEYS[2], 0, ARGV[2])
else redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1`,
  },
  /** KEYS: leases. ARGV: P. Nodes whose deadline passed (Redis clock). */
  expiredNodes: {
    keys: 1,
    body: `return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms())`,
  },
  /**
   * KEYS: lease, node set, leases. ARGV: P, node, batch. Returns {{socket, {rooms}}, ...}.
   * SPOP makes batches of concurrent purgers disjoint.
   */
  purgeNode: {
    keys: 3,
    body: `
if redis.call('EXISTS', KEYS[1]) == 1 then return { {}, EV_O, EV_V } end
local n, out = ARGV[2], {}
local ids = redis.call('SPOP', KEYS[2], tonumber(ARGV[3]))
for i = 1, #ids do
  local owner = redis.call('HGET', info_key(ids[i]), 'n')
  -- A socket re-registered on another node meanwhile only leaves this node's set.
  if not owner or owner == n then out[#out + 1] = { ids[i], drop_socket(ids[i]) } end
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[3], n)
  redis.call('SREM', NODES, n)
end
return { out, EV_O, EV_V }`,
  },
  /** KEYS: node set. ARGV: P, node, sockets... Drops those still registered on the node. */
  reassertPrune: {
    keys: 1,
    body: `
local n, removed = ARGV[2], 0
for i = 3, #ARGV do
  local s = ARGV[i]
  if redis.call('HGET', info_key(s), 'n') == n then drop_socket(s); removed = removed + 1 end
  unlink_node(n, s)
end
return { removed, EV_O, EV_V }`,
  },
  /**
   * KEYS: node set. ARGV: P, node, then per socket: id, data, room count, rooms...
   * Sets each socket's info and exactly its rooms.
   */
  reassertUpsert: {
    keys: 1,
    body: `
local n, i = ARGV[2], 3
while i <= #ARGV do
  local s, d, k = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  local want = {}
  for j = i, i + k - 1 do want[ARGV[j]] = true end
  local ik, rk = info_key(s), rooms_key(s)
  local old = redis.call('HGET', ik, 'n')
  if old and old ~= n then unlink_node(old, s) end
  redis.call('HSET', ik, 'n', n, 'd', d)
  redis.call('SADD', KEYS[1], s)
  for _, r in ipairs(redis.call('SMEMBERS', rk)) do
    if not want[r] then
      redis.call('SREM', rk, r)
      if redis.call('HDEL', room_key(r), s) == 1 then removed_from(r) end
    end
  end
  for j = i, i + k - 1 do
    redis.call('SADD', rk, ARGV[j])
    if redis.call('HSET', room_key(ARGV[j]), s, n) == 1 then added_to(ARGV[j]) end
  end
  i = i + k
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SADD', NODES, n) end
return { 1, EV_O, EV_V }`,
  },
  /**
   * KEYS: raid result, from, to. ARGV: P, from, to, result ttl ms.
   * Returns {repeated (0/1), msgpack of [socket, node, socket, node, ...]}.
   * Room hashes carry each member's node, so the moved pairs come from one HGETALL, and
   * the member hash moves by RENAME (after merging the smaller hash into the larger).
   */
  raid: {
    keys: 3,
    body: `
local prev = redis.call('GET', KEYS[1])
if prev then return { { 1, prev }, EV_O, EV_V } end
local call, f, t = redis.call, ARGV[2], ARGV[3]
local moved = call('HGETALL', KEYS[2])
if #moved > 0 then
  EV_V[1] = f
  if call('EXISTS', KEYS[3]) == 0 then EV_O[1] = t end
end
for i = 1, #moved, 2 do
  local rk = P .. ':{s:' .. esc(moved[i]) .. '}:r'
  call('SREM', rk, f)
  call('SADD', rk, t)
end
if #moved > 0 then
  local src, dst = KEYS[3], KEYS[2]
  if call('HLEN', KEYS[3]) > #moved / 2 then src, dst = KEYS[2], KEYS[3] end
  local rest = call('HGETALL', src)
  for i = 1, #rest, 7000 do
    call('HSET', dst, unpack(rest, i, math.min(i + 6999, #rest)))
  end
  if dst == KEYS[2] then call('RENAME', KEYS[2], KEYS[3]) else call('DEL', KEYS[2]) end
end
local packed = cmsgpack.pack(moved)
call('SET', KEYS[1], packed, 'PX', ARGV[4])
return { { 0, packed }, EV_O, EV_V }`,
  },
} satisfies Record<string, ScriptSource>;

/** Names of the scripts, as registered with ioredis `defineCommand` (prefixed `rfm_`). */
export type ScriptName = keyof typeof sources;

/** A script ready for `defineCommand`: the prelude plus its body. */
export interface LuaScript {
  numberOfKeys: number;
  lua: string;
}

/** Every script, with the prelude prepended. */
export const scripts: Readonly<Record<ScriptName, LuaScript>> = Object.fromEntries(
  Object.entries(sources).map(([name, s]) => [
    name,
    { numberOfKeys: s.keys, lua: prelude + s.body },
  ]),
) as Record<ScriptName, LuaScript>;
