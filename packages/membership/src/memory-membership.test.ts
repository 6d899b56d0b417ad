import { membershipContract } from './membership.contract.js';
import { MemoryMembership } from './memory-membership.js';

membershipContract('MemoryMembership', () => {
  const membership = new MemoryMembership();
  return Promise.resolve({ membership, dispose: () => membership.close() });
});
