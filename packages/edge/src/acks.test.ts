import { ErrorCode, type RoomfabricError } from '@roomfabric/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PendingAcks } from './acks.js';

/** How a Promise settled, without awaiting it (for fake-timer tests). */
function track(p: Promise<unknown>): { state: string; value?: unknown; error?: RoomfabricError } {
  const out: { state: string; value?: unknown; error?: RoomfabricError } = { state: 'pending' };
  p.then(
    (value) => Object.assign(out, { state: 'resolved', value }),
    (error: RoomfabricError) => Object.assign(out, { state: 'rejected', error }),
  );
  return out;
}

/** Creates an ack whose rejection the test does not look at (a cleanup rejects it). */
function idOf(acks: PendingAcks): number {
  const { id, answer } = acks.create('e', 1000);
  answer.catch(() => undefined);
  return id;
}

describe('PendingAcks', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('numbers acks from 1', () => {
    const acks = new PendingAcks();
    expect([1, 2, 3].map(() => idOf(acks))).toEqual([1, 2, 3]);
    acks.disconnected();
  });

  it("settles an ack with the client's answer, once", async () => {
    const acks = new PendingAcks();
    const { id, answer } = acks.create('e', 1000);
    expect(acks.settle(id, { ok: 1 })).toBe(true);
    await expect(answer).resolves.toEqual({ ok: 1 });
    expect(acks.settle(id, 'again')).toBe(false);
    expect(vi.getTimerCount()).toBe(0); // its timeout was cleared
  });

  it('an id nobody waits for is not settled, and settles nothing else', async () => {
    const acks = new PendingAcks();
    const a = acks.create('e', 1000);
    const seen = track(a.answer);
    expect(acks.settle(a.id + 1, 'x')).toBe(false);
    expect(acks.settle(0, 'x')).toBe(false);
    await Promise.resolve();
    expect(seen.state).toBe('pending');
    expect(acks.settle(a.id, undefined)).toBe(true);
    await Promise.resolve();
    expect(seen).toEqual({ state: 'resolved', value: undefined });
  });

  it('settles each ack with its own answer, in any order', async () => {
    const acks = new PendingAcks();
    const a = acks.create('a', 1000);
    const b = acks.create('b', 1000);
    acks.settle(b.id, 'B');
    acks.settle(a.id, 'A');
    await expect(a.answer).resolves.toBe('A');
    await expect(b.answer).resolves.toBe('B');
  });

  it('rejects with RF_ACK_TIMEOUT (temporary) at the timeout, not before', async () => {
    const acks = new PendingAcks();
    const { id, answer } = acks.create('save', 500);
    const seen = track(answer);
    await vi.advanceTimersByTimeAsync(499);
    expect(seen.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(seen.state).toBe('rejected');
    expect(seen.error?.code).toBe(ErrorCode.ACK_TIMEOUT);
    expect(seen.error?.temporary).toBe(true);
    expect(seen.error?.message).toBe('no ack for "save" within 500 ms');
    // A late answer finds nobody.
    expect(acks.settle(id, 'late')).toBe(false);
  });

  it('each ack has its own timeout', async () => {
    const acks = new PendingAcks();
    const short = track(acks.create('s', 100).answer);
    const long = acks.create('l', 1000);
    const longSeen = track(long.answer);
    await vi.advanceTimersByTimeAsync(100);
    expect(short.state).toBe('rejected');
    expect(longSeen.state).toBe('pending');
    expect(acks.settle(long.id, 'fine')).toBe(true);
    await Promise.resolve();
    expect(longSeen.state).toBe('resolved');
  });

  it('rejects every pending ack with RF_DISCONNECTED when the socket closes, and clears timers', async () => {
    const acks = new PendingAcks();
    const a = acks.create('a', 1000);
    const b = acks.create('b', 2000);
    acks.settle(a.id, 'done');
    const c = acks.create('c', 3000);
    acks.disconnected();
    expect(vi.getTimerCount()).toBe(0);
    await expect(a.answer).resolves.toBe('done');
    await expect(b.answer).rejects.toMatchObject({ code: ErrorCode.DISCONNECTED });
    await expect(c.answer).rejects.toMatchObject({ code: ErrorCode.DISCONNECTED });
    expect(acks.settle(b.id, 'x')).toBe(false);
    // Idempotent: nothing left to reject.
    acks.disconnected();
  });

  it('wraps ids at 2^32 back to 1 (never 0, which means "no ack")', () => {
    const acks = new PendingAcks();
    // Four billion creates are out of reach: start next to the end.
    (acks as unknown as { nextId: number }).nextId = 0xfffffffe;
    expect(idOf(acks)).toBe(0xfffffffe);
    expect(idOf(acks)).toBe(0xffffffff);
    expect(idOf(acks)).toBe(1);
    expect(idOf(acks)).toBe(2);
    acks.disconnected();
  });
});
