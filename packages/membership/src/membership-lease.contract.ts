import { eventually } from '@roomfabric/testkit';
import { expect, it } from 'vitest';
import {
  type MakeFixture,
  fill,
  member,
  sleep,
  sorted,
  withFixture,
} from './membership-fixture.contract.js';
import type { Membership } from './membership.js';

/** Resolves once `nodeId` is listed as expired. */
const lapsed = (m: Membership, nodeId: string) =>
  eventually(async () => (await m.expiredNodes()).includes(nodeId), {
    everyMs: 20,
    what: `${nodeId} listed as expired`,
  });

/** Purges a node until it resolves empty; returns the batches. */
async function purgeAll(m: Membership, nodeId: string, batch: number) {
  const batches: string[][] = [];
  for (;;) {
    const purged = await m.purgeNode(nodeId, batch);
    if (purged.length === 0) return batches;
    batches.push(purged.map((p) => p.socketId));
  }
}

/** Leases, expired nodes and purges. Called inside the contract's describe. */
export function leaseContract(make: MakeFixture): void {
  it('renews a lease: false when new or lapsed, true while alive', () =>
    withFixture(make, async (m) => {
      expect(await m.renewLease('n1', 200)).toBe(false);
      expect(await m.renewLease('n1', 200)).toBe(true);
      expect(await m.renewLease('n1', 200)).toBe(true);
      await sleep(350);
      expect(await m.renewLease('n1', 5000)).toBe(false);
      expect(await m.renewLease('n1', 5000)).toBe(true);
      await expect(m.renewLease('n1', 0)).rejects.toMatchObject({ code: 'RF_INVALID_ARGUMENT' });
    }));

  it('lists a node as expired once its lease lapses, until it renews', () =>
    withFixture(make, async (m) => {
      await m.renewLease('n1', 150);
      await m.renewLease('n2', 5000);
      await m.addSocket(member('s1'));
      expect(await m.expiredNodes()).toEqual([]);
      await lapsed(m, 'n1');
      expect(await m.expiredNodes()).toEqual(['n1']);
      expect(await m.nodes()).toEqual(expect.arrayContaining(['n1', 'n2']));
      expect(await m.renewLease('n1', 5000)).toBe(false);
      expect(await m.expiredNodes()).toEqual([]);
    }));

  it('drops a lease: forgotten without sockets, expired at once with sockets', () =>
    withFixture(make, async (m) => {
      await m.renewLease('n1', 5000);
      await m.renewLease('n2', 5000);
      await m.addSocket(member('s2', 'n2'));
      await m.dropLease('n1');
      await m.dropLease('n2');
      expect(await m.expiredNodes()).toEqual(['n2']);
      expect(await m.nodes()).toEqual(['n2']);
      expect(await m.renewLease('n1', 5000)).toBe(false);
      expect(await m.purgeNode('n2')).toEqual([{ socketId: 's2', rooms: [] }]);
      expect(await m.expiredNodes()).toEqual([]);
    }));

  it('purges a lapsed node in batches, each socket leaving every room', () =>
    withFixture(make, async (m) => {
      await m.renewLease('n1', 300);
      await m.renewLease('n2', 5000);
      const ids = await fill(m, { prefix: 's', count: 7, rooms: ['a', '{x}'] });
      await m.addSocket(member('other', 'n2'));
      await m.join('other', ['a']);
      expect(await m.purgeNode('n1', 3)).toEqual([]); // lease still alive
      await lapsed(m, 'n1');

      const first = await m.purgeNode('n1', 3);
      expect(first).toHaveLength(3);
      for (const p of first) expect(sorted(p.rooms)).toEqual(['a', '{x}']);
      expect(await m.count('a')).toBe(5);
      expect(await m.expiredNodes()).toEqual(['n1']);

      const rest = await purgeAll(m, 'n1', 3);
      expect(rest.map((b) => b.length)).toEqual([3, 1]);
      const all = [...first.map((p) => p.socketId), ...rest.flat()];
      expect(sorted(all)).toEqual(sorted(ids));
      expect(await m.members('a')).toEqual([member('other', 'n2')]);
      expect(await m.count('{x}')).toBe(0);
      expect(await m.socket('s0')).toBeUndefined();
      expect(await m.roomsOf('s0')).toEqual([]);
      expect(await m.socketsOf('n1')).toEqual([]);
      expect(await m.expiredNodes()).toEqual([]); // forgotten
      expect(await m.nodes()).toEqual(['n2']);
      expect(await m.totals()).toEqual({ sockets: 1, nodes: 1 });
      await expect(m.purgeNode('n1', 0)).rejects.toMatchObject({ code: 'RF_INVALID_ARGUMENT' });
    }));

  it('stops purging when the lease comes back', () =>
    withFixture(make, async (m) => {
      await m.renewLease('n1', 100);
      await fill(m, { prefix: 's', count: 5, rooms: ['a'] });
      await lapsed(m, 'n1');
      expect(await m.purgeNode('n1', 2)).toHaveLength(2);
      expect(await m.renewLease('n1', 5000)).toBe(false);
      expect(await m.purgeNode('n1', 2)).toEqual([]);
      expect(await m.socketsOf('n1')).toHaveLength(3);
      expect(await m.count('a')).toBe(3);
      expect(await m.expiredNodes()).toEqual([]);
    }));

  it('lets concurrent purgers share a node without reporting a socket twice', () =>
    withFixture(make, async (m, peer) => {
      await m.renewLease('n1', 100);
      const ids = await fill(m, { prefix: 's', count: 300, rooms: ['a', 'b'] });
      await lapsed(m, 'n1');
      const [x, y] = await Promise.all([purgeAll(m, 'n1', 7), purgeAll(peer, 'n1', 7)]);
      const reported = [...x.flat(), ...y.flat()];
      expect(reported).toHaveLength(300);
      expect(sorted(reported)).toEqual(sorted(ids));
      expect(await m.count('a')).toBe(0);
      expect(await m.expiredNodes()).toEqual([]);
    }));
}
