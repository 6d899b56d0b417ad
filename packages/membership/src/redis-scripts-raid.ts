/**
 * The raid scripts: a raid whose rooms share a slot, in one step; across slots, the
 * snapshot of the from room, then the mark that the raid is done.
 */
import type { ScriptSource } from './redis-scripts-prelude.js';

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
export const raidLocalScript = {
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
} satisfies ScriptSource;

/**
 * First step of a raid across slots, in from's slot. KEYS: raid result, from, from's
 * raiding key. ARGV: result ttl ms, raiding ms.
 * Reply {state, packed}: 2 done before, 1 pending (resume with the stored snapshot),
 * 0 = the snapshot of from's members [socket, value, ...] was stored just now, pending.
 */
export const raidSnapshotScript = {
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
} satisfies ScriptSource;

/**
 * KEYS: raid result, from's raiding key. ARGV: how long the raiding key stays (ms). Marks a
 * pending raid done (its TTL is kept).
 */
export const raidDoneScript = {
  keys: 2,
  body: `
if call('EXISTS', KEYS[1]) == 1 then call('HSET', KEYS[1], 's', 'd') end
call('PEXPIRE', KEYS[2], ARGV[1])
return 1`,
} satisfies ScriptSource;
