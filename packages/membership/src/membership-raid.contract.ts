import { expect, it } from 'vitest';
import type { Membership, RaidResult } from './membership.js';
import {
  type MakeFixture,
  fill,
  member,
  sorted,
  withFixture,
} from './membership-fixture.contract.js';

/**
 * Bound on how long a reader may see the movers of a 3,000-member raid across slots in both
 * rooms (measured 60-120 ms on the 2-core dev machine; generous for a noisy one).
 */
const BOTH_ROOMS_BOUND_MS = 1500;

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
    withFixture(make, async (m, reader, fixture) => {
      // Rooms that one atomic step can raid between (for Redis: one slot, a shared {tag}).
      const [from, to] = fixture.sameSlotRooms ?? ['from', 'to'];
      const size = 3000;
      const ids = await fill(m, { prefix: 's', count: size, rooms: [from, 'side'] });
      const watched = [ids[0] ?? '', ids[size - 1] ?? ''];
      const seen: string[] = [];
      let done = false;
      const poll = (async () => {
        let i = 0;
        do {
          const [inFromCount, inToCount, rooms] = await Promise.all([
            reader.count(from),
            reader.count(to),
            reader.roomsOf(watched[i++ % 2] ?? ''),
          ]);
          const inFrom = rooms.includes(from);
          const inTo = rooms.includes(to);
          seen.push(
            `${inFromCount === 0 || inFromCount === size}/${inToCount === 0 || inToCount === size}/${inFrom !== inTo}`,
          );
        } while (!done);
      })();
      const result = await m.raid('big', from, to);
      done = true;
      await poll;
      expect(result.moved).toHaveLength(size);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.filter((s) => s !== 'true/true/true')).toEqual([]);
      expect(await m.count(to)).toBe(size);
      expect(await m.count('side')).toBe(size);
    }));

  it('across slots, never lets a reader see a mover in neither room, and in both only briefly', () =>
    withFixture(make, async (m, reader) => {
      // 'from' and 'to' have no common {tag}: on Redis, the multi-step raid protocol.
      const size = 3000;
      const ids = await fill(m, { prefix: 's', count: size, rooms: ['from', 'side'] });
      const watch = await watchRaid(
        reader,
        'from',
        'to',
        size,
        [ids[0] ?? '', ids[size - 1] ?? ''],
        () => m.raid('big', 'from', 'to'),
      );
      console.log(`cross-slot raid of ${size}: ${describeWatch(watch)}`);
      expect(watch.neither).toEqual([]);
      expect(watch.bothMaxMs).toBeLessThan(BOTH_ROOMS_BOUND_MS);
      expect(watch.result.moved).toHaveLength(size);
      expect(await m.count('from')).toBe(0);
      expect(await m.count('to')).toBe(size);
      expect(sorted(await m.roomsOf(ids[0] ?? ''))).toEqual(['side', 'to']);
    }));
}

/** What {@link watchRaid} saw. */
export interface RaidWatch {
  result: RaidResult;
  raidMs: number;
  polls: number;
  /** Reads that found a mover in neither room (by count, or in a watched socket's rooms). */
  neither: string[];
  /**
   * Bounds on how long a reader could see movers in both rooms: at least from the first to
   * the last read that did, at most from the last read before the raid to the first after.
   */
  bothMinMs: number;
  bothMaxMs: number;
}

export const describeWatch = (w: RaidWatch): string =>
  `raid ${w.raidMs.toFixed(1)} ms; movers seen in both rooms for ${w.bothMinMs.toFixed(1)}-${w.bothMaxMs.toFixed(1)} ms (${w.polls} reads)`;

/**
 * Runs `raid` (moving `size` members from `from` to `to`) while `reader` polls both counts
 * and the rooms of the `watched` movers, and says what the reads saw. Each read takes
 * `count(from)` strictly before `count(to)`: the cross-slot protocol adds to `to` before it
 * removes from `from`, so a reader that misses a mover in `from` must then find it in `to`.
 */
export async function watchRaid(
  reader: Membership,
  from: string,
  to: string,
  size: number,
  watched: readonly string[],
  raid: () => Promise<RaidResult>,
): Promise<RaidWatch> {
  type Phase = 'before' | 'both' | 'after';
  const reads: { start: number; end: number; phase: Phase }[] = [];
  const neither: string[] = [];
  let done = false;
  let failed = false;
  const poll = (async () => {
    let i = 0;
    while (!failed) {
      const start = performance.now();
      const socketId = watched[i++ % watched.length] ?? '';
      const [fromCount, rooms] = await Promise.all([reader.count(from), reader.roomsOf(socketId)]);
      const toCount = await reader.count(to);
      const end = performance.now();
      const inFrom = rooms.includes(from);
      const inTo = rooms.includes(to);
      if (!inFrom && !inTo) neither.push(`roomsOf(${socketId}) = ${JSON.stringify(rooms)}`);
      if (fromCount + toCount < size) neither.push(`counts ${fromCount} + ${toCount} < ${size}`);
      const phase: Phase =
        inFrom && !inTo && fromCount === size && toCount === 0
          ? 'before'
          : !inFrom && inTo && fromCount === 0 && toCount === size
            ? 'after'
            : 'both';
      reads.push({ start, end, phase });
      if (done && phase === 'after') return;
      // An in-process index answers at once: let timers and the raid run between reads.
      await new Promise((r) => setImmediate(r));
    }
  })();
  // Let the reader see the rooms before the raid.
  while (reads.length === 0) await new Promise((r) => setTimeout(r, 1));
  const started = performance.now();
  let result: RaidResult;
  try {
    result = await raid();
  } catch (err) {
    failed = true;
    await poll.catch(() => undefined);
    throw err;
  }
  const raidMs = performance.now() - started;
  done = true;
  await poll;
  // Reads alternate between watched movers, so a read of one may say "before" while the
  // other has moved: the window runs from the last read of an unbroken "before" prefix to
  // the first read of an unbroken "after" suffix.
  let before = -1;
  while (reads[before + 1]?.phase === 'before') before++;
  let after = reads.length;
  while (after > 0 && reads[after - 1]?.phase === 'after') after--;
  const both = reads.filter((r) => r.phase === 'both');
  const first = both[0];
  const last = both.at(-1);
  const lastBefore = reads[before];
  const firstAfter = reads[after];
  return {
    result,
    raidMs,
    polls: reads.length,
    neither,
    bothMinMs: first && last ? Math.max(0, last.start - first.end) : 0,
    bothMaxMs: lastBefore && firstAfter ? firstAfter.end - lastBefore.start : Infinity,
  };
}
