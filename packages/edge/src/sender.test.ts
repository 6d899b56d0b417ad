import type WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Outbox, Sender, SharedBatch, writeFrames, type Flushable } from './sender.js';

const MiB = 1024 * 1024;

/** A WebSocket as `writeFrames` uses it: what it was sent, message by message. */
function fakeWs(): { ws: WebSocket; sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  const ws = { send: (data: Uint8Array) => sent.push(data) } as unknown as WebSocket;
  return { ws, sent };
}

const frame = (size: number, fill = size & 0xff) => new Uint8Array(size).fill(fill);
const total = (frames: Uint8Array[]) => frames.reduce((n, f) => n + f.length, 0);

describe('Outbox', () => {
  it('collects frames and their size, and empties on take', () => {
    const box = new Outbox();
    const a = frame(3);
    const b = frame(5);
    box.push(a);
    box.push(b);
    expect(box.bytes).toBe(8);
    const taken = box.take();
    expect(taken.bytes).toBe(8);
    expect(taken.frames).toHaveLength(2);
    expect(taken.frames[0]).toBe(a); // the frames themselves, not copies
    expect(taken.frames[1]).toBe(b);
    expect(box.bytes).toBe(0);
    expect(box.frames).toEqual([]);
    expect(box.take()).toEqual({ frames: [], bytes: 0 });
  });

  it('a take does not alias what is pushed afterwards', () => {
    const box = new Outbox();
    box.push(frame(1));
    const taken = box.take();
    box.push(frame(2));
    expect(taken.frames).toHaveLength(1);
    expect(box.frames).toHaveLength(1);
  });
});

