import { encode } from '@msgpack/msgpack';
import { MemoryBus } from '@roomfabric/bus';
import { CloseCode, ErrorCode, FrameType, PROTOCOL_VERSION, Subject } from '@roomfabric/protocol';
import fc from 'fast-check';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { startTestEdge } from '../support/edge.js';
import { RawClient, sleep } from '../support/raw-client.js';

const documentedCodes = new Set<string>(Object.values(ErrorCode));
const documentedCloses = new Set<number>([...Object.values(CloseCode), 1005, 1006]);

/** Frames a fuzzer starts from: every valid client frame shape. */
const seeds: unknown[] = [
  [FrameType.JOIN, 1, 'room'],
  [FrameType.LEAVE, 2, 'room'],
  [FrameType.EMIT, 'ev', { a: 1 }, 0, null, 0],
  [FrameType.EMIT, 'ev', 'x', 3, ['room'], 1],
  [FrameType.ACK, 4, null],
  [FrameType.PONG],
  [FrameType.REFRESH, 5, { token: 't' }],
  [FrameType.CONNECT, PROTOCOL_VERSION, null],
];

const value = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.double(),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 16 }),
    fc.array(tie('any'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 4 }), tie('any'), { maxKeys: 3 }),
  ),
})).any;

/** A random frame: a mutated valid frame, a random array led by a frame type, or raw bytes. */
const frameBytes = fc.oneof(
  fc.tuple(fc.constantFrom(...seeds), fc.nat({ max: 5 }), value).map(([seed, at, v]) => {
    const copy = [...(seed as unknown[])];
    copy[at % (copy.length + 1)] = v;
    return encode(copy);
  }),
  fc
    .tuple(fc.integer({ min: -2, max: 14 }), fc.array(value, { maxLength: 5 }))
    .map(([t, rest]) => encode([t, ...rest])),
  fc.uint8Array({ minLength: 1, maxLength: 48 }),
  fc
    .tuple(fc.constantFrom(...seeds), fc.nat({ max: 40 }), fc.nat({ max: 255 }))
    .map(([seed, at, byte]) => {
      const bytes = encode(seed);
      bytes[at % bytes.length] = byte;
      return bytes;
    }),
);

