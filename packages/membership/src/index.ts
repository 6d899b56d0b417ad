export type { MemberInfo, Membership } from './membership.js';
export { MemoryMembership } from './memory-membership.js';
