import { afterEach, describe, expect, it, vi } from 'vitest';
import { RateLimiter } from './rate-limit.js';

/** A start time far from 0, as Date.now() is (lastNotice starts at 0). */
const T0 = 1_700_000_000_000;

/** Takes frames at `now` until refused; returns how many were taken. */
function drainFrames(rate: RateLimiter, now: number): number {
  let n = 0;
  while (rate.takeFrame(now)) n++;
  return n;
}

describe('RateLimiter frames', () => {
  it('allows a burst of one second worth of frames, then refuses', () => {
    const rate = new RateLimiter(8, 1_000_000, T0);
    for (let i = 0; i < 8; i++) expect(rate.takeFrame(T0)).toBe(true);
    expect(rate.takeFrame(T0)).toBe(false);
    expect(rate.takeFrame(T0)).toBe(false);
  });

  it('refills at the allowed rate, in fractions of a frame', () => {
    const rate = new RateLimiter(8, 1_000_000, T0);
    expect(drainFrames(rate, T0)).toBe(8);
    // 8 frames/s: one frame per 125 ms; half of one after 62.5 ms is not enough.
    expect(rate.takeFrame(T0 + 62.5)).toBe(false);
    expect(rate.takeFrame(T0 + 125)).toBe(true);
    expect(rate.takeFrame(T0 + 125)).toBe(false);
    // Half a second later: four more.
    expect(drainFrames(rate, T0 + 625)).toBe(4);
  });

  it('never holds more than one second worth, however long the socket was idle', () => {
    const rate = new RateLimiter(8, 1_000_000, T0);
    expect(drainFrames(rate, T0 + 60_000)).toBe(8);
  });

  it('a refused frame costs nothing: the next refill is whole', () => {
    const rate = new RateLimiter(8, 1_000_000, T0);
    drainFrames(rate, T0);
    for (let i = 0; i < 5; i++) expect(rate.takeFrame(T0 + 10)).toBe(false);
    expect(drainFrames(rate, T0 + 250)).toBe(2);
  });

  it('a clock that goes backwards refills nothing and does not break the bucket', () => {
    const rate = new RateLimiter(8, 1_000_000, T0);
    drainFrames(rate, T0);
    expect(rate.takeFrame(T0 - 5_000)).toBe(false);
    expect(rate.takeFrame(T0 + 125)).toBe(true);
  });
});

describe('RateLimiter bytes', () => {
  it('takes a message whole from the byte budget, or refuses it without taking anything', () => {
    const rate = new RateLimiter(1000, 1000, T0);
    expect(rate.takeBytes(600, T0)).toBe(true);
    expect(rate.takeBytes(401, T0)).toBe(false); // 400 left: refused whole
    expect(rate.takeBytes(400, T0)).toBe(true); // and the 400 are still there
    expect(rate.takeBytes(1, T0)).toBe(false);
    expect(rate.takeBytes(500, T0 + 500)).toBe(true);
    expect(rate.takeBytes(1, T0 + 500)).toBe(false);
  });

  it('an empty message always passes; one larger than a second worth never does', () => {
    const rate = new RateLimiter(1000, 1000, T0);
    expect(rate.takeBytes(1000, T0)).toBe(true);
    expect(rate.takeBytes(0, T0)).toBe(true);
    expect(rate.takeBytes(1001, T0 + 3_600_000)).toBe(false);
  });

  it('frames and bytes are separate budgets', () => {
    const rate = new RateLimiter(2, 100, T0);
    expect(rate.takeBytes(100, T0)).toBe(true);
    expect(rate.takeFrame(T0)).toBe(true);
    expect(rate.takeFrame(T0)).toBe(true);
    expect(rate.takeFrame(T0)).toBe(false);
    expect(rate.takeBytes(1, T0)).toBe(false);
  });
});

describe('RateLimiter abuse and notices', () => {
  it('is abusive once it refused more frames in one second than the allowance', () => {
    const rate = new RateLimiter(4, 1_000_000, T0);
    drainFrames(rate, T0); // 4 taken, 1 refused
    for (let i = 0; i < 3; i++) rate.takeFrame(T0 + 10);
    expect(rate.abusive).toBe(false); // 4 refused: not more than 4
    rate.takeFrame(T0 + 20);
    expect(rate.abusive).toBe(true); // 5 refused
  });

  it('refused messages (bytes) count toward abuse too', () => {
    const rate = new RateLimiter(2, 10, T0);
    rate.takeBytes(10, T0);
    for (let i = 0; i < 3; i++) expect(rate.takeBytes(5, T0)).toBe(false);
    expect(rate.abusive).toBe(true);
  });

  it('starts counting again in the next second', () => {
    const rate = new RateLimiter(4, 1_000_000, T0);
    drainFrames(rate, T0);
    for (let i = 0; i < 5; i++) rate.takeFrame(T0);
    expect(rate.abusive).toBe(true);
    // A second later: the bucket is full again; one refusal there opens a new window.
    expect(drainFrames(rate, T0 + 1000)).toBe(4);
    expect(rate.abusive).toBe(false);
    for (let i = 0; i < 3; i++) rate.takeFrame(T0 + 1000);
    expect(rate.abusive).toBe(false);
  });

  it('a steady sender at the allowance is never abusive', () => {
    const rate = new RateLimiter(10, 1_000_000, T0);
    for (let t = 0; t < 5000; t += 100) expect(rate.takeFrame(T0 + t)).toBe(true);
    expect(rate.abusive).toBe(false);
  });

  it('says to notify at most once a second', () => {
    const rate = new RateLimiter(4, 1000, T0);
    expect(rate.shouldNotify(T0)).toBe(true);
    expect(rate.shouldNotify(T0)).toBe(false);
    expect(rate.shouldNotify(T0 + 999)).toBe(false);
    expect(rate.shouldNotify(T0 + 1000)).toBe(true);
    expect(rate.shouldNotify(T0 + 1500)).toBe(false);
    expect(rate.shouldNotify(T0 + 2000)).toBe(true);
  });
});

describe('RateLimiter on the clock (the receiver passes no times)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads Date.now() by default', () => {
    vi.useFakeTimers({ now: T0 });
    const rate = new RateLimiter(8, 1_000_000);
    let taken = 0;
    while (rate.takeFrame()) taken++;
    expect(taken).toBe(8);
    vi.advanceTimersByTime(124);
    expect(rate.takeFrame()).toBe(false);
    vi.advanceTimersByTime(1);
    expect(rate.takeFrame()).toBe(true);
    expect(rate.shouldNotify()).toBe(true);
    vi.advanceTimersByTime(999);
    expect(rate.shouldNotify()).toBe(false);
    vi.advanceTimersByTime(1);
    expect(rate.shouldNotify()).toBe(true);
  });
});
