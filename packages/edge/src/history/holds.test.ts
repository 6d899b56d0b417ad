import { describe, expect, it } from 'vitest';
import { HistoryHolds } from './holds.js';

const frame = (n: number) => Uint8Array.of(n);

describe('HistoryHolds', () => {
  it('holds a room while catching up, then sends only what came after the catch-up', () => {
    const holds = new HistoryHolds<object>();
    const s = {};
    expect(holds.admit(s, 'r', 5, frame(5))).toBe(true); // nothing held: sent
    holds.hold(s, 'r');
    expect(holds.admit(s, 'r', 6, frame(6))).toBe(false);
    expect(holds.admit(s, 'other', 7, frame(7))).toBe(true);
    expect(holds.held(s, 'r')).toEqual([{ offset: 6, frame: frame(6) }]);
    holds.unhold(s, 'r');
    holds.caughtUp(s, 'r', 8);
    expect(holds.admit(s, 'r', 8, frame(8))).toBe(false); // sent by the catch-up
    expect(holds.admit(s, 'r', 9, frame(9))).toBe(true);
    expect(holds.admit(s, 'r', 8, frame(8))).toBe(true); // forgotten after the first later one
  });

  it('holds every history room until HELLO and gives back what no catch-up covered', () => {
    const holds = new HistoryHolds<object>();
    const s = {};
    holds.holdAll(s);
    expect(holds.holdsAll(s)).toBe(true);
    expect(holds.admit(s, 'a', 1, frame(1))).toBe(false);
    expect(holds.admit(s, 'b', 2, frame(2))).toBe(false);
    expect(holds.admit(s, 'c', 3, frame(3))).toBe(false);
    const rest = holds.releaseAll(s, new Set(['a']), (room) => room !== 'c');
    expect(rest).toEqual([frame(2)]);
    expect(holds.holdsAll(s)).toBe(false);
    expect(holds.admit(s, 'b', 4, frame(4))).toBe(true);
  });

  it('forgets a room the socket left', () => {
    const holds = new HistoryHolds<object>();
    const s = {};
    holds.caughtUp(s, 'r', 10);
    holds.forget(s, 'r');
    expect(holds.admit(s, 'r', 3, frame(3))).toBe(true);
  });
});
