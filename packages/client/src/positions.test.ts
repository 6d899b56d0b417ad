import { describe, expect, it } from 'vitest';
import { Positions, RecentIds } from './positions.js';

const EPOCH = '2026-11-25T20:29:45.648Z';
const OTHER_EPOCH = '2026-11-26T08:00:00.000Z';

describe('Positions', () => {
  it('has no position for a room until a join ACK names one', () => {
    const p = new Positions();
    expect(p.get('a')).toBeUndefined();
    expect(p.since('a', 'sock-1')).toBeNull();
    // An ACK of a room without history (no offset/epoch), or a malformed one: nothing.
    for (const ack of [null, undefined, {}, { offset: 3 }, { epoch: EPOCH }, 'x']) {
      p.joined('a', ack);
    }
    p.joined('a', { offset: '3', epoch: EPOCH });
    p.joined('a', { offset: 3, epoch: 7 });
    expect(p.get('a')).toBeUndefined();
    p.joined('a', { offset: 3, epoch: EPOCH, missed: 0 });
    expect(p.get('a')).toEqual({ offset: 3, epoch: EPOCH });
  });

  it('advances with each event offset, never backwards, and only in rooms it tracks', () => {
    const p = new Positions();
    p.joined('a', { offset: 10, epoch: EPOCH });
    p.advance('a', 11);
    p.advance('a', 15);
    p.advance('a', 12); // a late or repeated event does not move it back
    p.advance('a', 15);
    expect(p.get('a')).toEqual({ offset: 15, epoch: EPOCH });
    p.advance('b', 99); // no position in b: none is made up
    expect(p.get('b')).toBeUndefined();
  });

  it('hands out copies: changing what get() returned does not move the position', () => {
    const p = new Positions();
    p.joined('a', { offset: 1, epoch: EPOCH });
    const got = p.get('a')!;
    got.offset = 1000;
    expect(p.get('a')).toEqual({ offset: 1, epoch: EPOCH });
    const since = p.since('a', undefined)!;
    since.offset = 1000;
    expect(p.get('a')!.offset).toBe(1);
  });

  it('keeps the position reached during a replay when a rejoin ACK says events were missed', () => {
    const p = new Positions();
    p.joined('a', { offset: 10, epoch: EPOCH });
    p.advance('a', 12);
    // Rejoin: the ACK names the room's head (20) and says 8 events are replayed after it.
    p.joined('a', { offset: 20, epoch: EPOCH, missed: 8 });
    expect(p.get('a')).toEqual({ offset: 12, epoch: EPOCH });
    p.advance('a', 13); // replayed events advance it one by one
    expect(p.get('a')!.offset).toBe(13);
    // A drop mid-replay resumes from the last event handled.
    expect(p.since('a', 'sock-1')).toEqual({ offset: 13, epoch: EPOCH, socketId: 'sock-1' });
  });

  it('takes the ACK offset when nothing is replayed, or the history epoch changed', () => {
    const p = new Positions();
    p.joined('a', { offset: 10, epoch: EPOCH });
    p.joined('a', { offset: 20, epoch: EPOCH, missed: 0 });
    expect(p.get('a')).toEqual({ offset: 20, epoch: EPOCH });
    // A new epoch (history reset): the old offset means nothing there.
    p.joined('a', { offset: 4, epoch: OTHER_EPOCH, missed: 4 });
    expect(p.get('a')).toEqual({ offset: 4, epoch: OTHER_EPOCH });
    // missed > 0 with no prior position: the ACK's offset.
    p.joined('b', { offset: 7, epoch: EPOCH, missed: 3 });
    expect(p.get('b')).toEqual({ offset: 7, epoch: EPOCH });
  });

  it('since() carries the previous socket id, or null without one', () => {
    const p = new Positions();
    p.joined('a', { offset: 5, epoch: EPOCH });
    expect(p.since('a', 'prev')).toEqual({ offset: 5, epoch: EPOCH, socketId: 'prev' });
    expect(p.since('a', undefined)).toEqual({ offset: 5, epoch: EPOCH, socketId: null });
  });

  it('forgets a room on delete()', () => {
    const p = new Positions();
    p.joined('a', { offset: 5, epoch: EPOCH });
    p.delete('a');
    expect(p.get('a')).toBeUndefined();
    expect(p.since('a', 'x')).toBeNull();
    p.delete('never-there'); // no throw
  });

  describe('rooms the server joined (HELLO, CONNECT)', () => {
    it('serverJoined() sets their positions, drops unreadable ones (epoch "")', () => {
      const p = new Positions();
      p.joined('srv', { offset: 3, epoch: EPOCH });
      p.serverJoined(
        [
          { room: 'srv', offset: 9, epoch: EPOCH, recovered: true, missed: 0 },
          { room: 'new', offset: 1, epoch: OTHER_EPOCH, recovered: null, missed: 0 },
        ],
        new Set(),
      );
      expect(p.get('srv')).toEqual({ offset: 9, epoch: EPOCH });
      expect(p.get('new')).toEqual({ offset: 1, epoch: OTHER_EPOCH });
      p.serverJoined(
        [
          { room: 'srv', offset: 0, epoch: '', recovered: false, missed: 0 },
          { room: 'new', offset: 1, epoch: OTHER_EPOCH, recovered: null, missed: 0 },
        ],
        new Set(),
      );
      expect(p.get('srv')).toBeUndefined();
      expect(p.get('new')).toEqual({ offset: 1, epoch: OTHER_EPOCH });
    });

    it('serverJoined() keeps a replay position, as a join ACK does', () => {
      const p = new Positions();
      p.joined('srv', { offset: 3, epoch: EPOCH });
      p.serverJoined(
        [{ room: 'srv', offset: 9, epoch: EPOCH, recovered: true, missed: 6 }],
        new Set(),
      );
      expect(p.get('srv')).toEqual({ offset: 3, epoch: EPOCH });
    });

    it('serverJoined() drops server rooms HELLO no longer names, never the client’s own', () => {
      const p = new Positions();
      p.joined('own', { offset: 1, epoch: EPOCH });
      p.joined('gone', { offset: 2, epoch: EPOCH });
      p.joined('kept', { offset: 3, epoch: EPOCH });
      p.serverJoined(
        [{ room: 'kept', offset: 4, epoch: EPOCH, recovered: true, missed: 0 }],
        new Set(['own']),
      );
      expect(p.get('own')).toEqual({ offset: 1, epoch: EPOCH });
      expect(p.get('gone')).toBeUndefined();
      expect(p.get('kept')).toEqual({ offset: 4, epoch: EPOCH });
      // An empty HELLO: every server room is gone, the client's own stay.
      p.serverJoined([], new Set(['own']));
      expect(p.get('kept')).toBeUndefined();
      expect(p.get('own')).toBeDefined();
    });

    it('serverRooms() lists the positions of rooms the client did not join itself', () => {
      const p = new Positions();
      p.joined('own', { offset: 1, epoch: EPOCH });
      p.joined('srv-a', { offset: 2, epoch: EPOCH });
      p.joined('srv-b', { offset: 3, epoch: OTHER_EPOCH });
      expect(p.serverRooms(new Set(['own']))).toEqual([
        { room: 'srv-a', offset: 2, epoch: EPOCH },
        { room: 'srv-b', offset: 3, epoch: OTHER_EPOCH },
      ]);
      expect(p.serverRooms(new Set(['own', 'srv-a', 'srv-b']))).toEqual([]);
    });
  });
});

