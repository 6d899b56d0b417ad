/**
 * The Lua scripts of `RedisMembership`. Every script touches the keys of exactly one hash
 * slot, so every one of them runs on Redis Cluster: KEYS[1] is always a key of that slot
 * (it routes the call), and the other keys a script touches are either passed by the caller,
 * built by the caller for that same slot (`redis-keys.ts`), or built here from the node's
 * base (`<prefix>:{n:<node>}`), which carries the slot's hash tag.
 *
 * The room and node scripts take many operations per call (`redis-batch.ts` coalesces the
 * calls of one event-loop turn), applied in order, each with its own reply. Every operation
 * is idempotent: a decision (a socket added to or removed from a room, a room occupied or
 * vacated, a user's presence starting or ending) is made where the room's hash says so
 * (HSET/HDEL of a new/present field), so a retry decides nothing twice.
 * See `docs/redis-keys.md` for the layout and what a reader can see between the steps.
 */

/** Shared by every script. */
const prelude = `
local call = redis.call
local find, sub = string.find, string.sub
local ESC = { ['%'] = '%25', ['{'] = '%7B', ['}'] = '%7D' }
-- Mirrors escapeKeyId. Plain finds first: most ids need no escaping.
local function esc(id)
  if find(id, '{', 1, true) or find(id, '}', 1, true) or find(id, '%', 1, true) then
    return (string.gsub(id, '[%%{}]', ESC))
  end
  return id
end
local function now_ms()
  local t = call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- A member value is the node id, or node .. NUL .. user for a signed-in socket.
local function user_of(v)
  local p = find(v, '\\0', 1, true)
  if p then return sub(v, p + 1) end
  return false
end
local function node_of(v)
  local p = find(v, '\\0', 1, true)
  if p then return sub(v, 1, p - 1) end
  return v
end
-- SADD/SREM of a list, in slices that stay far below Lua's unpack limit.
local function many(cmd, key, list, from, to)
  local i = from
  while i <= to do
    local j = math.min(i + 999, to)
    call(cmd, key, unpack(list, i, j))
    i = j + 1
  end
end
`;

/** One script: how many KEYS it takes and its body (run after the prelude). */
interface ScriptSource {
  keys: number;
  body: string;
}

/** Reply codes of the room script (a bit set per operation). */
export const RoomCode = {
  ADDED: 1,
  OCCUPIED: 2,
  USER_JOINED: 4,
  REMOVED: 8,
  VACATED: 16,
  USER_LEFT: 32,
  /** A join added the member while a raid from the room runs (see `RoomKeys.raiding`). */
  RAIDING: 64,
} as const;

