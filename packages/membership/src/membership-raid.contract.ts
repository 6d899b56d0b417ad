import { expect, it } from 'vitest';
import {
  type MakeFixture,
  fill,
  member,
  sorted,
  withFixture,
} from './membership-fixture.contract.js';

/** Raids. Called inside the contract's describe. */
export function raidContract(make: MakeFixture): void {
  it('moves every member of a room into another one', () =>
    withFixture(make, async (m) => {
      for (let i = 1; i <= 5; i++) await m.addSocket(member(`s${i}`, i % 2 ? 'n1' : 'n2'));
      await m.addSocket(member('s6'));
      for (let i = 1; i <= 5; i++) await m.join(`s${i}`, ['from {x}']);
      await m.join('s1', ['to:🎉']); // already in both rooms
      await m.join('s2', ['other']);
      await m.join('s6', ['to:🎉']);

      const result = await m.raid('r1', 'from {x}', 'to:🎉');
      expect(result.repeated).toBe(false);
      const moved = [...result.moved].sort((a, b) => a.socketId.localeCompare(b.socketId));
      expect(moved).toEqual([
        { socketId: 's1', nodeId: 'n1' },
        { socketId: 's2', nodeId: 'n2' },
        { socketId: 's3', nodeId: 'n1' },
        { socketId: 's4', nodeId: 'n2' },
        { socketId: 's5', nodeId: 'n1' },
      ]);
      expect(await m.count('from {x}')).toBe(0);
      expect(await m.members('from {x}')).toEqual([]);
      expect(await m.count('to:🎉')).toBe(6);
      expect(await m.roomsOf('s1')).toEqual(['to:🎉']);
      expect(sorted(await m.roomsOf('s2'))).toEqual(['other', 'to:🎉']);
      const members = await m.members('to:🎉');
      expect(members.find((x) => x.socketId === 's4')).toEqual(member('s4', 'n2'));
    }));

  it('runs a raid id once: a repeat returns the first result and moves nothing', () =>
    withFixture(make, async (m) => {
      await fill(m, { prefix: 's', count: 3, rooms: ['a'] });
      const first = await m.raid('r1', 'a', 'b');
      expect(first.moved).toHaveLength(3);
      await m.addSocket(member('late'));
      await m.join('late', ['a']);

      const again = await m.raid('r1', 'a', 'b');
      expect(again.repeated).toBe(true);
      expect(sorted(again.moved.map((x) => x.socketId))).toEqual(['s0', 's1', 's2']);
      expect(await m.roomsOf('late')).toEqual(['a']);
      expect(await m.count('b')).toBe(3);

      const next = await m.raid('r2', 'a', 'b');
      expect(next).toEqual({ moved: [{ socketId: 'late', nodeId: 'n1' }], repeated: false });
      expect(await m.count('b')).toBe(4);
    }));

  it('raids an empty room to nothing, and refuses a raid into the same room', () =>
    withFixture(make, async (m) => {
      expect(await m.raid('r1', 'empty', 'b')).toEqual({ moved: [], repeated: false });
      expect(await m.raid('r1', 'empty', 'b')).toEqual({ moved: [], repeated: true });
      expect(await m.count('b')).toBe(0);
      await expect(m.raid('r2', 'a', 'a')).rejects.toMatchObject({ code: 'RF_INVALID_ARGUMENT' });
    }));

  it('never lets a concurrent reader see a raid half done', () =>
    withFixture(make, async (m, reader) => {
      const size = 3000;
      const ids = await fill(m, { prefix: 's', count: size, rooms: ['from', 'side'] });
      const watched = [ids[0] ?? '', ids[size - 1] ?? ''];
      const seen: string[] = [];
      let done = false;
      const poll = (async () => {
        let i = 0;
        do {
          const [from, to, rooms] = await Promise.all([
            reader.count('from'),
            reader.count('to'),
            reader.roomsOf(watched[i++ % 2] ?? ''),
          ]);
          const inFrom = rooms.includes('from');
          const inTo = rooms.includes('to');
          seen.push(`${from === 0 || from === size}/${to === 0 || to === size}/${inFrom !== inTo}`);
        } while (!done);
      })();
      const result = await m.raid('big', 'from', 'to');
      done = true;
      await poll;
      expect(result.moved).toHaveLength(size);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.filter((s) => s !== 'true/true/true')).toEqual([]);
      expect(await m.count('to')).toBe(size);
      expect(await m.count('side')).toBe(size);
    }));
}