describe('RecentIds', () => {
  it('says false for an id it holds (a repeat), true for a new one', () => {
    const ids = new RecentIds(3);
    expect(ids.add('a')).toBe(true);
    expect(ids.add('a')).toBe(false);
    expect(ids.add('b')).toBe(true);
    expect(ids.add('b')).toBe(false);
  });

  it('forgets the oldest first once over capacity', () => {
    const ids = new RecentIds(3);
    for (const id of ['a', 'b', 'c', 'd']) expect(ids.add(id)).toBe(true);
    // 'a' was pushed out by 'd'; b, c, d are still known.
    expect(ids.add('b')).toBe(false);
    expect(ids.add('c')).toBe(false);
    expect(ids.add('d')).toBe(false);
    expect(ids.add('a')).toBe(true); // new again, and pushes out 'b'
    expect(ids.add('c')).toBe(false);
    expect(ids.add('b')).toBe(true);
  });

  it('a repeat does not refresh an id: it still goes when it is the oldest', () => {
    const ids = new RecentIds(2);
    ids.add('a');
    ids.add('b');
    expect(ids.add('a')).toBe(false); // seen again, but stays the oldest
    ids.add('c'); // pushes out 'a'
    expect(ids.add('b')).toBe(false);
    expect(ids.add('a')).toBe(true);
  });
});
