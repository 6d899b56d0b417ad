import { describe, expect, it } from 'vitest';
import { IndexRepairs, REMOVALS_KEPT_MS, SUSPECT_MS } from './index-repairs.js';

describe('IndexRepairs', () => {
  it('remembers removals for the window, each pair once, and forgets them after', () => {
    let now = 1_000_000;
    const r = new IndexRepairs(() => now);
    r.left('s1', ['a', 'b']);
    now += 1000;
    r.left('s2', ['a']);
    r.left('s1', ['a']); // again: one pair, newer
    expect(r.scrub()).toEqual([
      { socketId: 's1', room: 'b' },
      { socketId: 's2', room: 'a' },
      { socketId: 's1', room: 'a' },
    ]);
    expect(r.scrub(['s2'])).toEqual([{ socketId: 's2', room: 'a' }]);
    now += REMOVALS_KEPT_MS; // s1's `b` is now past the window, the rest just inside
    expect(r.scrub()).toEqual([
      { socketId: 's2', room: 'a' },
      { socketId: 's1', room: 'a' },
    ]);
    now += 1;
    expect(r.scrub()).toEqual([]);
    expect(r.size).toBe(0);
  });

  it('keeps a socket with a failed write a suspect until a repair after the suspect window', () => {
    let now = 0;
    const r = new IndexRepairs(() => now);
    r.failed('s1', ['a']);
    expect(r.scrub(['s1'])).toEqual([{ socketId: 's1', room: 'a' }]);
    now = 100;
    r.repaired(['s1'], now);
    expect(r.suspectIds()).toEqual(['s1']); // too recent: a timed-out write may still land
    now = SUSPECT_MS + 1;
    const since = now;
    r.failed('s1', ['b']); // failed again while the repair ran
    r.repaired(['s1'], since);
    expect(r.suspectIds()).toEqual(['s1']);
    now += SUSPECT_MS + 1;
    r.repaired(['s1'], now);
    expect(r.suspectIds()).toEqual([]);
  });
});
