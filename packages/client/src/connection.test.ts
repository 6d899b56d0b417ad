import {
  CloseCode,
  decodeValues,
  encodeServerFrame,
  ErrorCode,
  FrameType,
  parseClientFrame,
  type RoomfabricError,
  type ClientFrame,
  type ServerFrame,
} from '@roomfabric/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RoomfabricClient } from './client.js';
import type { ClientOptions, StateChange, WebSocketLike } from './types.js';

/**
 * An in-memory WebSocket: the test opens it, answers as the server, and drops it. Every
 * instance the client makes (one per connection attempt) is kept, with what it was sent.
 */
class FakeSocket implements WebSocketLike {
  static made: FakeSocket[] = [];
  binaryType = '';
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: ClientFrame[] = [];
  closedWith: { code?: number; reason?: string } | undefined;

  constructor(readonly url: string) {
    FakeSocket.made.push(this);
  }

  send(data: Uint8Array): void {
    for (const value of decodeValues(data)) this.sent.push(parseClientFrame(value));
  }

  close(code?: number, reason?: string): void {
    this.readyState = 3;
    this.closedWith = { code, reason };
  }

  // The server's side.
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(frame: ServerFrame): void {
    this.onmessage?.({ data: encodeServerFrame(frame) });
  }

  hello(socketId = `s${FakeSocket.made.length}`): void {
    this.receive({
      type: FrameType.HELLO,
      version: 1,
      socketId,
      nodeId: 'node-1',
      heartbeatMs: 60_000,
      maxFrameBytes: 65_536,
      maxRoomsPerSocket: 128,
      maxFrameDepth: 32,
    });
  }

  drop(code: number = CloseCode.ABNORMAL, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** Frames sent of one type. */
  framesOf<T extends ClientFrame['type']>(type: T): Array<Extract<ClientFrame, { type: T }>> {
    return this.sent.filter((f): f is Extract<ClientFrame, { type: T }> => f.type === type);
  }
}

const last = (): FakeSocket => FakeSocket.made[FakeSocket.made.length - 1]!;

/** Lets promise callbacks run (CONNECT is sent after the auth is awaited, rejoins resolve). */
const settleMicrotasks = () => vi.advanceTimersByTimeAsync(0);

let clients: RoomfabricClient[];

function client(options: ClientOptions = {}): RoomfabricClient {
  const c = new RoomfabricClient('ws://fake/ws', {
    WebSocket: FakeSocket,
    reconnect: { minDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0 },
    ...options,
  });
  clients.push(c);
  return c;
}

/** A client connected on its first socket. */
async function connected(options: ClientOptions = {}): Promise<RoomfabricClient> {
  const c = client(options);
  last().open();
  await settleMicrotasks();
  last().hello();
  await settleMicrotasks();
  expect(c.state).toBe('connected');
  return c;
}

/** The outcome of a promise, for a test that checks it later without awaiting it now. */
function outcome<T>(p: Promise<T>): { value?: T; error?: RoomfabricError; done: boolean } {
  const o: { value?: T; error?: RoomfabricError; done: boolean } = { done: false };
  p.then(
    (value) => Object.assign(o, { value, done: true }),
    (error: RoomfabricError) => Object.assign(o, { error, done: true }),
  );
  return o;
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.made = [];
  clients = [];
});

afterEach(() => {
  for (const c of clients) c.close();
  vi.useRealTimers();
});

describe('Connection: the handshake', () => {
  it('sends CONNECT with the auth once open, and is connected at HELLO', async () => {
    const c = client({ auth: { token: 't' } });
    expect(c.state).toBe('connecting');
    const socket = last();
    expect(socket.url).toBe('ws://fake/ws');
    expect(socket.sent).toEqual([]);
    socket.open();
    await settleMicrotasks();
    expect(socket.sent).toEqual([
      { type: FrameType.CONNECT, version: 1, auth: { token: 't' } }, // no recover: no positions
    ]);
    socket.hello('sock-9');
    await settleMicrotasks();
    expect(c.state).toBe('connected');
    expect(c.id).toBe('sock-9');
    expect(c.nodeId).toBe('node-1');
  });

  it('a WebSocket constructor that throws: RF_CONNECT_FAILED on `error`, then retried', async () => {
    let attempts = 0;
    class Refusing extends FakeSocket {
      constructor(url: string) {
        super(url);
        attempts++;
        throw new SyntaxError('The URL contains a fragment identifier');
      }
    }
    const c = client({ WebSocket: Refusing });
    const errors: string[] = [];
    c.on('error', (e) => errors.push(e.code));
    await settleMicrotasks();
    expect(errors).toEqual([ErrorCode.CONNECT_FAILED]);
    expect(c.state).toBe('connecting'); // temporary: retried
    await vi.advanceTimersByTimeAsync(100);
    expect(attempts).toBe(2);
    expect(errors).toEqual([ErrorCode.CONNECT_FAILED, ErrorCode.CONNECT_FAILED]);
  });
});

