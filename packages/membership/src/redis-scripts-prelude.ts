/**
 * What every script of `redis-scripts.ts` is made of: the {@link prelude} of Lua helpers
 * run before each body, and {@link ScriptSource}, one script's key count and body.
 */

/** Shared by every script. */
export const prelude = `
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
export interface ScriptSource {
  keys: number;
  body: string;
}
