import { describe, expect, it } from 'vitest';
import { backoffDelay, resolveReconnect, type ResolvedReconnect } from './backoff.js';

/** Options without jitter, so that a delay is exactly its base. */
function exact(o: Partial<ResolvedReconnect> = {}): ResolvedReconnect {
  return { ...resolveReconnect(true)!, jitter: 0, ...o };
}

describe('resolveReconnect', () => {
  it('is null when reconnect is off, and the documented defaults when on or unset', () => {
    expect(resolveReconnect(false)).toBeNull();
    const defaults = {
      minDelayMs: 250,
      maxDelayMs: 10_000,
      factor: 2,
      jitter: 0.5,
      maxAttempts: Infinity,
    };
    expect(resolveReconnect(true)).toEqual(defaults);
    expect(resolveReconnect(undefined)).toEqual(defaults);
    expect(resolveReconnect({})).toEqual(defaults);
  });

  it('keeps the options given and fills in the rest', () => {
    expect(resolveReconnect({ minDelayMs: 10, maxAttempts: 3 })).toEqual({
      minDelayMs: 10,
      maxDelayMs: 10_000,
      factor: 2,
      jitter: 0.5,
      maxAttempts: 3,
    });
    // 0 is a value, not "unset".
    expect(resolveReconnect({ minDelayMs: 0, jitter: 0, maxAttempts: 0 })).toMatchObject({
      minDelayMs: 0,
      jitter: 0,
      maxAttempts: 0,
    });
  });

  it('clamps jitter into 0..1', () => {
    expect(resolveReconnect({ jitter: -0.3 })!.jitter).toBe(0);
    expect(resolveReconnect({ jitter: 7 })!.jitter).toBe(1);
    expect(resolveReconnect({ jitter: 0.25 })!.jitter).toBe(0.25);
  });
});

describe('backoffDelay', () => {
  it('grows by the factor from minDelayMs, then stays at maxDelayMs', () => {
    const r = exact();
    const delays = Array.from({ length: 9 }, (_, attempt) => backoffDelay(r, attempt));
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    const triple = exact({ minDelayMs: 100, factor: 3, maxDelayMs: 5000 });
    expect([0, 1, 2, 3, 4].map((a) => backoffDelay(triple, a))).toEqual([
      100, 300, 900, 2700, 5000,
    ]);
  });

  it('never exceeds maxDelayMs, however many attempts (no Infinity, no NaN)', () => {
    const r = exact();
    for (const attempt of [30, 1023, 1024, 5000]) {
      expect(backoffDelay(r, attempt)).toBe(10_000);
    }
    // minDelayMs above maxDelayMs: the cap wins from the first attempt.
    expect(backoffDelay(exact({ minDelayMs: 50_000 }), 0)).toBe(10_000);
    // factor 1: a constant delay.
    expect(backoffDelay(exact({ factor: 1 }), 12)).toBe(250);
  });

  it('takes off at most `jitter` of the delay: between base * (1 - jitter) and base', () => {
    const r = resolveReconnect({ minDelayMs: 1000, maxDelayMs: 1000, jitter: 0.5 })!;
    expect(backoffDelay(r, 0, () => 0)).toBe(1000);
    expect(backoffDelay(r, 0, () => 0.5)).toBe(750);
    expect(backoffDelay(r, 0, () => 0.999_999)).toBe(500);
    // The jitter applies to the capped delay, not the uncapped one.
    expect(backoffDelay(r, 20, () => 0.5)).toBe(750);
    const full = resolveReconnect({ minDelayMs: 1000, jitter: 1 })!;
    expect(backoffDelay(full, 0, () => 0.999_999)).toBe(0);
  });

  it('spreads delays over the whole jitter range with Math.random, always whole ms', () => {
    const r = resolveReconnect(true)!; // jitter 0.5
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const d = backoffDelay(r, 3); // base 2000
      expect(Number.isInteger(d)).toBe(true);
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(2000);
      seen.add(d);
    }
    // Random, not a fixed point: both halves of the range come up.
    expect(seen.size).toBeGreaterThan(50);
    expect([...seen].some((d) => d < 1500)).toBe(true);
    expect([...seen].some((d) => d > 1500)).toBe(true);
  });

  it('without jitter, the delay is the base whatever random returns', () => {
    const r = exact();
    expect([0, 0.5, 0.999_999].map((x) => backoffDelay(r, 2, () => x))).toEqual([1000, 1000, 1000]);
  });
});