const sources = {
  /**
   * Operations on the rooms of one slot. KEYS: any key of the slot. ARGV: R (rooms in this
   * call), then R triples (members, users, raiding key) of rooms of that slot, then
   * operations:
   *   J i socket value    add or update a member (presence follows the value's user); an
   *                       add while the room's raiding key exists says RAIDING
   *   R i socket value    update a member's value if it is there (node or user changed)
   *   N i socket value    add a member if it is not there (a raid's arrivals)
   *   L i socket node     remove a member; with node ~= '', only if its value names node
   *   C i                 {HLEN members, HLEN users}
   *   n i k (socket value)...   N for k sockets (a raid's arrivals, in bulk)
   *   l i k (socket node)...    L for k sockets
   * Reply: two entries per operation, a RoomCode bit set and the user whose presence ended
   * ('' for none); C replies the two lengths; n and l a table of codes and one of users.
   */
  room: {
    keys: 1,
    body: `
local R = tonumber(ARGV[1])
local out = {}
local function user_in(u, user)
  return call('HINCRBY', u, user, 1) == 1
end
local function user_out(u, user)
  local left = call('HINCRBY', u, user, -1)
  if left <= 0 then call('HDEL', u, user) end
  return left == 0
end
-- The value of a member changed from old to v: move its presence if the user changed.
local function revalue(m, u, s, old, v)
  call('HSET', m, s, v)
  local ou, nu = user_of(old), user_of(v)
  if ou == nu then return 0, '' end
  local code, left = 0, ''
  if ou and user_out(u, ou) then code = 32; left = ou end
  if nu and user_in(u, nu) then code = code + 4 end
  return code, left
end
local function add(m, u, s, v)
  call('HSET', m, s, v)
  local code = 1
  if call('HLEN', m) == 1 then code = code + 2 end
  local nu = user_of(v)
  if nu and user_in(u, nu) then code = code + 4 end
  return code
end
local i = 3 * R + 2
while i <= #ARGV do
  local op, r = ARGV[i], tonumber(ARGV[i + 1])
  local m, u, x = ARGV[3 * r - 1], ARGV[3 * r], ARGV[3 * r + 1]
  local code, left = 0, ''
  if op == 'C' then
    code, left = call('HLEN', m), call('HLEN', u)
    i = i + 2
  elseif op == 'n' or op == 'l' then
    -- Bulk N / L: k pairs (socket, value or node); replies a table of codes and of users.
    local k = tonumber(ARGV[i + 2])
    code, left = {}, {}
    local was_empty = op == 'n' and call('EXISTS', m) == 0
    local first, last = nil, nil
    for j = i + 3, i + 1 + 2 * k, 2 do
      local s, v = ARGV[j], ARGV[j + 1]
      local c, l = 0, ''
      if op == 'n' then
        if call('HSETNX', m, s, v) == 1 then
          c = 1
          first = first or #code + 1
          local nu = user_of(v)
          if nu and user_in(u, nu) then c = c + 4 end
        end
      else
        local old = call('HGET', m, s)
        if old and (v == '' or node_of(old) == v) then
          call('HDEL', m, s)
          c = 8
          last = #code + 1
          local ou = user_of(old)
          if ou and user_out(u, ou) then c = c + 32; l = ou end
        end
      end
      code[#code + 1] = c
      left[#left + 1] = l
    end
    -- Occupied / vacated: said by the operation that added the first / removed the last.
    if was_empty and first then code[first] = code[first] + 2 end
    if last and call('EXISTS', m) == 0 then code[last] = code[last] + 16 end
    i = i + 3 + 2 * k
  else
    local s, v = ARGV[i + 2], ARGV[i + 3]
    i = i + 4
    local old = call('HGET', m, s)
    if op == 'J' then
      if not old then
        code = add(m, u, s, v)
        if call('EXISTS', x) == 1 then code = code + 64 end
      elseif old ~= v then code, left = revalue(m, u, s, old, v) end
    elseif op == 'R' then
      if old and old ~= v then code, left = revalue(m, u, s, old, v) end
    elseif op == 'N' then
      if not old then code = add(m, u, s, v) end
    elseif op == 'L' then
      if old and (v == '' or node_of(old) == v) then
        call('HDEL', m, s)
        code = 8
        if call('EXISTS', m) == 0 then code = code + 16 end
        local ou = user_of(old)
        if ou and user_out(u, ou) then code = code + 32; left = ou end
      end
    else
      return redis.error_reply('ERR unknown room operation ' .. tostring(op))
    end
  end
  out[#out + 1] = code
  out[#out + 1] = left
end
return out`,
  },
  /**
   * Operations on the sockets of one node. KEYS: the node's socket set. ARGV: the node's
   * base (<prefix>:{n:<node>}), node id, '1' to return socket data where it is asked for
   * (else '0'), then operations, each with one reply:
   *   A s data user       register: info and socket set. {existed, old user, old data,
   *                       rooms if it existed with another user}
   *   J s k rooms...      join, first half: {0} unknown socket, else SADD the rooms to its
   *                       reverse set: {1, user, data}
   *   S s k rooms...      SREM rooms from its reverse set: {1}
   *   G s                 read: {exists, user, data, rooms}
   *   I k sockets...      read: flat {node, user, data} per socket (false when missing)
   *   D s k rooms...      delete it (info, reverse set, set entry) if registered here and
   *                       its reverse set holds no room but these (the rooms the caller took
   *                       it out of): {deleted, sockets left, the other rooms}
   *   M mode a b k s...   per socket (registered ones only) x: SREM a, SADD b; a: SADD b;
   *                       r: SREM a; flat {alive, data} per socket
   *   U s data user k rooms...  re-assert upsert: info, set entry, SADD the rooms:
   *                       {existed, old user, rooms before}
   *   P batch             purge take: {-1} when the lease is alive, else {n, then per
   *                       socket: id, exists, user, data, rooms} for up to batch sockets
   *                       (SRANDMEMBER: nothing is removed here)
   */
  node: {
    keys: 1,
    body: `
local B, N, WANT = ARGV[1], ARGV[2], ARGV[3] == '1'
local S = KEYS[1]
local function ik(s) return B .. ':i:' .. esc(s) end
local function rk(s) return B .. ':r:' .. esc(s) end
local function set_info(k, s, d, u)
  if u == '' then
    call('HSET', k, 'n', N, 'd', d)
    call('HDEL', k, 'u')
  else
    call('HSET', k, 'n', N, 'd', d, 'u', u)
  end
  call('SADD', S, s)
end
local out, i = {}, 4
while i <= #ARGV do
  local op = ARGV[i]
  local reply
  if op == 'A' then
    local s, d, u = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    i = i + 4
    local k = ik(s)
    local old = call('HMGET', k, 'n', 'u', 'd')
    set_info(k, s, d, u)
    local ou = old[2] or ''
    if old[1] and ou ~= u then reply = { 1, ou, old[3] or '', call('SMEMBERS', rk(s)) }
    else reply = { old[1] and 1 or 0, ou, '', {} } end
  elseif op == 'J' then
    local s, k = ARGV[i + 1], tonumber(ARGV[i + 2])
    local x = call('HMGET', ik(s), 'n', 'u', 'd')
    if not x[1] then reply = { 0 }
    else
      if k > 0 then many('SADD', rk(s), ARGV, i + 3, i + 2 + k) end
      reply = { 1, x[2] or '', (WANT and x[2] and x[3]) or '' }
    end
    i = i + 3 + k
  elseif op == 'S' then
    local s, k = ARGV[i + 1], tonumber(ARGV[i + 2])
    if k > 0 then many('SREM', rk(s), ARGV, i + 3, i + 2 + k) end
    reply = { 1 }
    i = i + 3 + k
  elseif op == 'G' then
    local s = ARGV[i + 1]
    i = i + 2
    local x = call('HMGET', ik(s), 'n', 'u', 'd')
    if x[1] then reply = { 1, x[2] or '', x[3] or '', call('SMEMBERS', rk(s)) }
    else reply = { 0, '', '', {} } end
  elseif op == 'I' then
    local k = tonumber(ARGV[i + 1])
    reply = {}
    for j = i + 2, i + 1 + k do
      local x = call('HMGET', ik(ARGV[j]), 'n', 'u', 'd')
      local n = #reply
      reply[n + 1] = x[1]; reply[n + 2] = x[2]; reply[n + 3] = x[3]
    end
    i = i + 2 + k
  elseif op == 'D' then
    local s, k = ARGV[i + 1], tonumber(ARGV[i + 2])
    local key, r = ik(s), rk(s)
    local deleted, extra = 0, {}
    if call('HGET', key, 'n') == N then
      -- Only once the caller took it out of every room its reverse set names.
      local known = {}
      for j = i + 3, i + 2 + k do known[ARGV[j]] = true end
      for _, room in ipairs(call('SMEMBERS', r)) do
        if not known[room] then extra[#extra + 1] = room end
      end
      if #extra == 0 then
        call('DEL', key, r)
        call('SREM', S, s)
        deleted = 1
      end
    else
      call('SREM', S, s)
    end
    reply = { deleted, call('SCARD', S), extra }
    i = i + 3 + k
  elseif op == 'M' then
    local mode, a, b, k = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
    reply = {}
    for j = i + 5, i + 4 + k do
      local s = ARGV[j]
      local key, r = ik(s), rk(s)
      local alive, d = 1, ''
      if WANT then
        local x = call('HMGET', key, 'n', 'u', 'd')
        if not x[1] then alive = 0 elseif x[2] then d = x[3] or '' end
      end
      if alive == 1 then
        if mode == 'r' or mode == 'x' then
          -- Removed from a set that exists: registered. Else it may have left a meanwhile.
          if call('SREM', r, a) == 0 and not WANT and call('EXISTS', key) == 0 then alive = 0 end
          if alive == 1 and mode == 'x' then call('SADD', r, b) end
        elseif WANT or call('EXISTS', key) == 1 then
          call('SADD', r, mode == 'a' and b or a)
        else
          alive = 0
        end
      end
      local n = #reply
      reply[n + 1] = alive
      reply[n + 2] = d
    end
    i = i + 5 + k
  elseif op == 'U' then
    local s, d, u, k = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
    local key, r = ik(s), rk(s)
    local old = call('HMGET', key, 'n', 'u')
    set_info(key, s, d, u)
    local before = call('SMEMBERS', r)
    if k > 0 then many('SADD', r, ARGV, i + 5, i + 4 + k) end
    reply = { old[1] and 1 or 0, old[2] or '', before }
    i = i + 5 + k
  elseif op == 'P' then
    local batch = tonumber(ARGV[i + 1])
    i = i + 2
    if call('EXISTS', B .. ':l') == 1 then reply = { -1 }
    else
      local ids = call('SRANDMEMBER', S, batch)
      reply = { #ids }
      for _, s in ipairs(ids) do
        local x = call('HMGET', ik(s), 'n', 'u', 'd')
        local n = #reply
        reply[n + 1] = s
        reply[n + 2] = (x[1] == N) and 1 or 0
        reply[n + 3] = x[2] or ''
        reply[n + 4] = x[3] or ''
        reply[n + 5] = call('SMEMBERS', rk(s))
      end
    end
  else
    return redis.error_reply('ERR unknown node operation ' .. tostring(op))
  end
  out[#out + 1] = reply
end
return out`,
  },
  /**
   * A node's lease and purge lock. KEYS: the node's socket set. ARGV: base, op, args:
   *   renew ttl token -> the lease's value when it was alive (its ttl renewed), else ''
   *                      (then set to token for ttl ms: the lease's identity)
   *   drop            -> deletes the lease; sockets left on the node
   *   check           -> {sockets left, lease PTTL (<= 0: none)}
   *   lock token ttl  -> 1 when taken (SET NX PX)
   *   unlock token    -> deletes the lock if it still holds token
   */
  nodeLease: {
    keys: 1,
    body: `
local B, op = ARGV[1], ARGV[2]
local lease, lock = B .. ':l', B .. ':purge'
if op == 'renew' then
  local held = call('GET', lease)
  if held then
    call('PEXPIRE', lease, ARGV[3])
    return held
  end
  call('SET', lease, ARGV[4], 'PX', ARGV[3])
  return ''
elseif op == 'drop' then
  call('DEL', lease)
  return call('SCARD', KEYS[1])
elseif op == 'check' then
  return { call('SCARD', KEYS[1]), call('PTTL', lease) }
elseif op == 'lock' then
  return call('SET', lock, ARGV[3], 'NX', 'PX', ARGV[4]) and 1 or 0
elseif op == 'unlock' then
  if call('GET', lock) == ARGV[3] then call('DEL', lock) end
  return 1
end
return redis.error_reply('ERR unknown lease operation ' .. tostring(op))`,
  },
  /**
   * The lease deadlines (one ZSET, its own slot), on the Redis clock. KEYS: leases. ARGV:
   *   renew node ttl   ZADD now+ttl
   *   drop node keep   keep = 1: ZADD 0 (lapsed: its sockets get purged); else ZREM
   *   forget node      ZREM
   *   restore node ms  ZADD now+ms (a lease found alive after a forget)
   *   expired          nodes whose deadline passed, strictly before now: Redis expires a PX
   *                    key only once now > its deadline, so at now == deadline the lease key
   *                    still exists and purgeNode would find the node alive
   *   live             nodes whose deadline is still ahead
   */
  leases: {
    keys: 1,
    body: `
local op = ARGV[1]
if op == 'renew' or op == 'restore' then
  call('ZADD', KEYS[1], string.format('%d', now_ms() + tonumber(ARGV[3])), ARGV[2])
elseif op == 'drop' then
  if ARGV[3] == '1' then call('ZADD', KEYS[1], 0, ARGV[2]) else call('ZREM', KEYS[1], ARGV[2]) end
elseif op == 'forget' then
  call('ZREM', KEYS[1], ARGV[2])
elseif op == 'expired' then
  return call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now_ms())
elseif op == 'live' then
  return call('ZRANGEBYSCORE', KEYS[1], '(' .. now_ms(), '+inf')
else
  return redis.error_reply('ERR unknown leases operation ' .. tostring(op))
end
return 1`,
  },
  /** KEYS: a socket pointer. ARGV: node. Deletes the pointer if it still names node. */
  pointerDrop: {
    keys: 1,
    body: `
if call('GET', KEYS[1]) == ARGV[1] then call('DEL', KEYS[1]) end
return 1`,
  },
  /**
   * A raid whose rooms share a slot, in one step. KEYS: raid result, from, to, from users,
   * to users, from's raiding key. ARGV: result ttl ms, '1' to report presence, raiding ms.
   * Reply {state, packed moved, presence rows, to was empty (0/1)}: state 2 = done before
   * (repeated), 1 = pending (an earlier call stopped after this step: resume it), 0 = ran
   * now. packed = msgpack of [socket, value, ...] (all of from's members). Rows, when
   * reporting: per user of from: user, one of its sockets, 1 if it joined to (it had no
   * socket there). The member hash moves by RENAME after merging the smaller of from/to
   * into the larger; the user counts the same way, with no work when from has no users.
   */
  raidLocal: {
    keys: 6,
    body: `
local st = call('HMGET', KEYS[1], 's', 'm')
if st[1] == 'd' then return { 2, st[2], {}, 0 } end
call('SET', KEYS[6], '1', 'PX', ARGV[3])
if st[1] == 'p' then return { 1, st[2], {}, 0 } end
local rows = {}
local moved = call('HGETALL', KEYS[2])
local to_empty = call('EXISTS', KEYS[3]) == 0
local function move_users(report)
  local fu, tu = KEYS[4], KEYS[5]
  if report then
    local seen = {}
    for i = 1, #moved, 2 do
      local u = user_of(moved[i + 1])
      if u and not seen[u] then
        seen[u] = true
        local n = #rows
        rows[n + 1] = u; rows[n + 2] = moved[i]
        rows[n + 3] = (to_empty or call('HEXISTS', tu, u) == 0) and 1 or 0
      end
    end
  end
  if to_empty then call('RENAME', fu, tu); return end
  -- The sockets in both rooms (their to value), found from the smaller room.
  local both = {}
  if #moved / 2 <= call('HLEN', KEYS[3]) then
    for i = 1, #moved, 2 do
      local v = call('HGET', KEYS[3], moved[i])
      if v then both[#both + 1] = v end
    end
  else
    local kv = call('HGETALL', KEYS[3])
    for i = 1, #kv, 2 do
      if call('HEXISTS', KEYS[2], kv[i]) == 1 then both[#both + 1] = kv[i + 1] end
    end
  end
  local src, dst = fu, tu
  if call('HLEN', fu) > call('HLEN', tu) then src, dst = tu, fu end
  local kv = call('HGETALL', src)
  for i = 1, #kv, 2 do call('HINCRBY', dst, kv[i], kv[i + 1]) end
  if dst == fu then call('RENAME', fu, tu) else call('DEL', fu) end
  -- A socket in both rooms was counted in each; it counts once now.
  for _, v in ipairs(both) do
    local u = user_of(v)
    if u then call('HINCRBY', tu, u, -1) end
  end
end
if #moved > 0 then
  if call('EXISTS', KEYS[4]) == 1 then move_users(ARGV[2] == '1') end
  local src, dst = KEYS[3], KEYS[2]
  if call('HLEN', KEYS[3]) > #moved / 2 then src, dst = KEYS[2], KEYS[3] end
  local rest = call('HGETALL', src)
  for i = 1, #rest, 7000 do
    call('HSET', dst, unpack(rest, i, math.min(i + 6999, #rest)))
  end
  if dst == KEYS[2] then call('RENAME', KEYS[2], KEYS[3]) else call('DEL', KEYS[2]) end
end
local packed = cmsgpack.pack(moved)
call('HSET', KEYS[1], 's', 'p', 'm', packed)
call('PEXPIRE', KEYS[1], ARGV[1])
return { 0, packed, rows, (#moved > 0 and to_empty) and 1 or 0 }`,
  },
  /**
   * First step of a raid across slots, in from's slot. KEYS: raid result, from, from's
   * raiding key. ARGV: result ttl ms, raiding ms.
   * Reply {state, packed}: 2 done before, 1 pending (resume with the stored snapshot),
   * 0 = the snapshot of from's members [socket, value, ...] was stored just now, pending.
   */
  raidSnapshot: {
    keys: 3,
    body: `
local st = call('HMGET', KEYS[1], 's', 'm')
if st[1] == 'd' then return { 2, st[2] } end
call('SET', KEYS[3], '1', 'PX', ARGV[2])
if st[1] == 'p' then return { 1, st[2] } end
local packed = cmsgpack.pack(call('HGETALL', KEYS[2]))
call('HSET', KEYS[1], 's', 'p', 'm', packed)
call('PEXPIRE', KEYS[1], ARGV[1])
return { 0, packed }`,
  },
  /**
   * KEYS: raid result, from's raiding key. ARGV: how long the raiding key stays (ms). Marks a
   * pending raid done (its TTL is kept).
   */
  raidDone: {
    keys: 2,
    body: `
if call('EXISTS', KEYS[1]) == 1 then call('HSET', KEYS[1], 's', 'd') end
call('PEXPIRE', KEYS[2], ARGV[1])
return 1`,
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
