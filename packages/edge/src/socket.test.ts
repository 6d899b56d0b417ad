import { IndexRepairs } from './index-repairs.js';
import { decodeMulti } from '@msgpack/msgpack';
import type { Membership } from '@roomfabric/membership';
import { CloseCode, ErrorCode, FrameType } from '@roomfabric/protocol';
import type WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EdgeContext } from './context.js';
import { resolveEdgeLimits } from './limits.js';
import { Sender } from './sender.js';
import { Socket } from './socket.js';
import { newCounters } from './stats.js';

/*
 * The outbound side of one socket: what `enqueue` decides (queue, drop a volatile
 * message, close a slow consumer) and what the end-of-turn flush writes. The WebSocket is
 * a fake whose `bufferedAmount` the test sets; the context holds only what this path uses.
 */

interface FakeWs {
  bufferedAmount: number;
  calls: Array<['send', Uint8Array] | ['close', number, string] | ['terminate']>;
}

function setup(limits = { volatileBufferBytes: 100, maxBufferedBytes: 1000 }) {
  const fake: FakeWs = { bufferedAmount: 0, calls: [] };
  const ws = {
    get bufferedAmount() {
      return fake.bufferedAmount;
    },
    send: (data: Uint8Array) => fake.calls.push(['send', data]),
    close: (code: number, reason: string) => fake.calls.push(['close', code, reason]),
    terminate: () => fake.calls.push(['terminate']),
  } as unknown as WebSocket;
  const counters = newCounters();
  const removeSocket = vi.fn((_id: string) => Promise.resolve<string[]>([]));
  const ctx = {
    nodeId: 'n1',
    limits: resolveEdgeLimits(limits),
    counters,
    sender: new Sender(),
    indexHold: undefined,
    indexRepairs: new IndexRepairs(),
    membership: { removeSocket } as Partial<Membership> as Membership,
    onBackgroundError: vi.fn(),
  } as Partial<EdgeContext<Socket>> as EdgeContext<Socket>;
  const handshake = { auth: null, headers: {}, query: {}, url: '/ws', address: '', time: 0 };
  const socket = new Socket('s1', handshake, ws, ctx);
  socket.state = 'open';
  const sent = () => fake.calls.filter((c) => c[0] === 'send').map((c) => c[1] as Uint8Array);
  /** The frames of every message sent, decoded. */
  const frames = () => sent().flatMap((m) => [...decodeMulti(m)] as unknown[][]);
  return { socket, fake, counters, sent, frames, ctx };
}

const bytes = (n: number) => new Uint8Array(n).fill(7);

