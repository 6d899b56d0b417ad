import { HistoryHeader, MemoryBus, MemoryHistory, type BusHeaders } from '@roomfabric/bus';
import { createRecordingLogger } from '@roomfabric/fabric';
import { CloseCode, ErrorCode, type RoomfabricError } from '@roomfabric/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EdgeContext } from '../context.js';
import { LocalRooms, type LocalRoom } from '../local-rooms.js';
import type { Socket } from '../socket.js';
import { newCounters } from '../stats.js';
import { HistoryGaps } from './gaps.js';

/*
 * HistoryGaps on a MemoryBus and a MemoryHistory: live entries reach the node's room
 * through the bus, except those the test drops (what a NATS reconnect loses), and the
 * fill reads the real history. Room members are stand-ins that record what the node does
 * to them when a gap cannot be filled.
 */

const ROOM = 'h:1';
const STREAM = 'RF_HISTORY_t';
const text = new TextEncoder();
const read = new TextDecoder();

interface Member {
  id: string;
  errors: RoomfabricError[];
  closed: Array<[number, string]>;
}

function setup(recoveryLimit = 100) {
  const bus = new MemoryBus();
  const history = new MemoryHistory(bus, [{ rooms: ['h:*'], name: 't' }]);
  const logger = createRecordingLogger();
  /** What was warned so far, as [fields, msg]. */
  const warnings = () =>
    logger.entries.filter((e) => e.level === 'warn').map((e) => [e.fields, e.msg] as const);

  const counters = newCounters();
  /** What reached the members, in order: [payload, offset]. */
  const delivered: Array<[string, number]> = [];
  let dropping = false;
  const dispatch = (_room: LocalRoom<Socket>, payload: Uint8Array, offset: number) => {
    delivered.push([read.decode(payload), offset]);
  };
  const ctx = {
    bus,
    history,
    recoveryLimit,
    logger,
    counters,
  } as Partial<EdgeContext<Socket>> as EdgeContext<Socket>;
  const gaps = new HistoryGaps(ctx, dispatch);
  const rooms = new LocalRooms<Socket>(
    bus,
    (room, payload, headers) => {
      if (dropping) return; // lost on the way, as core NATS may
      const offset = gaps.admit(room, payload, headers);
      if (offset >= 0) dispatch(room, payload, offset);
    },
    () => undefined,
    () => undefined,
  );
  (ctx as { localRooms: LocalRooms<Socket> }).localRooms = rooms;

  const member = (id: string): Member => ({ id, errors: [], closed: [] });
  const asSocket = (m: Member): Socket =>
    ({
      id: m.id,
      sendError: (_id: number, err: RoomfabricError) => m.errors.push(err),
      close: (code: number, reason: string) => m.closed.push([code, reason]),
    }) as unknown as Socket;

  async function join(m = member('m1')): Promise<{ room: LocalRoom<Socket>; m: Member }> {
    const room = rooms.add(ROOM, asSocket(m));
    await room.ready;
    return { room, m };
  }

  /** Appends entries; `lost` ones never reach this node live. */
  async function append(bodies: string[], lost = false): Promise<number[]> {
    dropping = lost;
    const offsets: number[] = [];
    for (const b of bodies) offsets.push((await history.append(ROOM, text.encode(b))).offset);
    await bus.flush();
    dropping = false;
    return offsets;
  }

  return { bus, history, ctx, gaps, counters, warnings, delivered, join, member, append };
}

/** Lets every pending Promise chain and bus delivery run. */
const idle = () => new Promise((resolve) => setImmediate(resolve));

function headers(offset: number, previous: number, stream: string | undefined = STREAM) {
  const h: Record<string, string> = {
    [HistoryHeader.OFFSET]: String(offset),
    [HistoryHeader.PREVIOUS]: String(previous),
  };
  if (stream !== undefined) h[HistoryHeader.STREAM] = stream;
  return { get: (name: string) => h[name] } satisfies BusHeaders;
}