describe('hostile input', () => {
  it('fuzz: 10,000+ random and mutated frames, zero crashes, every rejection documented, bystanders untouched', async () => {
    await using t = await startTestEdge({
      policy: 'open',
      limits: { maxFramesPerSecond: 1_000_000, maxBytesPerSecond: 1 << 30 },
    });
    const bystander = await RawClient.open(t.url);
    await bystander.join('safe', 1);
    const samples = fc.sample(frameBytes, { numRuns: 10_500, seed: 42 });
    const codes = new Map<string, number>();
    const closes = new Map<number, number>();
    let conn = await RawClient.open(t.url);
    let sent = 0;
    for (const bytes of samples) {
      if (conn.closed) {
        closes.set(conn.closed.code, (closes.get(conn.closed.code) ?? 0) + 1);
        for (const e of conn.errors()) codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
        conn = await RawClient.open(t.url);
      }
      conn.sendRaw(bytes);
      sent++;
      // Round-trip now and then, so a close caused by one frame is seen before the next.
      if (sent % 25 === 0) await conn.until(() => true).then(() => sleep(1));
      if (sent % 500 === 0) {
        conn.send({ type: FrameType.PONG });
        await sleep(5);
      }
    }
    await sleep(100);
    for (const e of conn.errors()) codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
    console.log(
      `fuzz: ${sent} frames sent; error codes ${JSON.stringify(Object.fromEntries(codes))}; closes ${JSON.stringify(Object.fromEntries(closes))}`,
    );
    expect(sent).toBeGreaterThanOrEqual(10_000);
    for (const code of codes.keys()) expect(documentedCodes.has(code), code).toBe(true);
    for (const code of closes.keys()) expect(documentedCloses.has(code), String(code)).toBe(true);
    expect(codes.has(ErrorCode.INTERNAL)).toBe(false);
    // The node still serves, and the bystander's state and deliveries are untouched.
    const probe = await RawClient.open(t.url);
    await probe.join('safe', 1);
    probe.send({
      type: FrameType.EMIT,
      event: 'after-fuzz',
      data: 1,
      id: 0,
      rooms: ['safe'],
      flags: 0,
    });
    await bystander.next((f) => f.type === FrameType.EVENT && f.event === 'after-fuzz');
    expect([...t.edge.sockets.get(bystander.hello.socketId)!.rooms]).toEqual(['safe']);
    expect(bystander.errors()).toEqual([]);
    expect(bystander.closed).toBeUndefined();
  }, 60_000);

  it('floods are limited per socket: RF_RATE_LIMITED, then close 1008; others unaffected', async () => {
    await using t = await startTestEdge({
      policy: 'open',
      limits: { maxFramesPerSecond: 50, maxBytesPerSecond: 64 * 1024 },
    });
    const calm = await RawClient.open(t.url);
    await calm.join('r', 1);
    const flooder = await RawClient.open(t.url);
    await flooder.join('r', 1);
    for (let i = 0; i < 40; i++)
      flooder.send({ type: FrameType.EMIT, event: 'x', data: i, id: 0, rooms: ['r'], flags: 0 });
    await eventually(() => calm.events('x').length === 40, {
      timeoutMs: 2000,
      what: 'within the allowance everything passes',
    });
    expect(flooder.errors()).toEqual([]);
    for (let i = 0; i < 200; i++)
      flooder.send({
        type: FrameType.EMIT,
        event: 'y',
        data: i,
        id: i + 10,
        rooms: ['r'],
        flags: 0,
      });
    const { code, reason } = await flooder.closeEvent();
    expect({ code, reason }).toEqual({ code: 1008, reason: 'RF_RATE_LIMITED' });
    expect(flooder.errors().some((e) => e.code === 'RF_RATE_LIMITED' && e.id >= 10)).toBe(true);
    const passed = calm.events('y').length;
    console.log(
      `flood: 200 frames at once with an allowance of 50/s: ${passed} delivered, then closed with 1008`,
    );
    expect(passed).toBeLessThanOrEqual(50);
    // Bytes per second: one socket sending large frames is limited the same way.
    const heavy = await RawClient.open(t.url);
    for (let i = 0; i < 4; i++)
      heavy.send({
        type: FrameType.EMIT,
        event: 'z',
        data: 'x'.repeat(30_000),
        id: 0,
        rooms: null,
        flags: 0,
      });
    await heavy.next((f) => f.type === FrameType.ERROR && f.code === 'RF_RATE_LIMITED');
    expect(t.edge.stats().rateLimited).toBeGreaterThan(0);
    calm.send({ type: FrameType.EMIT, event: 'still', data: 1, id: 5, rooms: ['r'], flags: 0 });
    await calm.next((f) => f.type === FrameType.ACK && f.id === 5);
    expect(calm.closed).toBeUndefined();
  });

  it('garbage handshakes are refused with documented codes', async () => {
    await using t = await startTestEdge({ handshakeTimeoutMs: 300 });
    const cases: Array<[string, (c: RawClient) => void, number]> = [
      ['join before connect', (c) => c.send({ type: FrameType.JOIN, id: 1, room: 'a' }), 1002],
      ['connect with a string version', (c) => c.sendValue([FrameType.CONNECT, 'one']), 1002],
      ['random bytes', (c) => c.sendRaw(new Uint8Array([0xc1, 0xff, 0x00])), 1007],
      ['http text', (c) => c.sendRaw('GET / HTTP/1.1'), 1003],
      ['nothing at all', () => undefined, 4001],
      [
        'two connects at once',
        (c) => c.sendRaw(Buffer.concat([encode([0, 1, null]), encode([0, 1, null])])),
        1002,
      ],
    ];
    for (const [name, act, code] of cases) {
      const c = await RawClient.open(t.url, false);
      act(c);
      expect((await c.closeEvent()).code, name).toBe(code);
    }
    await eventually(() => t.edge.sockets.size === 0, {
      timeoutMs: 1000,
      what: 'no refused socket registered',
    });
  });

  it('malformed bus messages from a rogue publisher are counted and dropped; delivery goes on', async () => {
    const bus = new MemoryBus();
    await using t = await startTestEdge({ policy: 'open', bus });
    const c = await RawClient.open(t.url);
    await c.join('room', 1);
    const junk = [
      new Uint8Array([0xc1]),
      encode([1, 'not-an-array']),
      encode([2, 9, [], [], '', new Uint8Array()]),
      encode([4, 'r', 'a', 'b', t.edge.nodeId, 5, 1, []]),
      encode({}),
      new Uint8Array(),
    ];
    for (const bytes of junk) {
      await bus.publish(Subject.room('room'), bytes);
      await bus.publish(Subject.all, bytes);
      await bus.publish(Subject.node(t.edge.nodeId), bytes);
    }
    await t.edge.to('room').emit('fine', 1);
    await c.next((f) => f.type === FrameType.EVENT && f.event === 'fine');
    console.log(
      `rogue publisher: ${junk.length * 3} junk messages, busMalformed=${t.edge.stats().busMalformed}`,
    );
    expect(t.edge.stats().busMalformed).toBeGreaterThanOrEqual(junk.length * 3 - 3);
    expect(c.closed).toBeUndefined();
  });

  it('clients can never reach internal subjects: a room named like one maps into rf.room.*', async () => {
    const bus = new MemoryBus();
    const internal: string[] = [];
    await bus.subscribe('rf.node.>', (_p, s) => internal.push(s));
    await bus.subscribe('rf.svc.>', (_p, s) => internal.push(s));
    await using t = await startTestEdge({ policy: 'open', bus });
    const c = await RawClient.open(t.url);
    for (const [i, room] of [
      'rf.node.' + t.edge.nodeId,
      'rf.svc.raid',
      'rf.all',
      '*',
      '>',
      'rf.node.*',
    ].entries()) {
      expect(await c.join(room, i + 1)).toMatchObject({ type: FrameType.ACK });
      c.send({ type: FrameType.EMIT, event: 'x', data: 1, id: 100 + i, rooms: [room], flags: 0 });
      await c.next((f) => f.type === FrameType.ACK && f.id === 100 + i);
      expect(Subject.room(room).startsWith('rf.room.')).toBe(true);
      expect(Subject.room(room).split('.').length).toBe(3);
    }
    await sleep(50);
    expect(internal).toEqual([]);
    for (const room of ['$user:bob', '$socket:' + c.hello.socketId]) {
      expect(await c.join(room, 50)).toMatchObject({
        type: FrameType.ERROR,
        code: 'RF_ROOM_RESERVED',
      });
    }
  });
});
