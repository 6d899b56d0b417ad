import { expect, it } from 'vitest';
import type { Membership, RoomEvent } from './membership.js';
import { type MakeFixture, member, withFixture } from './membership-fixture.contract.js';

/** Records the lifecycle events one instance reports, as `+room` / `-room`. */
function record(m: Membership): string[] {
  const seen: string[] = [];
  m.onRoomEvent((e: RoomEvent) => seen.push(`${e.kind === 'occupied' ? '+' : '-'}${e.room}`));
  return seen;
}

/** Room lifecycle events. Called inside the contract's describe. */
export function lifecycleContract(make: MakeFixture): void {
  it('reports occupied on the first member and vacated on the last, once each', () =>
    withFixture(make, async (m) => {
      const seen = record(m);
      await m.addSocket(member('s1'));
      await m.addSocket(member('s2', 'n2'));
      await m.join('s1', ['a', 'b']);
      await m.join('s2', ['a']);
      await m.join('s1', ['a']); // already in
      expect(seen.sort()).toEqual(['+a', '+b']);
      seen.length = 0;
      await m.leave('s1', ['a', 'b', 'never']);
      expect(seen).toEqual(['-b']);
      await m.removeSocket('s2');
      expect(seen).toEqual(['-b', '-a']);
    }));

  it('reports what purges, re-asserts and raids occupy and vacate', () =>
    withFixture(make, async (m) => {
      const seen = record(m);
      await m.renewLease('dead', 50);
      await m.addSocket(member('d1', 'dead'));
      await m.join('d1', ['only-dead', 'shared']);
      await m.addSocket(member('l1', 'live'));
      await m.join('l1', ['shared']);
      seen.length = 0;
      await new Promise((r) => setTimeout(r, 120));
      while ((await m.purgeNode('dead', 10)).length > 0);
      expect(seen).toEqual(['-only-dead']);
      seen.length = 0;
      await m.reassert('live', [{ socketId: 'l1', data: null, rooms: ['fresh'] }]);
      expect(seen.sort()).toEqual(['+fresh', '-shared']);
      seen.length = 0;
      await m.raid('r1', 'fresh', 'target');
      expect(seen.sort()).toEqual(['+target', '-fresh']);
      seen.length = 0;
      await m.raid('r1', 'fresh', 'target'); // a repeat changes nothing
      await m.raid('r2', 'empty', 'target'); // an empty room moves nothing
      expect(seen).toEqual([]);
    }));

  it('under concurrent joins from two handles, exactly one occupied', () =>
    withFixture(make, async (m, peer) => {
      // Each handle reports the changes it made; together, every event once.
      const seen = peer === m ? [record(m)] : [record(m), record(peer)];
      const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
      await Promise.all(ids.map((id, i) => (i % 2 ? peer : m).addSocket(member(id))));
      await Promise.all(ids.map((id, i) => (i % 2 ? peer : m).join(id, ['race'])));
      const all = seen.flat();
      expect(all.filter((e) => e === '+race')).toHaveLength(1);
      await Promise.all(ids.map((id, i) => (i % 2 ? peer : m).removeSocket(id)));
      expect(seen.flat().filter((e) => e === '-race')).toHaveLength(1);
    }));
}
