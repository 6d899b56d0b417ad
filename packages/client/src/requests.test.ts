import { ErrorCode, FrameType, RoomfabricError, type ClientFrame } from '@roomfabric/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Requests, settle, type Request } from './requests.js';

/** A request's outcome as seen by its caller. */
interface Outcome {
  resolved: unknown[];
  rejected: RoomfabricError[];
}

function make(
  requests: Requests,
  kind: Request['kind'],
  timeout = 1000,
  room?: string,
): { request: Request; outcome: Outcome } {
  const outcome: Outcome = { resolved: [], rejected: [] };
  const request = requests.create(
    kind,
    (d) => outcome.resolved.push(d),
    (e) => outcome.rejected.push(e),
    timeout,
    room,
  );
  return { request, outcome };
}

const joinFrame =
  (room: string) =>
  (id: number): ClientFrame => ({ type: FrameType.JOIN, id, room });

let timeouts: Array<[Request, number]>;
let requests: Requests;

beforeEach(() => {
  vi.useFakeTimers();
  timeouts = [];
  requests = new Requests((request, timeout) => timeouts.push([request, timeout]));
});

afterEach(() => {
  vi.useRealTimers();
});

describe('settle', () => {
  it('rejects with a RoomfabricError, resolves with anything else (null and errors too)', () => {
    const { request, outcome } = make(requests, 'emit');
    settle(request, { ok: 1 });
    const err = new RoomfabricError(ErrorCode.FORBIDDEN, 'no');
    const b = make(requests, 'emit');
    settle(b.request, err);
    const c = make(requests, 'leave');
    settle(c.request, null);
    const d = make(requests, 'emit');
    const plain = new Error('not a RoomfabricError');
    settle(d.request, plain);
    expect(outcome).toEqual({ resolved: [{ ok: 1 }], rejected: [] });
    expect(b.outcome.rejected).toEqual([err]);
    expect(c.outcome.resolved).toEqual([null]);
    expect(d.outcome.resolved).toEqual([plain]);
  });

  it('stops the request timer', () => {
    const { request } = make(requests, 'emit', 1000);
    settle(request, 'done');
    vi.advanceTimersByTime(5000);
    expect(timeouts).toEqual([]);
  });
});

