import { decode, encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import {
  BroadcastFlag,
  BusMessageType,
  decodeBusMessage,
  encodeBusMessage,
  type BroadcastMessage,
} from './envelope.js';
import {
  createFrameDecoder,
  decodeValues,
  encodeClientFrame,
  encodeEventFrame,
  encodeServerFrame,
  parseClientFrame,
  parseServerFrame,
} from './frame-codec.js';
import { FrameType, PROTOCOL_VERSION, type ClientFrame, type ServerFrame } from './frames.js';

const clientFrames: ClientFrame[] = [
  { type: FrameType.CONNECT, version: PROTOCOL_VERSION, auth: { token: 'abc' } },
  { type: FrameType.CONNECT, version: PROTOCOL_VERSION, auth: null },
  {
    type: FrameType.CONNECT,
    version: PROTOCOL_VERSION,
    auth: 't',
    recover: {
      socketId: 'old',
      rooms: [
        { room: '$chan:general', offset: 2 ** 40, epoch: 'e1' },
        { room: '$user:ada', offset: 3, epoch: 'e2' },
      ],
    },
  },
  { type: FrameType.JOIN, id: 1, room: 'lobby', since: null },
  {
    type: FrameType.JOIN,
    id: 2,
    room: 'chat',
    since: { offset: 2 ** 40 + 3, epoch: 'e1', socketId: 'old' },
  },
  { type: FrameType.JOIN, id: 3, room: 'chat', since: { offset: 0, epoch: '', socketId: null } },
  { type: FrameType.LEAVE, id: 0xffffffff, room: 'a.b c' },
  {
    type: FrameType.EMIT,
    event: 'chat',
    data: { text: 'hi', n: [1, 2.5, null] },
    id: 0,
    rooms: null,
    flags: 0,
  },
  {
    type: FrameType.EMIT,
    event: 'cursor',
    data: [1, 2],
    id: 7,
    rooms: ['a', 'b'],
    flags: BroadcastFlag.VOLATILE,
  },
  { type: FrameType.ACK, id: 3, data: 'ok' },
  { type: FrameType.PONG },
];

const serverFrames: ServerFrame[] = [
  {
    type: FrameType.HELLO,
    version: 1,
    socketId: 's1',
    nodeId: 'n1',
    heartbeatMs: 25000,
    maxFrameBytes: 65536,
    maxRoomsPerSocket: 128,
    maxFrameDepth: 32,
  },
  {
    type: FrameType.HELLO,
    version: 1,
    socketId: 's2',
    nodeId: 'n1',
    heartbeatMs: 25000,
    maxFrameBytes: 65536,
    maxRoomsPerSocket: 128,
    maxFrameDepth: 32,
    rooms: [
      { room: '$chan:general', offset: 12, epoch: 'e1', recovered: true, missed: 2 },
      { room: '$user:ada', offset: 0, epoch: '', recovered: null, missed: 0 },
    ],
  },
  {
    type: FrameType.EVENT,
    event: 'chat',
    data: { a: 1 },
    room: 'lobby',
    id: 0,
    offset: 0,
    bid: null,
  },
  { type: FrameType.EVENT, event: 'direct', data: null, room: null, id: 300, offset: 0, bid: null },
  {
    type: FrameType.EVENT,
    event: 'kept',
    data: 1,
    room: 'chat',
    id: 0,
    offset: 2 ** 33 + 7,
    bid: null,
  },
  { type: FrameType.EVENT, event: 'both', data: 1, room: 'a', id: 0, offset: 9, bid: 'b1d' },
  { type: FrameType.ACK, id: 9, data: [1, 2] },
  { type: FrameType.ERROR, id: 0, code: 'RF_ROOM_INVALID', message: 'bad' },
  { type: FrameType.PING },
  { type: FrameType.MOVED, from: 'a', to: 'b', position: null },
  { type: FrameType.MOVED, from: 'a', to: 'chat:b', position: { offset: 41, epoch: 'e1' } },
  { type: FrameType.LEFT, room: 'doc:1', code: 'RF_FORBIDDEN', message: 'no longer allowed' },
  { type: FrameType.POSITION, room: '$chan:general', offset: 2 ** 40, epoch: 'e1' },
];

describe('frames', () => {
  it('round-trips every client frame', () => {
    for (const frame of clientFrames) {
      const [value] = decodeValues(encodeClientFrame(frame));
      expect(parseClientFrame(value)).toEqual(frame);
    }
  });

  it('round-trips every server frame', () => {
    for (const frame of serverFrames) {
      const [value] = decodeValues(encodeServerFrame(frame));
      expect(parseServerFrame(value)).toEqual(frame);
    }
  });

  it('decodes several frames concatenated in one message, in order', () => {
    const parts = serverFrames.map(encodeServerFrame);
    const joined = Buffer.concat(parts);
    expect(decodeValues(joined).map(parseServerFrame)).toEqual(serverFrames);
  });

  it('splices pre-encoded data into EVENT frames exactly as msgpack would encode the array', () => {
    const cases: Array<[string, unknown, string | null, number]> = [
      ['e', { x: 1 }, 'room', 0],
      ['x'.repeat(31), 'data', null, 127],
      ['y'.repeat(32), [1, 2, 3], 'r'.repeat(255), 128],
      ['z'.repeat(300), 'x'.repeat(70000), 'é'.repeat(200), 65536],
      ['ü', null, '🎉', 0xffffffff],
    ];
    for (const [event, data, room, id] of cases) {
      const spliced = encodeEventFrame(event, encode(data), room, id);
      expect(
        Buffer.from(spliced).equals(Buffer.from(encode([FrameType.EVENT, event, data, room, id]))),
      ).toBe(true);
    }
    for (const offset of [1, 127, 128, 65535, 65536, 0xffffffff, 2 ** 32, 2 ** 53 - 1]) {
      const spliced = encodeEventFrame('e', encode('d'), 'r', 0, offset);
      expect(Buffer.from(spliced)).toEqual(
        Buffer.from(encode([FrameType.EVENT, 'e', 'd', 'r', 0, offset], { useBigInt64: false })),
      );
      const withId = encodeEventFrame('e', encode('d'), 'r', 0, offset, 'x'.repeat(40));
      expect(Buffer.from(withId)).toEqual(
        Buffer.from(encode([FrameType.EVENT, 'e', 'd', 'r', 0, offset, 'x'.repeat(40)])),
      );
    }
  });

  it('rejects a JOIN whose since is not [offset, epoch, socket id]', () => {
    for (const since of [5, [1], [-1, 'e'], [1.5, 'e'], [1, 2], [1, 'e', 3]]) {
      expect(() => parseClientFrame([FrameType.JOIN, 1, 'r', since])).toThrow(
        expect.objectContaining({ code: 'RF_FRAME_INVALID' }),
      );
    }
  });

  it('rejects a CONNECT whose recover is not [socket id, [[room, offset, epoch], ...]]', () => {
    const tooMany = Array.from({ length: 1025 }, (_, i) => [`r${i}`, 1, 'e']);
    for (const recover of [
      5,
      [null, 5],
      [3, []],
      [null, [['r', -1, 'e']]],
      [null, [['r', 1]]],
      [null, tooMany],
    ]) {
      expect(() => parseClientFrame([FrameType.CONNECT, 1, null, recover])).toThrow(
        expect.objectContaining({ code: 'RF_FRAME_INVALID' }),
      );
    }
    for (const rooms of [5, [['r', 1, 'e', 'yes', 0]], [['r', 1, 'e', null, -1]]]) {
      expect(() =>
        parseServerFrame([FrameType.HELLO, { sid: 's', node: 'n', hb: 1, rooms }]),
      ).toThrow(expect.objectContaining({ code: 'RF_FRAME_INVALID' }));
    }
  });

  it('rejects undecodable bytes with RF_FRAME_MALFORMED and close 1007', () => {
    for (const bytes of [
      new Uint8Array([0xc1]),
      new Uint8Array([0x92, 0x01]),
      new Uint8Array([]),
      new Uint8Array([0xdb, 0xff, 0xff, 0xff, 0xff]),
    ]) {
      expect(() => decodeValues(bytes)).toThrow(
        expect.objectContaining({ code: 'RF_FRAME_MALFORMED', closeCode: 1007 }),
      );
    }
  });

  it('bounds lengths by the frame limit before allocating', () => {
    const decoder = createFrameDecoder({ maxFrameBytes: 16 });
    expect(() => decodeValues(encode('x'.repeat(17)), decoder)).toThrow(
      expect.objectContaining({ code: 'RF_FRAME_MALFORMED' }),
    );
  });

  it('rejects malformed client frames of known types with RF_FRAME_INVALID and close 1002', () => {
    const bad = [
      [],
      'str',
      5,
      [FrameType.JOIN],
      [FrameType.JOIN, 0, 'r'],
      [FrameType.JOIN, 1, 5],
      [FrameType.JOIN, -1, 'r'],
      [FrameType.JOIN, 1.5, 'r'],
      [FrameType.EMIT, 7],
      [FrameType.EMIT, 'e', null, 'x'],
      [FrameType.EMIT, 'e', null, 0, 'room'],
      [FrameType.EMIT, 'e', null, 0, [1]],
      [FrameType.EMIT, 'e', null, 0, null, -1],
      [FrameType.ACK, 0, null],
      [FrameType.CONNECT],
      [FrameType.CONNECT, 'v1'],
    ];
    for (const value of bad) {
      expect(() => parseClientFrame(value), JSON.stringify(value)).toThrow(
        expect.objectContaining({ code: 'RF_FRAME_INVALID', closeCode: 1002 }),
      );
    }
  });

  it('rejects unknown frame types with RF_FRAME_UNKNOWN_TYPE and no close code', () => {
    for (const value of [[99], [FrameType.HELLO, {}], [FrameType.EVENT, 'e'], ['join']]) {
      let err: unknown;
      try {
        parseClientFrame(value);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'RF_FRAME_UNKNOWN_TYPE', closeCode: undefined });
    }
  });
});

describe('bus messages', () => {
  it('round-trips a broadcast with its pre-encoded data', () => {
    const msg: BroadcastMessage = {
      type: BusMessageType.BROADCAST,
      rooms: ['a', 'b'],
      except: ['c'],
      exceptSocket: 's1',
      flags: 1,
      event: 'e',
      data: encode({ x: 1 }),
    };
    const back = decodeBusMessage(encodeBusMessage(msg));
    expect(back).toEqual({ ...msg, data: expect.any(Uint8Array) });
    expect(decode((back as BroadcastMessage).data)).toEqual({ x: 1 });
  });

  it('rejects anything else with RF_FRAME_MALFORMED', () => {
    for (const bytes of [
      new Uint8Array([0xc1]),
      encode([2, 'x']),
      encode([1, 'a', [], null, 0, 'e', new Uint8Array()]),
      encode({}),
    ]) {
      expect(() => decodeBusMessage(bytes)).toThrow(
        expect.objectContaining({ code: 'RF_FRAME_MALFORMED' }),
      );
    }
  });
});