describe('Connection: reconnect backoff', () => {
  it('waits minDelayMs, then longer each failed attempt, capped at maxDelayMs', async () => {
    const c = client();
    const reasons: string[] = [];
    c.on('connecting', (change: StateChange) => reasons.push(`${change.code} ${change.reason}`));
    const gaps: number[] = [];
    let at = Date.now();
    for (let attempt = 0; attempt < 6; attempt++) {
      const count = FakeSocket.made.length;
      last().drop();
      // Step 1 ms at a time until the next attempt's socket appears.
      while (FakeSocket.made.length === count) await vi.advanceTimersByTimeAsync(1);
      gaps.push(Date.now() - at);
      at = Date.now();
    }
    expect(gaps).toEqual([100, 200, 400, 800, 1000, 1000]);
    // Each cycle is reported, with why.
    expect(reasons).toEqual(Array(6).fill('1006 RF_DISCONNECTED'));
    expect(c.state).toBe('connecting');
  });

  it('starts over at minDelayMs once a connection got through', async () => {
    client();
    last().drop();
    await vi.advanceTimersByTimeAsync(100);
    last().drop();
    await vi.advanceTimersByTimeAsync(200);
    expect(FakeSocket.made).toHaveLength(3);
    // The third attempt connects...
    last().open();
    await settleMicrotasks();
    last().hello();
    await settleMicrotasks();
    // ...and the drop after it is retried after 100 ms again, not 400.
    last().drop();
    await vi.advanceTimersByTimeAsync(99);
    expect(FakeSocket.made).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.made).toHaveLength(4);
  });

  it('gives up after maxAttempts retries: disconnected, ready() rejects', async () => {
    const c = client({ reconnect: { minDelayMs: 10, jitter: 0, maxAttempts: 2 } });
    const ready = outcome(c.ready());
    for (let i = 0; i < 3; i++) {
      last().drop();
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(FakeSocket.made).toHaveLength(3); // the first attempt and two retries
    expect(c.state).toBe('disconnected');
    expect(ready.error).toMatchObject({ code: ErrorCode.DISCONNECTED });
  });

  it('does not reconnect after a terminal close code (kicked)', async () => {
    const c = await connected();
    const join = outcome(c.join('a'));
    last().drop(CloseCode.KICKED, ErrorCode.KICKED);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(FakeSocket.made).toHaveLength(1);
    expect(c.state).toBe('disconnected');
    expect(join.error).toMatchObject({ code: ErrorCode.KICKED });
    expect(c.roomState('a')).toBe('unsubscribed');
  });
});