describe('HistoryGaps', () => {
  const buses: MemoryBus[] = [];
  const make = (recoveryLimit?: number) => {
    const s = setup(recoveryLimit);
    buses.push(s.bus);
    return s;
  };
  afterEach(async () => {
    vi.useRealTimers();
    vi.restoreAllMocks();
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });

  it('delivers a live stream without holes as it comes, with its offsets', async () => {
    const { join, append, delivered, counters } = make();
    const { room } = await join();
    const offsets = await append(['a', 'b', 'c']);
    expect(delivered).toEqual([
      ['a', offsets[0]],
      ['b', offsets[1]],
      ['c', offsets[2]],
    ]);
    expect(room.lastOffset).toBe(offsets[2]);
    expect(counters.historyGapsFilled).toBe(0);
  });

  it('a message without history headers is delivered with offset 0 and changes nothing', async () => {
    const { join, gaps } = make();
    const { room } = await join();
    room.lastOffset = 5;
    expect(gaps.admit(room, Uint8Array.of(1), undefined)).toBe(0);
    expect(gaps.admit(room, Uint8Array.of(1), { get: () => undefined })).toBe(0);
    expect(room.lastOffset).toBe(5);
  });

  it('fills a hole from the history, in order, before the entry that showed it', async () => {
    const { join, append, delivered, counters } = make();
    await join();
    const [o1] = await append(['1']);
    const [o2, o3] = await append(['2', '3'], true);
    const [o4] = await append(['4']);
    await idle();
    expect(delivered).toEqual([
      ['1', o1],
      ['2', o2],
      ['3', o3],
      ['4', o4],
    ]);
    expect(counters.historyGapsFilled).toBe(1);
    // The fill read 2, 3 and 4 (stored by then); the held live 4 was not sent again.
    expect(counters.historyGapEntries).toBe(3);
  });

  it('holds what arrives during the fill and delivers every entry once', async () => {
    const { join, append, history, delivered } = make();
    const { room } = await join();
    await append(['1']);
    await append(['2'], true);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const since = history.since.bind(history);
    vi.spyOn(history, 'since').mockImplementationOnce(async (...args) => {
      await gate;
      return since(...args);
    });
    await append(['3', '4', '5']);
    await idle();
    expect(delivered.map((d) => d[0])).toEqual(['1']); // 3, 4, 5 wait for the fill
    expect(room.gapHeld?.length).toBe(3);
    open();
    await idle();
    // The fill read 2..5; the held 3, 4, 5 are not sent again.
    expect(delivered.map((d) => d[0])).toEqual(['1', '2', '3', '4', '5']);
    expect(room.gapHeld).toBeUndefined();
    await append(['6']);
    expect(delivered.map((d) => d[0])).toEqual(['1', '2', '3', '4', '5', '6']);
  });

  it('an entry at or below the last delivered offset is not delivered again', async () => {
    const { join, gaps } = make();
    const { room } = await join();
    expect(gaps.admit(room, Uint8Array.of(), headers(10, 0))).toBe(10);
    expect(gaps.admit(room, Uint8Array.of(), headers(10, 0))).toBe(-1);
    expect(gaps.admit(room, Uint8Array.of(), headers(9, 0))).toBe(-1);
    expect(gaps.admit(room, Uint8Array.of(), headers(11, 10))).toBe(11);
  });

  it('an anchor gives the room a position but is not delivered', async () => {
    const { join, history, delivered, counters, append } = make();
    const { room } = await join();
    const position = await history.position(ROOM); // an empty room: stores an anchor
    await idle();
    expect(delivered).toEqual([]);
    expect(room.lastOffset).toBe(position.offset);
    const [o] = await append(['first']);
    await idle();
    expect(delivered).toEqual([['first', o]]); // previous = the anchor: no hole
    expect(counters.historyGapsFilled).toBe(0);
  });

  it('before the first live entry, checks against what the join read (historyFloor)', async () => {
    const { join, append, delivered } = make();
    const [o1] = await append(['before-join']);
    const { room } = await join();
    room.historyFloor = o1!; // the join read up to it
    await append(['lost-between-read-and-interest'], true);
    await append(['first-live']);
    await idle();
    expect(delivered.map((d) => d[0])).toEqual(['lost-between-read-and-interest', 'first-live']);
  });

  it('without a last offset or a floor, the first entry starts the sequence whatever its previous', async () => {
    const { join, gaps } = make();
    const { room } = await join();
    expect(gaps.admit(room, Uint8Array.of(), headers(50, 49))).toBe(50);
    expect(room.gapHeld).toBeUndefined();
  });

  it('a hole whose entries are gone closes the members with 4004 and starts over', async () => {
    const { join, append, delivered, counters, member, warnings } = make(1);
    const a = member('a');
    const b = member('b');
    await join(a);
    await join(b);
    await append(['1']);
    await append(['2', '3'], true); // more missing than the recovery limit
    await append(['4']);
    await idle();
    expect(delivered.map((d) => d[0])).toEqual(['1']);
    expect(counters.historyGapsLost).toBe(1);
    for (const m of [a, b]) {
      expect(m.errors.map((e) => e.code)).toEqual([ErrorCode.HISTORY_GAP]);
      expect(m.closed).toEqual([[CloseCode.HISTORY_GAP, ErrorCode.HISTORY_GAP]]);
    }
    expect(warnings().at(-1)?.[1]).toMatch(/the missing entries are gone/);
    // The next live entry starts the sequence again: delivered, no new fill.
    const [o5] = await append(['5']);
    await idle();
    expect(delivered.at(-1)).toEqual(['5', o5]);
    expect(counters.historyGapsLost).toBe(1);
  });

  it('retries a history that does not answer (250 ms, then 500 ms), then fills', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    const { join, append, history, delivered, counters } = make();
    await join();
    await append(['1']);
    await append(['2'], true);
    const since = vi.spyOn(history, 'since');
    since.mockRejectedValueOnce(new Error('down')).mockRejectedValueOnce(new Error('down'));
    await append(['3']);
    await vi.advanceTimersByTimeAsync(249);
    expect(since).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(since).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(499);
    expect(since).toHaveBeenCalledTimes(2);
    expect(delivered.map((d) => d[0])).toEqual(['1']);
    await vi.advanceTimersByTimeAsync(1);
    expect(since).toHaveBeenCalledTimes(3);
    expect(delivered.map((d) => d[0])).toEqual(['1', '2', '3']);
    expect(counters.historyGapsLost).toBe(0);
  });

  it('gives up after three failed reads: the members reconnect', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    const { join, append, history, counters, member, warnings } = make();
    const a = member('a');
    await join(a);
    await append(['1']);
    await append(['2'], true);
    vi.spyOn(history, 'since').mockRejectedValue(new Error('down'));
    await append(['3']);
    await vi.advanceTimersByTimeAsync(750);
    expect(counters.historyGapsLost).toBe(1);
    expect(a.closed).toEqual([[CloseCode.HISTORY_GAP, ErrorCode.HISTORY_GAP]]);
    expect(warnings().at(-1)?.[1]).toMatch(/the history did not answer/);
  });

  it('a room deleted during its fill gets nothing delivered and nobody closed', async () => {
    const { join, append, history, delivered, counters } = make();
    const { room, m } = await join();
    await append(['1']);
    await append(['2'], true);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const since = history.since.bind(history);
    vi.spyOn(history, 'since').mockImplementationOnce(async (...args) => {
      await gate;
      return since(...args);
    });
    await append(['3']);
    room.delete();
    open();
    await idle();
    expect(delivered.map((d) => d[0])).toEqual(['1']);
    expect(m.closed).toEqual([]);
    expect(counters.historyGapsFilled + counters.historyGapsLost).toBe(0);
  });

  it('holds at most 10 000 live entries during a fill, then gives the room up', async () => {
    const { join, gaps, history, counters } = make();
    const { room, m } = await join();
    vi.spyOn(history, 'since').mockReturnValue(new Promise(() => undefined)); // never answers
    expect(gaps.admit(room, Uint8Array.of(), headers(1, 0))).toBe(1);
    expect(gaps.admit(room, Uint8Array.of(), headers(5, 4))).toBe(-1); // hole: fill starts
    let deliveredNow = 0;
    for (let i = 0; i < 9_999; i++) {
      if (gaps.admit(room, Uint8Array.of(), headers(6 + i, 5 + i)) !== -1) deliveredNow++;
    }
    expect(deliveredNow).toBe(0);
    expect(room.gapHeld?.length).toBe(10_000);
    expect(counters.historyGapsLost).toBe(0);
    expect(gaps.admit(room, Uint8Array.of(), headers(20_000, 19_999))).toBe(-1);
    expect(counters.historyGapsLost).toBe(1);
    expect(room.gapHeld).toBeUndefined();
    expect(room.lastOffset).toBe(0);
    expect(m.closed).toEqual([[CloseCode.HISTORY_GAP, ErrorCode.HISTORY_GAP]]);
  });

  it('an entry of another stream is delivered without an offset, and reported once per stream', async () => {
    const { join, gaps, warnings } = make();
    const { room } = await join();
    room.lastOffset = 7;
    expect(gaps.admit(room, Uint8Array.of(), headers(100, 99, 'RF_HISTORY_other'))).toBe(0);
    expect(gaps.admit(room, Uint8Array.of(), headers(101, 100, 'RF_HISTORY_other'))).toBe(0);
    expect(room.lastOffset).toBe(7); // outside the room's sequence
    expect(room.gapHeld).toBeUndefined();
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]![0]).toMatchObject({ stream: 'RF_HISTORY_other', expected: STREAM });
    // An anchor from there is still not delivered.
    const anchor = headers(102, 101, 'RF_HISTORY_other');
    const withAnchor: BusHeaders = {
      get: (n) => (n === HistoryHeader.ANCHOR ? '1' : anchor.get(n)),
    };
    expect(gaps.admit(room, Uint8Array.of(), withAnchor)).toBe(-1);
    // An entry that names no stream is taken as this room's.
    expect(gaps.admit(room, Uint8Array.of(), headers(8, 7, undefined))).toBe(8);
  });

  it('after a bus reconnect, checkAll reads what each delivering room missed', async () => {
    const { join, append, gaps, delivered, counters } = make();
    const { room } = await join();
    await append(['1']);
    const [o2, o3] = await append(['2', '3'], true); // lost while disconnected
    await gaps.checkAll();
    expect(delivered).toEqual([
      ['1', expect.any(Number)],
      ['2', o2],
      ['3', o3],
    ]);
    expect(room.lastOffset).toBe(o3);
    expect(counters.historyGapEntries).toBe(2);
    // Nothing missing: a second check delivers nothing.
    await gaps.checkAll();
    expect(delivered).toHaveLength(3);
  });

  it('checkAll leaves rooms that delivered nothing yet, and does nothing while the bus is down', async () => {
    const { join, gaps, history, ctx } = make();
    const { room } = await join();
    const since = vi.spyOn(history, 'since');
    await gaps.checkAll();
    expect(since).not.toHaveBeenCalled();
    room.lastOffset = 3;
    vi.spyOn(ctx.bus, 'flush').mockRejectedValueOnce(new Error('disconnected'));
    await gaps.checkAll();
    expect(since).not.toHaveBeenCalled();
    expect(room.gapHeld).toBeUndefined();
  });
});
