import { describe, expect, it } from 'vitest';
import { leaseContract } from './membership-lease.contract.js';
import { lifecycleContract } from './membership-lifecycle.contract.js';
import { nodeContract } from './membership-node.contract.js';
import { presenceContract } from './membership-presence.contract.js';
import { raidContract } from './membership-raid.contract.js';
import { type MakeFixture, member, sorted } from './membership-fixture.contract.js';

export type { ContractFixture, MakeFixture } from './membership-fixture.contract.js';

/** The behaviour every Membership implementation must have. */
export function membershipContract(name: string, make: MakeFixture): void {
  describe(`Membership contract: ${name}`, () => {
    it('keeps both directions of the index in step on join and leave', async () => {
      const { membership: m, dispose } = await make();
      try {
        await m.addSocket(member('s1'));
        await m.addSocket(member('s2', 'n2'));
        expect(sorted(await m.join('s1', ['a', 'b']))).toEqual(['a', 'b']);
        expect(await m.join('s1', ['a', 'c'])).toEqual(['c']);
        await m.join('s2', ['a']);
        expect(sorted(await m.roomsOf('s1'))).toEqual(['a', 'b', 'c']);
        expect(await m.count('a')).toBe(2);
        const members = await m.members('a');
        expect(members.map((x) => x.socketId).sort()).toEqual(['s1', 's2']);
        expect(members.find((x) => x.socketId === 's2')).toEqual(member('s2', 'n2'));
        expect(sorted(await m.leave('s1', ['a', 'x']))).toEqual(['a']);
        expect(await m.count('a')).toBe(1);
        expect(sorted(await m.roomsOf('s1'))).toEqual(['b', 'c']);
      } finally {
        await dispose();
      }
    });

    it('names the nodes that hold members of a room, each once', async () => {
      const { membership: m, dispose } = await make();
      try {
        expect(await m.nodesOf('a')).toEqual([]);
        for (const [id, node] of [
          ['s1', 'n1'],
          ['s2', 'n1'],
          ['s3', 'n2'],
          ['s4', 'n3'],
        ] as const) {
          await m.addSocket({ ...member(id, node), user: `u-${id}` });
          await m.join(id, id === 's4' ? ['b'] : ['a']);
        }
        expect(sorted(await m.nodesOf('a'))).toEqual(['n1', 'n2']);
        expect(await m.nodesOf('b')).toEqual(['n3']);
        await m.leave('s3', ['a']);
        expect(await m.nodesOf('a')).toEqual(['n1']);
        await m.removeSocket('s1');
        await m.removeSocket('s2');
        expect(await m.nodesOf('a')).toEqual([]);
      } finally {
        await dispose();
      }
    });

    it('removes a socket from every room in one step', async () => {
      const { membership: m, dispose } = await make();
      try {
        await m.addSocket(member('s1'));
        await m.join('s1', ['a', 'b']);
        expect(sorted(await m.removeSocket('s1'))).toEqual(['a', 'b']);
        expect(await m.count('a')).toBe(0);
        expect(await m.members('b')).toEqual([]);
        expect(await m.roomsOf('s1')).toEqual([]);
        expect(await m.socket('s1')).toBeUndefined();
        expect(await m.removeSocket('s1')).toEqual([]);
      } finally {
        await dispose();
      }
    });

    it('is idempotent, so every change is safe to retry', async () => {
      const { membership: m, dispose } = await make();
      try {
        await m.addSocket(member('s1'));
        await m.addSocket(member('s1'));
        await m.join('s1', ['a']);
        expect(await m.join('s1', ['a'])).toEqual([]);
        await m.leave('s1', ['a']);
        expect(await m.leave('s1', ['a'])).toEqual([]);
        expect(await m.count('a')).toBe(0);
        expect(await m.socket('s1')).toEqual(member('s1'));
      } finally {
        await dispose();
      }
    });

    it('refuses to join an unknown socket', async () => {
      const { membership: m, dispose } = await make();
      try {
        await expect(m.join('ghost', ['a'])).rejects.toMatchObject({ code: 'RF_INVALID_ARGUMENT' });
        expect(await m.count('a')).toBe(0);
        expect(await m.leave('ghost', ['a'])).toEqual([]);
      } finally {
        await dispose();
      }
    });

    it('handles room ids with any characters', async () => {
      const { membership: m, dispose } = await make();
      try {
        const rooms = ['a.b', 'a b', '{x}', '🎉', 'x:y:z', '*', '>'];
        await m.addSocket(member('s1'));
        await m.join('s1', rooms);
        for (const r of rooms) expect(await m.count(r), r).toBe(1);
        expect(sorted(await m.roomsOf('s1'))).toEqual(sorted(rooms));
      } finally {
        await dispose();
      }
    });

    it('never lets a reader see half of a multi-room change', async () => {
      const { membership: m, dispose } = await make();
      try {
        await m.addSocket(member('s1'));
        const rooms = Array.from({ length: 50 }, (_, i) => `r${i}`);
        const reads: number[] = [];
        const writer = (async () => {
          for (let i = 0; i < 20; i++) {
            await m.join('s1', rooms);
            await m.removeSocket('s1');
            await m.addSocket(member('s1'));
          }
        })();
        let done = false;
        void writer.then(() => (done = true));
        while (!done) reads.push((await m.roomsOf('s1')).length);
        await writer;
        expect(reads.every((n) => n === 0 || n === 50)).toBe(true);
      } finally {
        await dispose();
      }
    });

    it('fails with RF_MEMBERSHIP_UNAVAILABLE after close', async () => {
      const { membership: m, dispose } = await make();
      try {
        await m.close();
        await expect(m.count('a')).rejects.toMatchObject({ code: 'RF_MEMBERSHIP_UNAVAILABLE' });
      } finally {
        await dispose();
      }
    });

    nodeContract(make);
    leaseContract(make);
    raidContract(make);
    lifecycleContract(make);
    presenceContract(make);
  });
}
