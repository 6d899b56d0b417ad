import { expect, it } from 'vitest';
import {
  type MakeFixture,
  fill,
  member,
  sorted,
  withFixture,
} from './membership-fixture.contract.js';

/** Per-node queries, totals, socket data and reassert. Called inside the contract's describe. */
export function nodeContract(make: MakeFixture): void {
  it('lists the sockets of a node and counts sockets and nodes', () =>
    withFixture(make, async (m) => {
      expect(await m.totals()).toEqual({ sockets: 0, nodes: 0 });
      await m.addSocket(member('s1'));
      await m.addSocket(member('s2'));
      await m.addSocket(member('s3', 'n2'));
      expect(sorted(await m.socketsOf('n1'))).toEqual(['s1', 's2']);
      expect(await m.socketsOf('n2')).toEqual(['s3']);
      expect(await m.socketsOf('nobody')).toEqual([]);
      expect(await m.totals()).toEqual({ sockets: 3, nodes: 2 });
      expect(sorted(await m.nodes())).toEqual(['n1', 'n2']);

      // A node with a live lease counts even without sockets.
      await m.renewLease('n3', 5000);
      expect(await m.totals()).toEqual({ sockets: 3, nodes: 3 });
      await m.removeSocket('s3');
      expect(await m.socketsOf('n2')).toEqual([]);
      expect(sorted(await m.nodes())).toEqual(['n1', 'n3']);
      expect(await m.totals()).toEqual({ sockets: 2, nodes: 2 });
    }));

  it('moves a socket re-registered on another node, keeping its rooms', () =>
    withFixture(make, async (m) => {
      await m.addSocket(member('s1'));
      await m.join('s1', ['a']);
      await m.addSocket(member('s1', 'n2', { v: 2 }));
      expect(await m.socketsOf('n1')).toEqual([]);
      expect(await m.socketsOf('n2')).toEqual(['s1']);
      expect(await m.socket('s1')).toEqual(member('s1', 'n2', { v: 2 }));
      expect(await m.roomsOf('s1')).toEqual(['a']);
      expect(await m.members('a')).toEqual([member('s1', 'n2', { v: 2 })]);
      expect((await m.raid('r1', 'a', 'b')).moved).toEqual([{ socketId: 's1', nodeId: 'n2' }]);
      expect(await m.nodes()).toEqual(['n2']);
    }));

  it('keeps socket data as given, undefined included', () =>
    withFixture(make, async (m) => {
      const data = { user: 'ü 🎉', n: 1.5, list: [1, 'x', { deep: true }], nothing: null };
      await m.addSocket(member('s1', 'n1', data));
      await m.addSocket({ socketId: 's2', nodeId: 'n1', data: undefined });
      await m.join('s1', ['a']);
      await m.join('s2', ['a']);
      expect(await m.socket('s1')).toEqual(member('s1', 'n1', data));
      expect(await m.socket('s2')).toEqual({ socketId: 's2', nodeId: 'n1', data: undefined });
      const members = await m.members('a');
      expect(members.find((x) => x.socketId === 's1')?.data).toEqual(data);
      expect(members.find((x) => x.socketId === 's2')?.data).toBeUndefined();
    }));

  it('reasserts a node exactly: stale sockets removed, listed ones set with their rooms', () =>
    withFixture(make, async (m) => {
      await m.addSocket(member('s1'));
      await m.addSocket(member('s2'));
      await m.addSocket(member('s3', 'n2'));
      await m.join('s1', ['a', 'b']);
      await m.join('s2', ['a']);
      await m.join('s3', ['a']);
      const truth = [
        { socketId: 's1', data: { v: 2 }, rooms: ['b', 'c'] },
        { socketId: 's4', data: { v: 4 }, rooms: ['a', '{x}'] },
        { socketId: 's5', data: undefined, rooms: [] },
      ];
      for (let run = 0; run < 2; run++) {
        await m.reassert('n1', truth);
        expect(sorted(await m.socketsOf('n1'))).toEqual(['s1', 's4', 's5']);
        expect(await m.socket('s2')).toBeUndefined();
        expect(await m.roomsOf('s2')).toEqual([]);
        expect(await m.socket('s1')).toEqual(member('s1', 'n1', { v: 2 }));
        expect(sorted(await m.roomsOf('s1'))).toEqual(['b', 'c']);
        expect(sorted(await m.roomsOf('s4'))).toEqual(['a', '{x}']);
        expect(await m.roomsOf('s5')).toEqual([]);
        expect(sorted((await m.members('a')).map((x) => x.socketId))).toEqual(['s3', 's4']);
        expect(await m.count('b')).toBe(1);
        expect(await m.count('{x}')).toBe(1);
        // Other nodes are untouched.
        expect(await m.socket('s3')).toEqual(member('s3', 'n2'));
        expect(await m.totals()).toEqual({ sockets: 4, nodes: 2 });
      }
      await m.reassert('n1', []);
      expect(await m.socketsOf('n1')).toEqual([]);
      expect(await m.count('b')).toBe(0);
      expect(await m.members('a')).toEqual([member('s3', 'n2')]);
      expect(await m.nodes()).toEqual(['n2']);
    }));

  it('reasserts only the listed sockets, and scrubs the pairs that name the node', () =>
    withFixture(make, async (m) => {
      await m.addSocket(member('s1'));
      await m.addSocket(member('s2'));
      await m.addSocket(member('s3', 'n2'));
      await m.join('s1', ['a', 'b']);
      await m.join('s2', ['a', 'b']);
      await m.join('s3', ['a']);
      await m.reassert('n1', [{ socketId: 's1', data: undefined, rooms: ['a', 'b', 'c'] }], {
        only: true,
        scrub: [
          { socketId: 's1', room: 'a' }, // listed with the snapshot's rooms: kept
          { socketId: 's2', room: 'b' }, // not listed, on n1: taken out
          { socketId: 's3', room: 'a' }, // another node's: kept
          { socketId: 'gone', room: 'a' }, // unknown: nothing
        ],
      });
      expect(sorted(await m.socketsOf('n1'))).toEqual(['s1', 's2']);
      expect(sorted(await m.roomsOf('s1'))).toEqual(['a', 'b', 'c']);
      expect(sorted(await m.roomsOf('s2'))).toEqual(['a']);
      expect(sorted((await m.members('a')).map((x) => x.socketId))).toEqual(['s1', 's2', 's3']);
      expect(sorted((await m.members('b')).map((x) => x.socketId))).toEqual(['s1']);
    }));

  it('reasserts a node with more sockets than one chunk', () =>
    withFixture(make, async (m) => {
      const ids = await fill(m, { prefix: 'old', count: 300, rooms: ['a'] });
      const truth = Array.from({ length: 1100 }, (_, i) => ({
        socketId: `s${i}`,
        data: { i },
        rooms: i % 2 === 0 ? ['even', 'all'] : ['all'],
      }));
      await m.reassert('n1', truth);
      expect(await m.count('all')).toBe(1100);
      expect(await m.count('even')).toBe(550);
      expect(await m.count('a')).toBe(0);
      expect(await m.socket(ids[0] ?? '')).toBeUndefined();
      expect((await m.socketsOf('n1')).length).toBe(1100);
      await m.reassert('n1', truth.slice(0, 600));
      expect(await m.count('all')).toBe(600);
      expect(await m.totals()).toEqual({ sockets: 600, nodes: 1 });
    }));
}