describe('Socket outbound path', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes every emit of a turn as one message at the end of the turn', () => {
    const { socket, sent, frames, counters } = setup();
    expect(socket.emit('a', 1)).toBe(true);
    expect(socket.emit('b', { x: 'y' })).toBe(true);
    socket.send('hi');
    expect(sent()).toHaveLength(0);
    vi.runAllTimers();
    expect(sent()).toHaveLength(1);
    expect(counters.writes).toBe(1);
    expect(frames()).toEqual([
      [FrameType.EVENT, 'a', 1, null, 0],
      [FrameType.EVENT, 'b', { x: 'y' }, null, 0],
      [FrameType.EVENT, 'message', 'hi', null, 0],
    ]);
    // The next turn's emit is a new write.
    socket.emit('c');
    vi.runAllTimers();
    expect(sent()).toHaveLength(2);
  });

  it('sends nothing for a socket that is not open', () => {
    const { socket, sent } = setup();
    socket.state = 'handshaking';
    expect(socket.emit('a', 1)).toBe(false);
    socket.state = 'closed';
    expect(socket.enqueue(bytes(1), false)).toBe(false);
    vi.runAllTimers();
    expect(sent()).toHaveLength(0);
  });

  it('drops volatile messages once the buffer is past volatileBufferBytes, keeps the others', () => {
    const { socket, fake, counters, frames } = setup();
    fake.bufferedAmount = 100; // at the threshold: still sent
    expect(socket.volatile.emit('v1')).toBe(true);
    vi.runAllTimers();
    fake.bufferedAmount = 101;
    expect(socket.volatile.emit('v2')).toBe(false);
    expect(counters.volatileDrops).toBe(1);
    expect(socket.emit('kept')).toBe(true);
    vi.runAllTimers();
    expect(frames().map((f) => f[1])).toEqual(['v1', 'kept']);
  });

  it("counts this turn's queued bytes with what the WebSocket buffered", () => {
    const { socket, counters } = setup();
    expect(socket.enqueue(bytes(60), false)).toBe(true);
    expect(socket.enqueue(bytes(41), true)).toBe(true); // 60 queued: under 100
    expect(socket.enqueue(bytes(1), true)).toBe(false); // 101 queued: over
    expect(counters.volatileDrops).toBe(1);
    expect(socket.outbox.bytes).toBe(101);
  });

  it('closes a slow consumer with 3008 past maxBufferedBytes and drops what this turn queued', () => {
    const { socket, fake, counters, sent } = setup();
    expect(socket.enqueue(bytes(10), false)).toBe(true);
    fake.bufferedAmount = 1000; // with the 10 queued: 1010 > 1000
    expect(socket.enqueue(bytes(10), false)).toBe(false);
    expect(counters.slowConsumerCloses).toBe(1);
    expect(fake.calls).toEqual([['close', CloseCode.SLOW_CONSUMER, ErrorCode.SLOW_CONSUMER]]);
    vi.runOnlyPendingTimers(); // the end-of-turn flush: nothing left to write
    expect(sent()).toHaveLength(0);
    // Closing: nothing more is queued, and no second close.
    expect(socket.enqueue(bytes(1), false)).toBe(false);
    socket.close(CloseCode.NORMAL, 'bye');
    expect(fake.calls.filter((c) => c[0] === 'close')).toHaveLength(1);
  });

  it('at maxBufferedBytes exactly the socket is kept', () => {
    const { socket, fake, counters } = setup();
    fake.bufferedAmount = 1000;
    expect(socket.enqueue(bytes(10), false)).toBe(true);
    expect(counters.slowConsumerCloses).toBe(0);
  });

  it('a slow consumer gets 5 s to complete the close, then is cut off', () => {
    const { socket, fake } = setup();
    fake.bufferedAmount = 1001;
    socket.enqueue(bytes(1), false);
    vi.advanceTimersByTime(4999);
    expect(fake.calls.some((c) => c[0] === 'terminate')).toBe(false);
    vi.advanceTimersByTime(1);
    expect(fake.calls.at(-1)).toEqual(['terminate']);
  });

  it('a close writes the queued frames (the ERROR that explains it) before the close frame', () => {
    const { socket, fake, frames } = setup();
    socket.emit('last');
    socket.close(CloseCode.KICKED, ErrorCode.KICKED);
    expect(fake.calls.map((c) => c[0])).toEqual(['send', 'close']);
    expect(frames()[0]?.[1]).toBe('last');
    vi.advanceTimersByTime(2000); // the ordinary grace
    expect(fake.calls.map((c) => c[0])).toEqual(['send', 'close', 'terminate']);
  });

  it('emitWithAck sends an EVENT with an ack id and resolves with the answer', async () => {
    const { socket, frames } = setup();
    const answer = socket.emitWithAck('ask', 'q', { timeout: 1000 });
    vi.advanceTimersByTime(1); // the end of the turn, well before the ack's timeout
    expect(frames()).toEqual([[FrameType.EVENT, 'ask', 'q', null, 1]]);
    expect(socket.settleAck(1, 'yes')).toBe(true);
    await expect(answer).resolves.toBe('yes');
    expect(socket.settleAck(1, 'yes')).toBe(false);
    expect(socket.settleAck(99, 'no')).toBe(false);
  });

  it('emitWithAck refuses a bad timeout and a closed socket without sending', async () => {
    const { socket, sent } = setup();
    await expect(socket.emitWithAck('ask', 1, { timeout: 0 })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
    });
    socket.state = 'closed';
    await expect(socket.emitWithAck('ask', 1)).rejects.toMatchObject({
      code: ErrorCode.DISCONNECTED,
    });
    vi.runAllTimers();
    expect(sent()).toHaveLength(0);
  });

  it('the close of the WebSocket rejects pending acks and runs disconnect handlers once', async () => {
    const { socket, ctx } = setup();
    const onDisconnect = vi.fn();
    socket.on('disconnect', onDisconnect);
    const answer = socket.emitWithAck('ask', 1);
    socket.handleClose({ code: 1006, reason: '' });
    await expect(answer).rejects.toMatchObject({ code: ErrorCode.DISCONNECTED });
    expect(onDisconnect).toHaveBeenCalledWith({ code: 1006, reason: '' });
    expect(socket.connected).toBe(false);
    expect(ctx.membership.removeSocket).toHaveBeenCalledWith('s1');
    // What was queued in the turn of the close is not written.
    vi.runAllTimers();
    expect(socket.outbox.bytes).toBe(0);
  });
});
