import { expect, it } from 'vitest';
import type { MemberInfo, Membership, PresenceEvent } from './membership.js';
import { type MakeFixture, fill, sorted, withFixture } from './membership-fixture.contract.js';

/** A socket of `user` (or an anonymous one) with data naming both. */
const tab = (socketId: string, user?: string, nodeId = 'n1'): MemberInfo =>
  user === undefined
    ? { socketId, nodeId, data: { tab: socketId } }
    : { socketId, nodeId, user, data: { tab: socketId, name: `${user}!` } };

/** Records the presence events one instance reports, as `+user@room` / `-user@room`. */
function record(m: Membership): { seen: string[]; events: PresenceEvent[] } {
  const seen: string[] = [];
  const events: PresenceEvent[] = [];
  m.onPresence((e) => {
    events.push(e);
    seen.push(`${e.kind === 'join' ? '+' : '-'}${e.user}@${e.room}`);
  });
  return { seen, events };
}

/** Distinct users of a room, from `presence()`. */
async function usersIn(m: Membership, room: string): Promise<string[]> {
  return sorted([...new Set((await m.presence(room)).map((p) => p.user))]);
}

/** Presence: per-user counts, first-join / last-leave events. Called inside the contract's describe. */
export function presenceContract(make: MakeFixture): void {
  it('reports a user once however many sockets: first join, last leave', () =>
    withFixture(make, async (m) => {
      const { seen, events } = record(m);
      for (const id of ['t1', 't2', 't3'])
        await m.addSocket(tab(id, 'ada', id === 't3' ? 'n2' : 'n1'));
      await m.addSocket(tab('anon'));
      for (const id of ['t1', 't2', 't3', 'anon']) await m.join(id, ['doc']);
      expect(seen).toEqual(['+ada@doc']);
      expect(events[0]).toEqual({
        room: 'doc',
        kind: 'join',
        user: 'ada',
        socketId: 't1',
        data: { tab: 't1', name: 'ada!' },
      });
      expect(await m.presenceStats('doc')).toEqual({ sockets: 4, users: 1 });
      const listed = await m.presence('doc');
      expect(listed.map((p) => p.socketId).sort()).toEqual(['t1', 't2', 't3']);
      expect(listed.find((p) => p.socketId === 't3')).toEqual({
        socketId: 't3',
        nodeId: 'n2',
        user: 'ada',
        data: { tab: 't3', name: 'ada!' },
      });
      expect((await m.members('doc')).find((x) => x.socketId === 't2')?.user).toBe('ada');
      expect((await m.members('doc')).find((x) => x.socketId === 'anon')?.user).toBeUndefined();
      expect((await m.socket('t1'))?.user).toBe('ada');

      await m.leave('t1', ['doc']);
      await m.removeSocket('t2');
      expect(seen).toEqual(['+ada@doc']);
      expect(await m.presenceStats('doc')).toEqual({ sockets: 2, users: 1 });
      await m.leave('t3', ['doc']);
      expect(seen).toEqual(['+ada@doc', '-ada@doc']);
      expect(events[1]).toMatchObject({ kind: 'leave', socketId: 't3', data: { tab: 't3' } });
      expect(await m.presenceStats('doc')).toEqual({ sockets: 1, users: 0 });
      expect(await m.presence('doc')).toEqual([]);
      await m.removeSocket('anon');
      expect(await m.presenceStats('doc')).toEqual({ sockets: 0, users: 0 });
      expect(seen).toEqual(['+ada@doc', '-ada@doc']);
    }));

  it('keeps users apart, per room, and reports the rooms a removal leaves', () =>
    withFixture(make, async (m) => {
      const { seen } = record(m);
      await m.addSocket(tab('a1', 'ada'));
      await m.addSocket(tab('b1', 'bob'));
      await m.join('a1', ['x', 'y', 'x']);
      await m.join('b1', ['x']);
      expect(sorted(seen)).toEqual(['+ada@x', '+ada@y', '+bob@x']);
      expect(await usersIn(m, 'x')).toEqual(['ada', 'bob']);
      expect(await m.presenceStats('x')).toEqual({ sockets: 2, users: 2 });
      seen.length = 0;
      await m.leave('a1', ['never']);
      await m.removeSocket('a1');
      await m.removeSocket('a1'); // unknown now: nothing
      expect(sorted(seen)).toEqual(['-ada@x', '-ada@y']);
      expect(await m.presenceStats('y')).toEqual({ sockets: 0, users: 0 });
    }));

  it('keeps presence across a node change, and moves it when the user changes', () =>
    withFixture(make, async (m) => {
      const { seen } = record(m);
      await m.addSocket(tab('s1', 'ada'));
      await m.join('s1', ['r']);
      await m.addSocket(tab('s1', 'ada')); // idempotent
      await m.addSocket(tab('s1', 'ada', 'n2')); // moved node, same user
      expect(seen).toEqual(['+ada@r']);
      expect((await m.presence('r'))[0]).toMatchObject({ nodeId: 'n2', user: 'ada' });
      await m.addSocket(tab('s1', 'eve', 'n2'));
      expect(seen).toEqual(['+ada@r', '-ada@r', '+eve@r']);
      await m.addSocket(tab('s1', undefined, 'n2'));
      expect(seen).toEqual(['+ada@r', '-ada@r', '+eve@r', '-eve@r']);
      expect(await m.presenceStats('r')).toEqual({ sockets: 1, users: 0 });
      await m.addSocket({ socketId: 'e', nodeId: 'n1', user: '', data: null }); // '' is no user
      await m.join('e', ['r']);
      expect(await m.presenceStats('r')).toEqual({ sockets: 2, users: 0 });
    }));

  it('reports the leaves of a purge', () =>
    withFixture(make, async (m) => {
      const { seen } = record(m);
      await m.renewLease('dead', 50);
      await m.addSocket(tab('d1', 'ada', 'dead'));
      await m.addSocket(tab('d2', 'bob', 'dead'));
      await m.addSocket(tab('l1', 'bob', 'live'));
      for (const id of ['d1', 'd2', 'l1']) await m.join(id, ['room']);
      seen.length = 0;
      await new Promise((r) => setTimeout(r, 120));
      while ((await m.purgeNode('dead', 1)).length > 0);
      expect(seen).toEqual(['-ada@room']); // bob still has a socket on a live node
      expect(await m.presenceStats('room')).toEqual({ sockets: 1, users: 1 });
    }));

  it('makes presence match a re-asserted snapshot', () =>
    withFixture(make, async (m) => {
      const { seen } = record(m);
      await m.addSocket(tab('s1', 'ada'));
      await m.addSocket(tab('s2', 'bob'));
      await m.addSocket(tab('s3', 'cat'));
      await m.join('s1', ['a', 'b']);
      await m.join('s2', ['a']);
      await m.join('s3', ['a']);
      seen.length = 0;
      await m.reassert('n1', [
        { socketId: 's1', user: 'ada', data: null, rooms: ['b', 'c'] },
        { socketId: 's2', user: 'bea', data: null, rooms: ['a'] },
        { socketId: 's4', user: 'ada', data: null, rooms: ['c'] },
      ]);
      expect(sorted(seen)).toEqual(['+ada@c', '+bea@a', '-ada@a', '-bob@a', '-cat@a']);
      expect(await usersIn(m, 'a')).toEqual(['bea']);
      expect(await m.presenceStats('c')).toEqual({ sockets: 2, users: 1 });
      expect(await m.presenceStats('b')).toEqual({ sockets: 1, users: 1 });
    }));

  it('moves presence with a raid, counting a socket in both rooms once', () =>
    withFixture(make, async (m) => {
      const { seen, events } = record(m);
      await m.addSocket(tab('a1', 'ada'));
      await m.addSocket(tab('a2', 'ada', 'n2'));
      await m.addSocket(tab('b1', 'bob'));
      await m.addSocket(tab('c1', 'cat'));
      await m.addSocket(tab('c2', 'cat'));
      await m.addSocket(tab('anon'));
      for (const id of ['a1', 'a2', 'b1', 'c1', 'anon']) await m.join(id, ['from']);
      await m.join('b1', ['to']); // in both rooms
      await m.join('c2', ['to']);
      seen.length = 0;
      events.length = 0;
      await m.raid('r1', 'from', 'to');
      expect(sorted(seen)).toEqual(['+ada@to', '-ada@from', '-bob@from', '-cat@from']);
      const adaJoin = events.find((e) => e.kind === 'join');
      expect(['a1', 'a2']).toContain(adaJoin?.socketId);
      expect(adaJoin?.data).toEqual({ tab: adaJoin?.socketId, name: 'ada!' });
      expect(await m.presenceStats('from')).toEqual({ sockets: 0, users: 0 });
      expect(await m.presenceStats('to')).toEqual({ sockets: 6, users: 3 });
      // The counts are exact: every socket leaving again ends every user's presence once.
      seen.length = 0;
      for (const id of ['a1', 'a2', 'b1', 'c1', 'c2', 'anon']) await m.removeSocket(id);
      expect(sorted(seen)).toEqual(['-ada@to', '-bob@to', '-cat@to']);
      expect(await m.presenceStats('to')).toEqual({ sockets: 0, users: 0 });
    }));

  it('moves presence with a raid into an empty room, and with an anonymous crowd', () =>
    withFixture(make, async (m) => {
      const { seen } = record(m);
      await m.addSocket(tab('a1', 'ada'));
      await m.addSocket(tab('a2', 'ada'));
      await m.join('a1', ['from']);
      await m.join('a2', ['from']);
      seen.length = 0;
      await m.raid('r1', 'from', 'empty');
      expect(sorted(seen)).toEqual(['+ada@empty', '-ada@from']);
      expect(await m.presenceStats('empty')).toEqual({ sockets: 2, users: 1 });
      await m.raid('r1', 'from', 'empty'); // a repeat reports nothing
      expect(seen).toHaveLength(2);

      await fill(m, { prefix: 'anon', count: 5, rooms: ['crowd'] }); // no users
      seen.length = 0;
      await m.raid('r2', 'crowd', 'empty');
      expect(seen).toEqual([]);
      expect(await m.presenceStats('empty')).toEqual({ sockets: 7, users: 1 });
      await m.leave('a1', ['empty']);
      await m.leave('a2', ['empty']);
      expect(seen).toEqual(['-ada@empty']);
    }));

  it('moves the user counts of a raid without a listener too', () =>
    withFixture(make, async (m) => {
      await m.addSocket(tab('a1', 'ada'));
      await m.addSocket(tab('b1', 'bob'));
      await m.join('a1', ['from', 'to']);
      await m.join('b1', ['from']);
      await m.raid('r1', 'from', 'to');
      expect(await m.presenceStats('to')).toEqual({ sockets: 2, users: 2 });
      const { seen } = record(m);
      await m.removeSocket('a1');
      await m.removeSocket('b1');
      expect(sorted(seen)).toEqual(['-ada@to', '-bob@to']);
    }));

  it('under concurrent joins of one user from two handles, exactly one join and one leave', () =>
    withFixture(make, async (m, peer) => {
      const a = record(m);
      const b = peer === m ? { seen: [] as string[] } : record(peer);
      const ids = Array.from({ length: 20 }, (_, i) => `tab${i}`);
      const handle = (i: number) => (i % 2 ? peer : m);
      await Promise.all(ids.map((id, i) => handle(i).addSocket(tab(id, 'ada'))));
      await Promise.all(ids.map((id, i) => handle(i).join(id, ['race'])));
      expect([...a.seen, ...b.seen]).toEqual(['+ada@race']);
      expect(await m.presenceStats('race')).toEqual({ sockets: 20, users: 1 });
      await Promise.all(ids.map((id, i) => handle(i).removeSocket(id)));
      expect(sorted([...a.seen, ...b.seen])).toEqual(['+ada@race', '-ada@race']);
    }));
}
