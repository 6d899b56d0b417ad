/**
 * The lease scripts: a node's lease and purge lock, and the lease deadlines of every node.
 */
import type { ScriptSource } from './redis-scripts-prelude.js';

/**
 * A node's lease and purge lock. KEYS: the node's socket set. ARGV: base, op, args:
 *   renew ttl token -> {the lease's value when it was alive (its ttl renewed), else ''
 *                      (then set to token for ttl ms: the lease's identity); 1 while a
 *                      purger holds the node's purge lock, else 0}
 *   drop            -> deletes the lease; sockets left on the node
 *   check           -> {sockets left, lease PTTL (<= 0: none)}
 *   lock token ttl  -> 1 when taken (SET NX PX)
 *   unlock token    -> deletes the lock if it still holds token
 */
export const nodeLeaseScript = {
  keys: 1,
  body: `
local B, op = ARGV[1], ARGV[2]
local lease, lock = B .. ':l', B .. ':purge'
if op == 'renew' then
  local purging = call('EXISTS', lock)
  local held = call('GET', lease)
  if held then
    call('PEXPIRE', lease, ARGV[3])
    return { held, purging }
  end
  call('SET', lease, ARGV[4], 'PX', ARGV[3])
  return { '', purging }
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
} satisfies ScriptSource;

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
export const leasesScript = {
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
} satisfies ScriptSource;
