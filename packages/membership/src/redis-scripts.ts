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
local function users_key(r) return P .. ':{r:' .. esc(r) .. '}:u' end
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
-- Presence: users_key(r) counts each user's sockets in room r (user -> count), kept exact
-- by every script that changes membership. A count going 0 -> 1 is a join, 1 -> 0 a
-- leave: EV_P gets room, kind, user, socket, that socket's data (5 entries per event).
local EV_P, DATA = {}, {}
local function presence_event(r, kind, u, s)
  local d = DATA[s]
  if not d then
    d = redis.call('HGET', info_key(s), 'd') or ''
    DATA[s] = d
  end
  local n = #EV_P
  EV_P[n + 1] = r; EV_P[n + 2] = kind; EV_P[n + 3] = u; EV_P[n + 4] = s; EV_P[n + 5] = d
end
local function user_in(r, u, s)
  if redis.call('HINCRBY', users_key(r), u, 1) == 1 then presence_event(r, 'join', u, s) end
end
local function user_out(r, u, s)
  local k = users_key(r)
  local left = redis.call('HINCRBY', k, u, -1)
  if left <= 0 then
    redis.call('HDEL', k, u)
    if left == 0 then presence_event(r, 'leave', u, s) end
  end
end
-- Takes a socket out of every room and deletes its keys (not its node's set).
local function drop_socket(s)
  local rk, ik = rooms_key(s), info_key(s)
  local rooms = redis.call('SMEMBERS', rk)
  local u = #rooms > 0 and redis.call('HGET', ik, 'u')
  for i = 1, #rooms do
    if redis.call('HDEL', room_key(rooms[i]), s) == 1 then
      removed_from(rooms[i])
      if u then user_out(rooms[i], u, s) end
    end
  end
  redis.call('DEL', rk, ik)
  return rooms
end
-- Sets a socket's info hash; '' for no user. Returns its previous node and user (or false).
local function set_info(ik, n, d, u)
  local old = redis.call('HMGET', ik, 'n', 'u')
  if u == '' then
    redis.call('HSET', ik, 'n', n, 'd', d)
    if old[2] then redis.call('HDEL', ik, 'u') end
  else
    redis.call('HSET', ik, 'n', n, 'd', d, 'u', u)
  end
  return old[1], old[2]
end
`;

/** One script: how many KEYS it takes and its body (run after the prelude). */
interface ScriptSource {
  keys: number;
  body: string;
}

const sources = {
  /**
   * KEYS: info, node set. ARGV: P, socket, node, data, user ('' for none). A socket that
   * moves node keeps its rooms (and its presence); a changed user moves its presence.
   */
  addSocket: {
    keys: 2,
    body: `
local s, n, u = ARGV[2], ARGV[3], ARGV[5]
local old, oldu = set_info(KEYS[1], n, ARGV[4], u)
local moved, renamed = old and old ~= n, old and (oldu or '') ~= u
if moved then unlink_node(old, s) end
if moved or renamed then
  for _, r in ipairs(redis.call('SMEMBERS', rooms_key(s))) do
    if moved then redis.call('HSET', room_key(r), s, n) end
    if renamed then
      if oldu then user_out(r, oldu, s) end
      if u ~= '' then user_in(r, u, s) end
    end
  end
end
redis.call('SADD', KEYS[2], s)
redis.call('SADD', NODES, n)
return { 1, EV_O, EV_V, EV_P }`,
  },
  /** KEYS: info. ARGV: P, socket. Returns the rooms left. */
  removeSocket: {
    keys: 1,
    body: `
local s = ARGV[2]
local n = redis.call('HGET', KEYS[1], 'n')
local rooms = drop_socket(s)
if n then unlink_node(n, s) end
return { rooms, EV_O, EV_V, EV_P }`,
  },
  /** KEYS: info, socket rooms. ARGV: P, socket, rooms... Nil for an unknown socket. */
  join: {
    keys: 2,
    body: `
local info = redis.call('HMGET', KEYS[1], 'n', 'u')
local n, u = info[1], info[2]
if not n then return false end
local s, added = ARGV[2], {}
for i = 3, #ARGV do
  local r = ARGV[i]
  if redis.call('SADD', KEYS[2], r) == 1 then
    if redis.call('HSET', room_key(r), s, n) == 1 then
      added_to(r)
      if u then user_in(r, u, s) end
    end
    added[#added + 1] = r
  end
end
return { added, EV_O, EV_V, EV_P }`,
  },
  /** KEYS: socket rooms, info. ARGV: P, socket, rooms... Returns the rooms left. */
  leave: {
    keys: 2,
    body: `
local s, left, u = ARGV[2], {}, nil
for i = 3, #ARGV do
  local r = ARGV[i]
  if redis.call('SREM', KEYS[1], r) == 1 then
    if redis.call('HDEL', room_key(r), s) == 1 then
      removed_from(r)
      if u == nil then u = redis.call('HGET', KEYS[2], 'u') end
      if u then user_out(r, u, s) end
    end
    left[#left + 1] = r
  end
end
return { left, EV_O, EV_V, EV_P }`,
  },
  /**
   * KEYS: room. ARGV: P, 'all' or 'users'. Returns flat [socket, node, user, data, ...]
   * ('' for no user), read in one step; with 'users', only the sockets that have a user.
   */
  members: {
    keys: 1,
    body: `
local kv, out, all = redis.call('HGETALL', KEYS[1]), {}, ARGV[2] == 'all'
for i = 1, #kv, 2 do
  local x = redis.call('HMGET', info_key(kv[i]), 'u', 'd')
  if all or x[1] then
    local n = #out
    out[n + 1] = kv[i]; out[n + 2] = kv[i + 1]; out[n + 3] = x[1] or ''; out[n + 4] = x[2] or ''
  end
end
return out`,
  },
  /** KEYS: room, room users. ARGV: P. Returns {sockets, users}, read in one step. */
  presenceStats: {
    keys: 2,
    body: `return { redis.call('HLEN', KEYS[1]), redis.call('HLEN', KEYS[2]) }`,
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
  /**
   * KEYS: leases. ARGV: P. Nodes whose deadline passed (Redis clock). Strictly before now:
   * Redis expires a PX key only once now > its deadline, so at now == deadline the lease key
   * still exists and `purgeNode` would find the node alive.
   */
  expiredNodes: {
    keys: 1,
    body: `return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now_ms())`,
  },
  /**
   * KEYS: lease, node set, leases. ARGV: P, node, batch. Returns {{socket, {rooms}}, ...}.
   * SPOP makes batches of concurrent purgers disjoint.
   */
  purgeNode: {
    keys: 3,
    body: `
if redis.call('EXISTS', KEYS[1]) == 1 then return { {}, EV_O, EV_V, EV_P } end
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
return { out, EV_O, EV_V, EV_P }`,
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
return { removed, EV_O, EV_V, EV_P }`,
  },
  /**
   * KEYS: node set. ARGV: P, node, then per socket: id, data, user ('' for none), room
   * count, rooms... Sets each socket's info and exactly its rooms.
   */
  reassertUpsert: {
    keys: 1,
    body: `
local n, i = ARGV[2], 3
while i <= #ARGV do
  local s, d, u, k = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  i = i + 4
  local want = {}
  for j = i, i + k - 1 do want[ARGV[j]] = true end
  local ik, rk = info_key(s), rooms_key(s)
  local old, oldu = set_info(ik, n, d, u)
  if old and old ~= n then unlink_node(old, s) end
  if u == '' then u = false end
  redis.call('SADD', KEYS[1], s)
  for _, r in ipairs(redis.call('SMEMBERS', rk)) do
    if not want[r] then
      redis.call('SREM', rk, r)
      if redis.call('HDEL', room_key(r), s) == 1 then
        removed_from(r)
        if oldu then user_out(r, oldu, s) end
      end
    elseif oldu ~= u then
      -- Staying in the room under another user (or none): move its presence.
      if oldu then user_out(r, oldu, s) end
      if u then user_in(r, u, s) end
    end
  end
  for j = i, i + k - 1 do
    local r = ARGV[j]
    redis.call('SADD', rk, r)
    if redis.call('HSET', room_key(r), s, n) == 1 then
      added_to(r)
      if u then user_in(r, u, s) end
    end
  end
  i = i + k
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SADD', NODES, n) end
return { 1, EV_O, EV_V, EV_P }`,
  },
  /**
   * KEYS: raid result, from, to, from users, to users. ARGV: P, from, to, result ttl ms,
   * '1' to report presence transitions (else '0').
   * Returns {repeated (0/1), msgpack of [socket, node, socket, node, ...]} and the events,
   * presence moves last: [from, to, then per user: user, socket, data, joined (0/1)].
   * Room hashes carry each member's node, so the moved pairs come from one HGETALL, and
   * the member hash moves by RENAME (after merging the smaller hash into the larger).
   * The user counts move the same way, with no work at all when `from` has no users, and
   * one RENAME when `to` was empty; only reporting presence reads each mover's user.
   */
  raid: {
    keys: 5,
    body: `
local prev = redis.call('GET', KEYS[1])
if prev then return { { 1, prev }, EV_O, EV_V, EV_P } end
local call, f, t, EV_M = redis.call, ARGV[2], ARGV[3], {}
-- Moves the user counts of from into to, where a socket already in both counts once.
local function move_users(moved, to_empty, report)
  local fu, tu = KEYS[4], KEYS[5]
  if report then
    -- One row per user (one of their sockets stands for them): a leave of from, and a join
    -- of to unless the user was there already. Half the reply of two full events each.
    local seen = {}
    EV_M[1] = f; EV_M[2] = t
    for i = 1, #moved, 2 do
      local x = call('HMGET', info_key(moved[i]), 'u', 'd')
      local u = x[1]
      if u and not seen[u] then
        seen[u] = true
        local n = #EV_M
        EV_M[n + 1] = u; EV_M[n + 2] = moved[i]; EV_M[n + 3] = x[2] or ''
        EV_M[n + 4] = (to_empty or call('HEXISTS', tu, u) == 0) and 1 or 0
      end
    end
  end
  if to_empty then call('RENAME', fu, tu); return end
  -- The sockets in both rooms, found from the smaller room.
  local both = {}
  if #moved / 2 <= call('HLEN', KEYS[3]) then
    for i = 1, #moved, 2 do
      if call('HEXISTS', KEYS[3], moved[i]) == 1 then both[#both + 1] = moved[i] end
    end
  else
    for _, s in ipairs(call('HKEYS', KEYS[3])) do
      if call('HEXISTS', KEYS[2], s) == 1 then both[#both + 1] = s end
    end
  end
  local src, dst = fu, tu
  if call('HLEN', fu) > call('HLEN', tu) then src, dst = tu, fu end
  local kv = call('HGETALL', src)
  for i = 1, #kv, 2 do call('HINCRBY', dst, kv[i], kv[i + 1]) end
  if dst == fu then call('RENAME', fu, tu) else call('DEL', fu) end
  for _, s in ipairs(both) do
    local u = call('HGET', info_key(s), 'u')
    if u then call('HINCRBY', tu, u, -1) end
  end
end
local moved = call('HGETALL', KEYS[2])
if #moved > 0 then
  local to_empty = call('EXISTS', KEYS[3]) == 0
  EV_V[1] = f
  if to_empty then EV_O[1] = t end
  if call('EXISTS', KEYS[4]) == 1 then move_users(moved, to_empty, ARGV[5] == '1') end
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
return { { 0, packed }, EV_O, EV_V, EV_P, EV_M }`,
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