describe('writeFrames', () => {
  it('sends a single frame as it is, without a copy', () => {
    const { ws, sent } = fakeWs();
    const only = frame(10);
    writeFrames(ws, [only], 10);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toBe(only);
  });

  it('sends several frames as one message holding them in order', () => {
    const { ws, sent } = fakeWs();
    const frames = [Uint8Array.of(1, 2), Uint8Array.of(3), Uint8Array.of(4, 5, 6)];
    writeFrames(ws, frames, 6);
    expect(sent).toHaveLength(1);
    expect([...sent[0]!]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('at 1 MiB exactly still one message; past it, split into batches of at most 1 MiB', () => {
    const atLimit = fakeWs();
    const half = [frame(MiB / 2, 1), frame(MiB / 2, 2)];
    writeFrames(atLimit.ws, half, MiB);
    expect(atLimit.sent.map((m) => m.length)).toEqual([MiB]);

    const over = fakeWs();
    const frames = [frame(MiB / 2, 1), frame(MiB / 2, 2), frame(1, 3), frame(MiB / 4, 4)];
    writeFrames(over.ws, frames, total(frames));
    expect(over.sent.map((m) => m.length)).toEqual([MiB, 1 + MiB / 4]);
    // Nothing lost or reordered across the split.
    expect(Buffer.concat(over.sent).equals(Buffer.concat(frames))).toBe(true);
  });

  it('a frame larger than a batch goes alone, between the batches around it', () => {
    const { ws, sent } = fakeWs();
    const big = frame(MiB + 10, 9);
    const frames = [frame(100, 1), big, frame(200, 2), frame(300, 3)];
    writeFrames(ws, frames, total(frames));
    expect(sent.map((m) => m.length)).toEqual([100, MiB + 10, 500]);
    expect(Buffer.concat(sent).equals(Buffer.concat(frames))).toBe(true);
  });

  it('shares the concatenated bytes between sockets that queued the same frames', () => {
    const shared = new SharedBatch();
    const frames = [frame(4, 1), frame(4, 2)];
    const a = fakeWs();
    const b = fakeWs();
    writeFrames(a.ws, frames, 8, shared);
    // Another socket's list: a different array holding the same frame objects.
    writeFrames(b.ws, [...frames], 8, shared);
    expect(b.sent[0]).toBe(a.sent[0]);
    // Without a shared batch every socket gets its own copy.
    const c = fakeWs();
    writeFrames(c.ws, frames, 8);
    expect(c.sent[0]).not.toBe(a.sent[0]);
    expect(Buffer.from(c.sent[0]!).equals(Buffer.from(a.sent[0]!))).toBe(true);
  });
});

describe('SharedBatch', () => {
  it('reuses the last bytes only for the very same frame objects', () => {
    const shared = new SharedBatch();
    const x = Uint8Array.of(1);
    const y = Uint8Array.of(2);
    const first = shared.concat([x, y], 2);
    expect([...first]).toEqual([1, 2]);
    expect(shared.concat([x, y], 2)).toBe(first);
    // Equal bytes in other objects: a new buffer (identity, not content, is compared).
    expect(shared.concat([Uint8Array.of(1), Uint8Array.of(2)], 2)).not.toBe(first);
  });

  it('tells apart a different order, a different length, and remembers only the last list', () => {
    const shared = new SharedBatch();
    const x = Uint8Array.of(1);
    const y = Uint8Array.of(2);
    const xy = shared.concat([x, y], 2);
    const yx = shared.concat([y, x], 2);
    expect([...yx]).toEqual([2, 1]);
    const xyx = shared.concat([x, y, x], 3);
    expect([...xyx]).toEqual([1, 2, 1]);
    const again = shared.concat([x, y], 2);
    expect(again).not.toBe(xy); // not the last one any more: built again
    expect([...again]).toEqual([1, 2]);
  });
});

describe('Sender (the end-of-turn write)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A socket whose flush records the batch it was given and empties its outbox. */
  function flushable(log: Array<{ name: string; shared: SharedBatch; bytes: number }>, name = 's') {
    const s: Flushable & { flushes: number } = {
      outbox: new Outbox(),
      flushes: 0,
      flush(shared) {
        s.flushes++;
        log.push({ name, shared, bytes: s.outbox.take().bytes });
      },
    };
    return s;
  }

  it('writes nothing within the turn, then once per socket at its end', () => {
    const sender = new Sender();
    const log: Array<{ name: string; shared: SharedBatch; bytes: number }> = [];
    const s = flushable(log);
    s.outbox.push(frame(3));
    sender.schedule(s);
    s.outbox.push(frame(4));
    sender.schedule(s);
    sender.schedule(s);
    expect(s.flushes).toBe(0);
    expect(s.outbox.scheduled).toBe(true);
    vi.runAllTimers();
    expect(log.map((l) => [l.name, l.bytes])).toEqual([['s', 7]]);
    expect(s.outbox.scheduled).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('flushes every socket of the turn in scheduling order, with one shared batch', () => {
    const sender = new Sender();
    const log: Array<{ name: string; shared: SharedBatch; bytes: number }> = [];
    const a = flushable(log, 'a');
    const b = flushable(log, 'b');
    const c = flushable(log, 'c');
    sender.schedule(b);
    sender.schedule(a);
    sender.schedule(c);
    sender.schedule(b);
    expect(vi.getTimerCount()).toBe(1); // one setImmediate for the turn
    vi.runAllTimers();
    expect(log.map((l) => l.name)).toEqual(['b', 'a', 'c']);
    expect(new Set(log.map((l) => l.shared)).size).toBe(1);
  });

  it('a new turn gets a new write and a new shared batch', () => {
    const sender = new Sender();
    const log: Array<{ name: string; shared: SharedBatch; bytes: number }> = [];
    const a = flushable(log, 'a');
    sender.schedule(a);
    vi.runAllTimers();
    sender.schedule(a);
    expect(a.flushes).toBe(1);
    vi.runAllTimers();
    expect(a.flushes).toBe(2);
    expect(log[0]!.shared).not.toBe(log[1]!.shared);
  });

  it('a socket given frames during the flush is written in the next turn, not lost', () => {
    const sender = new Sender();
    const log: Array<{ name: string; shared: SharedBatch; bytes: number }> = [];
    const late = flushable(log, 'late');
    const a = flushable(log, 'a');
    const flushA = a.flush.bind(a);
    let once = true;
    a.flush = (shared) => {
      flushA(shared);
      if (!once) return;
      once = false;
      // Writing to `a` made the application queue something for `late` and for `a` again.
      late.outbox.push(frame(2));
      sender.schedule(late);
      a.outbox.push(frame(5));
      sender.schedule(a);
    };
    a.outbox.push(frame(1));
    sender.schedule(a);
    vi.advanceTimersToNextTimer();
    expect(log.map((l) => [l.name, l.bytes])).toEqual([['a', 1]]);
    vi.advanceTimersToNextTimer();
    expect(log.map((l) => [l.name, l.bytes])).toEqual([
      ['a', 1],
      ['late', 2],
      ['a', 5],
    ]);
  });
});