describe('Requests', () => {
  it('times a request from its creation and hands it to onTimeout with its timeout', () => {
    const { request, outcome } = make(requests, 'emit', 1500);
    vi.advanceTimersByTime(1499);
    expect(timeouts).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(timeouts).toEqual([[request, 1500]]);
    // The table does not settle it itself: onTimeout decides what the failure means.
    expect(outcome).toEqual({ resolved: [], rejected: [] });
    vi.advanceTimersByTime(10_000);
    expect(timeouts).toHaveLength(1); // a timer, not an interval
  });

  it('gives ids from 1, in order, and wraps after 2^32 - 1 to 1', () => {
    expect([requests.takeId(), requests.takeId(), requests.takeId()]).toEqual([1, 2, 3]);
    // Jump to the end of the range (a client that sent 4 billion requests).
    (requests as unknown as { nextId: number }).nextId = 0xfffffffe;
    expect([requests.takeId(), requests.takeId(), requests.takeId()]).toEqual([
      0xfffffffe, 0xffffffff, 1,
    ]);
  });

  it('send() writes the frame with a fresh id and keeps the request by it; take() removes it', () => {
    const a = make(requests, 'join', 1000, 'a');
    const b = make(requests, 'join', 1000, 'b');
    const written: ClientFrame[] = [];
    requests.send(a.request, joinFrame('a'), (f) => written.push(f));
    requests.send(b.request, joinFrame('b'), (f) => written.push(f));
    expect(written).toEqual([
      { type: FrameType.JOIN, id: 1, room: 'a' },
      { type: FrameType.JOIN, id: 2, room: 'b' },
    ]);
    expect(requests.take(2)).toBe(b.request);
    expect(requests.take(2)).toBeUndefined(); // answered once only
    expect(requests.take(99)).toBeUndefined();
    expect([...requests.inFlight.keys()]).toEqual([1]);
  });

  it('waitForJoin() keeps join calls per room, in order', () => {
    const a1 = make(requests, 'join', 1000, 'a');
    const a2 = make(requests, 'join', 1000, 'a');
    const b = make(requests, 'join', 1000, 'b');
    requests.waitForJoin('a', a1.request);
    requests.waitForJoin('b', b.request);
    requests.waitForJoin('a', a2.request);
    expect(requests.joinWaiters.get('a')).toEqual([a1.request, a2.request]);
    expect(requests.joinWaiters.get('b')).toEqual([b.request]);
  });

  it('forget() takes a request out of the in-flight table, the queue and the join waiters', () => {
    const flying = make(requests, 'emit');
    const queued = make(requests, 'emit');
    const waiting = make(requests, 'join', 1000, 'a');
    const other = make(requests, 'join', 1000, 'a');
    requests.send(flying.request, joinFrame('x'), () => undefined);
    requests.queue.push(
      { frame: joinFrame('q'), request: queued.request },
      { frame: joinFrame('n') },
    );
    requests.waitForJoin('a', waiting.request);
    requests.waitForJoin('a', other.request);

    requests.forget(flying.request);
    expect(requests.inFlight.size).toBe(0);
    requests.forget(queued.request);
    expect(requests.queue).toHaveLength(1); // the plain emit stays queued
    expect(requests.queue[0]!.request).toBeUndefined();
    requests.forget(waiting.request);
    expect(requests.joinWaiters.get('a')).toEqual([other.request]);
    requests.forget(other.request);
    expect(requests.joinWaiters.has('a')).toBe(false); // no empty list left behind
    // Forgetting does not settle: the caller (the timeout) does.
    for (const r of [flying, queued, waiting, other]) {
      expect(r.outcome).toEqual({ resolved: [], rejected: [] });
    }
  });

  describe('failInFlight (the connection dropped)', () => {
    it('moves joins of wanted rooms to the join waiters, resolves leaves, rejects emits', () => {
      const join = make(requests, 'join', 1000, 'a');
      const leave = make(requests, 'leave', 1000, 'b');
      const emit = make(requests, 'emit');
      for (const r of [join, leave, emit]) {
        requests.send(r.request, joinFrame('x'), () => undefined);
      }
      requests.failInFlight(new Set(['a']));

      expect(requests.inFlight.size).toBe(0);
      expect(requests.joinWaiters.get('a')).toEqual([join.request]);
      expect(join.outcome).toEqual({ resolved: [], rejected: [] }); // waits for the rejoin
      expect(leave.outcome).toEqual({ resolved: [null], rejected: [] });
      expect(emit.outcome.resolved).toEqual([]);
      expect(emit.outcome.rejected).toHaveLength(1);
      expect(emit.outcome.rejected[0]).toMatchObject({
        code: ErrorCode.DISCONNECTED,
        temporary: true,
      });
    });

    it('stops the timers of what it settled, keeps the timer of a waiting join', () => {
      const join = make(requests, 'join', 1000, 'a');
      const emit = make(requests, 'emit', 1000);
      requests.send(join.request, joinFrame('a'), () => undefined);
      requests.send(emit.request, joinFrame('x'), () => undefined);
      requests.failInFlight(new Set(['a']));
      vi.advanceTimersByTime(1000);
      // The join's timer still counts from the call: a join never waits for ever.
      expect(timeouts).toEqual([[join.request, 1000]]);
    });

    it('leaves the queue and the join waiters as they are', () => {
      const queued = make(requests, 'emit');
      const waiting = make(requests, 'join', 1000, 'w');
      requests.queue.push({ frame: joinFrame('q'), request: queued.request });
      requests.waitForJoin('w', waiting.request);
      requests.failInFlight(new Set());
      expect(requests.queue).toHaveLength(1);
      expect(requests.joinWaiters.get('w')).toEqual([waiting.request]);
      expect(queued.outcome.rejected).toEqual([]);
    });
  });

  describe('failAll (nothing more will be sent)', () => {
    it('rejects everything in flight, waiting and queued with the error, and empties the table', () => {
      const flying = [
        make(requests, 'join', 1000, 'a'),
        make(requests, 'leave'),
        make(requests, 'emit'),
      ];
      for (const r of flying) requests.send(r.request, joinFrame('x'), () => undefined);
      const waiting = make(requests, 'join', 1000, 'w');
      requests.waitForJoin('w', waiting.request);
      const queued = make(requests, 'emit');
      requests.queue.push(
        { frame: joinFrame('q'), request: queued.request },
        { frame: joinFrame('n') },
      );

      const err = new RoomfabricError(ErrorCode.CLIENT_CLOSED, 'closed');
      requests.failAll(err);
      for (const r of [...flying, waiting, queued]) {
        expect(r.outcome).toEqual({ resolved: [], rejected: [err] });
      }
      expect(requests.inFlight.size).toBe(0);
      expect(requests.joinWaiters.size).toBe(0);
      expect(requests.queue).toEqual([]);
      // Their timers are stopped: no late onTimeout for a settled call.
      vi.advanceTimersByTime(60_000);
      expect(timeouts).toEqual([]);
    });
  });
});
