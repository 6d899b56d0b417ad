/**
 * The room script (the members and users of the rooms of one slot) and {@link RoomCode},
 * the reply codes it sets per operation.
 */
import type { ScriptSource } from './redis-scripts-prelude.js';

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
export const roomScript = {
  keys: 1,
  body: `
-- ARGV comes packed in one msgpack array (redis-values.ts, packArgs).
local ARGV = cmsgpack.unpack(ARGV[1])
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
} satisfies ScriptSource;
