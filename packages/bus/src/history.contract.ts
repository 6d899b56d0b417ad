import { Subject } from '@roomfabric/protocol';
import { describe, expect, it } from 'vitest';
import type { Bus } from './bus.js';
import { historyOffset, HistoryHeader, type History, type HistoryPolicy } from './history.js';

export interface HistoryFixture {
  /** The bus the history delivers on (to subscribe to room subjects). */
  bus: Bus;
  /** A history over `bus` with these policies. */
  make(policies: HistoryPolicy[]): History;
  /** Another process's view of the same stored history (the same instance in memory). */
  peer(history: History, policies: HistoryPolicy[]): History;
  /** Removes the policy's stored history as a whole (a new epoch). */
  wipe(history: History, policy: string): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * The behaviour every History must have, run on `MemoryHistory` and on `NatsHistory`
 * against a real JetStream. Each test uses its own policy names and rooms.
 */
export function historyContract(name: string, setup: () => Promise<HistoryFixture>): void {
  const bytes = (s: string) => Buffer.from(s);
  const text = (p: Uint8Array) => Buffer.from(p).toString();
  let n = 0;
  const unique = (prefix: string) => `${prefix}${++n}${Date.now() % 100000}`;

  describe(`History contract: ${name}`, () => {
    it('covers only rooms that match a policy', async () => {
      const f = await setup();
      try {
        const h = f.make([{ rooms: ['chat:*', 'lobby'], name: unique('c') }]);
        expect([h.covers('chat:a'), h.covers('lobby'), h.covers('lobby2'), h.covers('x')]).toEqual([
          true,
          true,
          false,
          false,
        ]);
      } finally {
        await f.dispose();
      }
    });

    it('rejects invalid policies with RF_INVALID_ARGUMENT', async () => {
      const f = await setup();
      try {
        for (const bad of [
          { rooms: [] },
          { rooms: ['a'], maxMessages: 0 },
          { rooms: ['a'], maxAgeMs: -1 },
          { rooms: ['a'], name: 'has space' },
        ]) {
          expect(() => f.make([bad])).toThrow(
            expect.objectContaining({ code: 'RF_INVALID_ARGUMENT' }),
          );
        }
      } finally {
        await f.dispose();
      }
    });

    it('delivers appended entries live, in order, with growing offsets and the previous one', async () => {
      const f = await setup();
      try {
        const name = unique('live');
        const h = f.make([{ rooms: ['r*'], name }]);
        const room = unique('r');
        expect(h.streamOf(room)).toBe(`RF_HISTORY_${name}`);
        expect(h.streamOf('other')).toBeUndefined();
        const got: Array<[string, number, string | undefined]> = [];
        const streams = new Set<string | undefined>();
        await f.bus.subscribe(Subject.room(room), (p, _s, _r, headers) => {
          got.push([text(p), historyOffset(headers), headers?.get(HistoryHeader.PREVIOUS)]);
          streams.add(headers?.get(HistoryHeader.STREAM));
        });
        const positions = [];
        for (let i = 0; i < 5; i++) positions.push(await h.append(room, bytes(`m${i}`)));
        await expect.poll(() => got.length).toBe(5);
        expect(got.map(([t]) => t)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
        expect(got.map(([, o]) => o)).toEqual(positions.map((p) => p.offset));
        expect(got.slice(1).map(([, , prev]) => Number(prev))).toEqual(
          positions.slice(0, -1).map((p) => p.offset),
        );
        for (let i = 1; i < 5; i++)
          expect(positions[i]!.offset).toBeGreaterThan(positions[i - 1]!.offset);
        expect(new Set(positions.map((p) => p.epoch)).size).toBe(1);
        expect([...streams]).toEqual([h.streamOf(room)]); // each entry names its stream
      } finally {
        await f.dispose();
      }
    });

    it('gives an empty room an anchor position that is never delivered as an entry', async () => {
      const f = await setup();
      try {
        const h = f.make([{ rooms: ['a*'], name: unique('anchor') }]);
        const room = unique('a');
        const live: number[] = [];
        await f.bus.subscribe(Subject.room(room), (_p, _s, _r, headers) =>
          live.push(historyOffset(headers)),
        );
        const p1 = await h.position(room);
        const p2 = await h.position(room);
        expect(p2).toEqual(p1); // one anchor, not two
        await h.append(room, bytes('x'));
        const r = await h.since(room, p1, 10);
        expect(r.recovered).toBe(true);
        expect(r.entries.map((e) => text(e.payload))).toEqual(['x']);
        await expect.poll(() => live).toEqual([-1, r.entries[0]!.offset]);
      } finally {
        await f.dispose();
      }
    });

    it('recovers exactly what came after a position, from another instance too', async () => {
      const f = await setup();
      try {
        const policy = { rooms: ['s*'], name: unique('since') };
        const h = f.make([policy]);
        const other = f.peer(h, [policy]);
        const room = unique('s');
        const noise = unique('s');
        await h.append(room, bytes('before'));
        const at = await h.position(room);
        for (let i = 0; i < 4; i++) {
          await h.append(room, bytes(`after${i}`));
          await h.append(noise, bytes(`noise${i}`));
        }
        const r = await other.since(room, at, 10);
        expect(r.recovered).toBe(true);
        expect(r.entries.map((e) => text(e.payload))).toEqual([
          'after0',
          'after1',
          'after2',
          'after3',
        ]);
        expect(r.position).toEqual({ offset: r.entries.at(-1)!.offset, epoch: at.epoch });
        // Nothing new: recovered, nothing to replay, same position.
        const again = await other.since(room, r.position, 10);
        expect(again).toEqual({ recovered: true, entries: [], position: r.position });
      } finally {
        await f.dispose();
      }
    });

    it('says not recovered when entries were pushed out, or more than the limit are missing', async () => {
      const f = await setup();
      try {
        const h = f.make([{ rooms: ['k*'], name: unique('cap'), maxMessages: 3 }]);
        const room = unique('k');
        await h.append(room, bytes('0'));
        const at = await h.position(room);
        await h.append(room, bytes('1'));
        await h.append(room, bytes('2'));
        const within = await h.since(room, at, 10);
        expect(within.recovered).toBe(true);
        expect(within.entries.map((e) => text(e.payload))).toEqual(['1', '2']);
        const tooMany = await h.since(room, at, 1);
        expect(tooMany.recovered).toBe(false);
        expect(tooMany.entries).toEqual([]);
        expect(tooMany.position.offset).toBe(within.position.offset);
        for (let i = 3; i < 8; i++) await h.append(room, bytes(String(i)));
        const gone = await h.since(room, at, 100);
        expect(gone.recovered).toBe(false);
        expect(gone.entries).toEqual([]);
        expect(gone.position.offset).toBeGreaterThan(at.offset);
      } finally {
        await f.dispose();
      }
    });

    it('says not recovered when entries expired', async () => {
      const f = await setup();
      try {
        const h = f.make([{ rooms: ['t*'], name: unique('age'), maxAgeMs: 1000 }]);
        const room = unique('t');
        await h.append(room, bytes('old'));
        const at = await h.position(room);
        await new Promise((r) => setTimeout(r, 1500));
        const r = await h.since(room, at, 10);
        expect(r.recovered).toBe(false);
      } finally {
        await f.dispose();
      }
    });

    it('says not recovered for another epoch, and after the history was wiped', async () => {
      const f = await setup();
      try {
        const policy = unique('wipe');
        const h = f.make([{ rooms: ['w*'], name: policy }]);
        const room = unique('w');
        await h.append(room, bytes('x'));
        const at = await h.position(room);
        expect((await h.since(room, { ...at, epoch: 'other' }, 10)).recovered).toBe(false);
        await f.wipe(h, policy);
        await h.append(room, bytes('y'));
        const r = await h.since(room, at, 10);
        expect(r.recovered).toBe(false);
        expect(r.position.epoch).not.toBe(at.epoch);
      } finally {
        await f.dispose();
      }
    });

    it('says not recovered for offset 0 (no stored entry has it), with the latest position', async () => {
      const f = await setup();
      try {
        const h = f.make([{ rooms: ['z*'], name: unique('zero') }]);
        const room = unique('z');
        await h.append(room, bytes('x'));
        const at = await h.position(room);
        const r = await h.since(room, { offset: 0, epoch: at.epoch }, 10);
        expect(r).toEqual({ recovered: false, entries: [], position: at });
      } finally {
        await f.dispose();
      }
    });

    it('gets ready again and again, and refuses once closed', async () => {
      const f = await setup();
      try {
        const h = f.make([{ rooms: ['ready:*'], name: unique('ready') }]);
        await h.ready();
        await h.ready(); // idempotent: every process calls it at start
        const position = await h.position('ready:a');
        expect(position.offset).toBeGreaterThan(0);
        await h.close();
        await expect(h.ready()).rejects.toMatchObject({ code: 'RF_HISTORY_UNAVAILABLE' });
      } finally {
        await f.dispose();
      }
    });

    it('rejects rooms that keep no history with RF_INVALID_ARGUMENT', async () => {
      const f = await setup();
      try {
        const h = f.make([{ rooms: ['only'], name: unique('none') }]);
        for (const call of [
          () => h.append('other', bytes('x')),
          () => h.position('other'),
          () => h.since('other', { offset: 1, epoch: 'e' }, 1),
        ]) {
          await expect(call()).rejects.toMatchObject({ code: 'RF_INVALID_ARGUMENT' });
        }
      } finally {
        await f.dispose();
      }
    });
  });
}
