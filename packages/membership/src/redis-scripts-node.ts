/**
 * The scripts on one node's sockets: the node script (register, join, leave, read, delete,
 * move, re-assert and purge operations) and the socket pointer drop.
 */
import type { ScriptSource } from './redis-scripts-prelude.js';

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
export const nodeScript = {
  keys: 1,
  body: `
-- ARGV comes packed in one msgpack array (redis-values.ts, packArgs).
local ARGV = cmsgpack.unpack(ARGV[1])
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
} satisfies ScriptSource;

/** KEYS: a socket pointer. ARGV: node. Deletes the pointer if it still names node. */
export const pointerDropScript = {
  keys: 1,
  body: `
if call('GET', KEYS[1]) == ARGV[1] then call('DEL', KEYS[1]) end
return 1`,
} satisfies ScriptSource;
