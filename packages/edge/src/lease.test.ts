import type { Membership } from '@roomfabric/membership';
import { describe, expect, it, vi } from 'vitest';
import type { EdgeContext } from './context.js';
import { IndexRepairs } from './index-repairs.js';
import { LeaseKeeper } from './lease.js';
import type { Socket } from './socket.js';

/** A keeper over an index whose renewals answer `alive` in turn and whose re-asserts can fail. */
function setup(alive: boolean[], reassertFails: number) {
  let fails = reassertFails;
  const membership = {
    renewLease: vi.fn(() => Promise.resolve(alive.shift() ?? true)),
    reassert: vi.fn(() => {
      if (fails-- > 0) return Promise.reject(new Error('the index failed over under it'));
      return Promise.resolve();
    }),
  };
  const ctx = {
    nodeId: 'n1',
    membership: membership as Partial<Membership> as Membership,
    indexRepairs: new IndexRepairs(),
    indexHold: undefined,
    logger: { info: () => undefined, warn: () => undefined },
  } as unknown as EdgeContext<Socket>;
  return { keeper: new LeaseKeeper(ctx, () => [], 1000, 5000), membership };
}

describe('LeaseKeeper', () => {
  it('re-asserts when a renewal says the lease is gone, and not when it is alive', async () => {
    const { keeper, membership } = setup([false, true, true], 0);
    await keeper.tick();
    await keeper.tick();
    await keeper.tick();
    expect(membership.reassert).toHaveBeenCalledTimes(1);
    expect(keeper.reasserts).toBe(1);
  });

  it('a re-assert that failed half way is owed: the next renewal re-asserts though alive', async () => {
    // Only the first renewal after a failover says "not alive"; the re-assert it asked for
    // failed (the index was still failing over), so the lost writes would stay lost.
    const { keeper, membership } = setup([false, true, true, true], 2);
    await keeper.tick();
    expect(keeper.failures).toBe(1);
    await keeper.tick();
    expect(keeper.failures).toBe(2);
    await keeper.tick();
    expect(membership.reassert).toHaveBeenCalledTimes(3);
    expect(keeper.reasserts).toBe(1);
    await keeper.tick();
    expect(membership.reassert).toHaveBeenCalledTimes(3);
    expect(keeper.healthy).toBe(true);
  });
});
