import type { ContractFixture } from './membership-fixture.contract.js';
import { RedisMembership } from './redis-membership.js';

/**
 * A contract fixture on a Redis index (one Redis, or a cluster's seed URLs): two
 * instances on one key prefix, so the concurrency tests read through another connection.
 */
export function redisFixture(url: string | readonly string[], keyPrefix: string): ContractFixture {
  const membership = new RedisMembership({ url, keyPrefix });
  const peer = new RedisMembership({ url, keyPrefix });
  return {
    membership,
    peer,
    sameSlotRooms: ['{raid}from', '{raid}to'],
    dispose: async () => {
      await membership.close();
      await peer.close();
    },
  };
}
