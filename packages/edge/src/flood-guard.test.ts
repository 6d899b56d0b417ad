import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DebtBucket, FloodGuard } from './flood-guard.js';

const T0 = 1_700_000_000_000;

describe('DebtBucket', () => {
  it('passes a burst of one second worth, then says how long until out of debt', () => {
    const bucket = new DebtBucket(10, T0);
    expect(bucket.take(10, T0)).toBe(0);
    expect(bucket.take(5, T0)).toBe(500); // 5 in debt at 10/s
    expect(bucket.take(1, T0)).toBe(600); // the debt grows: take always succeeds
  });

  it('refills with time, paying the debt first', () => {
    const bucket = new DebtBucket(10, T0);
    bucket.take(15, T0); // -5
    expect(bucket.take(0, T0 + 500)).toBe(0); // exactly paid
    expect(bucket.take(1, T0 + 500)).toBe(100);
    expect(bucket.take(0, T0 + 600)).toBe(0);
  });

  it('rounds the wait up to a whole ms', () => {
    const bucket = new DebtBucket(3, T0);
    expect(bucket.take(4, T0)).toBe(334); // 1/3 s
  });

  it('holds at most one second worth after idling', () => {
    const bucket = new DebtBucket(10, T0);
    expect(bucket.take(10, T0 + 3_600_000)).toBe(0);
    expect(bucket.take(1, T0 + 3_600_000)).toBe(100);
  });

  it('a clock that goes backwards refills nothing', () => {
    const bucket = new DebtBucket(10, T0);
    bucket.take(10, T0);
    expect(bucket.take(1, T0 - 10_000)).toBe(100);
  });
});

describe('FloodGuard', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('does not slow a user within its budget', () => {
    const guard = new FloodGuard(10, 0);
    guard.addUser('alice');
    for (let i = 0; i < 10; i++) expect(guard.charge('alice', 1)).toBe(0);
  });

  it('pauses a user over its budget for the time its debt takes to pay', () => {
    const guard = new FloodGuard(10, 0);
    guard.addUser('alice');
    expect(guard.charge('alice', 12)).toBe(200);
    vi.advanceTimersByTime(200);
    expect(guard.charge('alice', 1)).toBe(100);
  });

  it("shares one budget between all of a user's sockets, and none between users", () => {
    const guard = new FloodGuard(10, 0);
    guard.addUser('alice');
    guard.addUser('alice');
    guard.addUser('bob');
    expect(guard.charge('alice', 6)).toBe(0);
    expect(guard.charge('alice', 6)).toBe(200); // the second socket of alice
    expect(guard.charge('bob', 10)).toBe(0);
  });

  it('keeps the debt while a socket of the user remains; forgets the user with the last one', () => {
    const guard = new FloodGuard(10, 0);
    guard.addUser('alice');
    guard.addUser('alice');
    guard.charge('alice', 20);
    guard.removeUser('alice');
    expect(guard.charge('alice', 0)).toBe(1000);
    guard.removeUser('alice');
    // Not counted any more: no user budget applies.
    expect(guard.charge('alice', 1000)).toBe(0);
    guard.addUser('alice');
    expect(guard.charge('alice', 10)).toBe(0); // a fresh bucket
  });

  it('a user never added, or no user, has no user budget', () => {
    const guard = new FloodGuard(10, 0);
    expect(guard.charge('ghost', 1000)).toBe(0);
    guard.addUser(undefined);
    expect(guard.charge(undefined, 1000)).toBe(0);
    guard.removeUser(undefined);
    guard.removeUser('ghost'); // nothing to remove: no throw
  });

  it('a per-user budget of 0 is no budget', () => {
    const guard = new FloodGuard(0, 0);
    guard.addUser('alice');
    expect(guard.charge('alice', 1_000_000)).toBe(0);
  });

  it('charges the node budget for every socket, users or not', () => {
    const guard = new FloodGuard(1000, 100);
    guard.addUser('alice');
    guard.addUser('bob');
    expect(guard.charge('alice', 60)).toBe(0);
    expect(guard.charge('bob', 30)).toBe(0);
    expect(guard.charge(undefined, 20)).toBe(100); // 10 in debt at 100/s
    // Whoever charges next waits for the node's debt, though its own budget is fine.
    expect(guard.charge('bob', 0)).toBe(100);
    vi.advanceTimersByTime(100);
    expect(guard.charge('bob', 0)).toBe(0);
  });

  it('waits for the longer of the user and the node debt', () => {
    const guard = new FloodGuard(10, 100);
    guard.addUser('alice');
    expect(guard.charge('alice', 13)).toBe(300); // user: 3 over at 10/s; node: fine
    const guard2 = new FloodGuard(100, 10);
    guard2.addUser('alice');
    expect(guard2.charge('alice', 13)).toBe(300); // node: 3 over at 10/s; user: fine
  });

  it('never pauses a socket for more than a second, however deep the debt', () => {
    const guard = new FloodGuard(10, 10);
    guard.addUser('alice');
    expect(guard.charge('alice', 1_000_000)).toBe(1000);
    expect(guard.charge(undefined, 1_000_000)).toBe(1000);
  });
});