describe('Connection: requests through drops and timeouts', () => {
  it('a join with no answer rejects RF_ACK_TIMEOUT naming the room, and leaves it', async () => {
    const c = await connected({ ackTimeoutMs: 500 });
    const join = outcome(c.join('a'));
    await settleMicrotasks();
    const [sent] = last().framesOf(FrameType.JOIN);
    expect(sent).toMatchObject({ room: 'a' });
    await vi.advanceTimersByTimeAsync(499);
    expect(join.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(join.error).toMatchObject({
      code: ErrorCode.ACK_TIMEOUT,
      temporary: true,
      details: { room: 'a' },
    });
    // All or nothing: out of the room, and the server is told so.
    expect(c.roomState('a')).toBe('unsubscribed');
    expect(last().framesOf(FrameType.LEAVE)).toMatchObject([{ room: 'a' }]);
    // A late ACK of the timed-out join changes nothing.
    last().receive({ type: FrameType.ACK, id: sent!.id, data: null });
    expect(c.roomState('a')).toBe('unsubscribed');
  });

  it('emitWithAck rejects RF_ACK_TIMEOUT after its own timeout', async () => {
    const c = await connected({ ackTimeoutMs: 5000 });
    const call = outcome(c.emitWithAck('save', { n: 1 }, { timeout: 200 }));
    await vi.advanceTimersByTimeAsync(200);
    expect(call.error).toMatchObject({ code: ErrorCode.ACK_TIMEOUT, temporary: true });
    expect(call.error!.details).toBeUndefined();
  });

  it('a drop rejects emits in flight (RF_DISCONNECTED); joins in flight are sent again and resolve', async () => {
    const c = await connected();
    const emit = outcome(c.emitWithAck('save', 1));
    const join = outcome(c.join('a'));
    await settleMicrotasks();
    last().drop();
    await settleMicrotasks();
    expect(emit.error).toMatchObject({ code: ErrorCode.DISCONNECTED, temporary: true });
    expect(join.done).toBe(false);
    expect(c.roomState('a')).toBe('subscribing');

    await vi.advanceTimersByTimeAsync(100);
    const second = last();
    expect(FakeSocket.made).toHaveLength(2);
    second.open();
    await settleMicrotasks();
    second.hello();
    await settleMicrotasks();
    const [rejoin] = second.framesOf(FrameType.JOIN);
    expect(rejoin).toMatchObject({ room: 'a' });
    second.receive({ type: FrameType.ACK, id: rejoin!.id, data: null });
    await settleMicrotasks();
    expect(join.done).toBe(true);
    expect(join.error).toBeUndefined();
    expect(c.roomState('a')).toBe('subscribed');
    expect(c.state).toBe('connected');
  });

  it('close() rejects everything pending with RF_CLIENT_CLOSED and takes every room out', async () => {
    const c = client();
    const changes: string[] = [];
    c.on('room:state', (ch) => changes.push(`${ch.room} ${ch.state} ${ch.reason}`));
    const join = outcome(c.join('a'));
    const queued = outcome(c.emitWithAck('later', 1));
    expect(c.emit('fire-and-forget')).toBe(true); // queued while connecting
    c.close();
    await settleMicrotasks();
    expect(join.error).toMatchObject({ code: ErrorCode.CLIENT_CLOSED });
    expect(queued.error).toMatchObject({ code: ErrorCode.CLIENT_CLOSED });
    expect(changes).toEqual(['a subscribing join', 'a unsubscribed RF_CLIENT_CLOSED']);
    expect(c.state).toBe('disconnected');
    // Closed for good: no reconnect, and calls fail at once.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(FakeSocket.made).toHaveLength(1);
    await expect(c.join('b')).rejects.toMatchObject({ code: ErrorCode.CLIENT_CLOSED });
  });
});

describe('Connection: server events reach the client’s listeners', () => {
  it('on() gets the data and the room; off() stops it; a bad handler is refused', async () => {
    const c = await connected();
    const got: unknown[] = [];
    const onChat = (data: unknown, meta: { room: string | null }) => got.push([data, meta.room]);
    expect(c.on('chat', onChat)).toBe(c);
    const event = (data: unknown): ServerFrame => ({
      type: FrameType.EVENT,
      event: 'chat',
      data,
      room: 'lobby',
      id: 0,
      offset: 0,
      bid: null,
    });
    last().receive(event('hi'));
    expect(c.off('chat', onChat)).toBe(c);
    last().receive(event('unheard'));
    expect(got).toEqual([['hi', 'lobby']]);
    expect(() => c.on('chat', 'not a function' as never)).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
    expect(() => c.on(42 as never, () => undefined)).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });

  it('a throwing listener does not break the connection: later events still arrive', async () => {
    const c = await connected();
    const got: unknown[] = [];
    c.on('tick', () => {
      throw new Error('app bug');
    });
    c.on('tick', (n) => got.push(n));
    const tick = (n: number): ServerFrame => ({
      type: FrameType.EVENT,
      event: 'tick',
      data: n,
      room: null,
      id: 0,
      offset: 0,
      bid: null,
    });
    last().receive(tick(1));
    last().receive(tick(2));
    expect(got).toEqual([1, 2]);
    expect(c.state).toBe('connected');
    // The listener's errors are rethrown on later ticks; drop them with the fake timers.
    vi.clearAllTimers();
  });
});
