export type {
  MemberInfo,
  Membership,
  MovedMember,
  NodeSnapshotSocket,
  ReassertOptions,
  PresenceEvent,
  PresenceMember,
  PresenceStats,
  PurgedSocket,
  RaidResult,
  RoomEvent,
} from './membership.js';
export { MemoryMembership, type MemoryMembershipOptions } from './memory-membership.js';
export { RedisMembership, type RedisMembershipOptions } from './redis-membership.js';
export { RedisKeys, escapeKeyId, unescapeKeyId } from './redis-keys.js';
export {
  parseRedisTarget,
  redactRedisTarget,
  type RedisSeed,
  type RedisTarget,
} from './redis-target.js';
export { OrderedOps, callAsync } from './ordered-ops.js';
