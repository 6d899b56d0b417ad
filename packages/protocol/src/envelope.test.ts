import { describe, expect, it } from 'vitest';
import { encode } from '@msgpack/msgpack';
import {
  BusMessageType,
  decodeBusMessage,
  encodeBusMessage,
  type PresenceEventMessage,
} from './envelope.js';

describe('presence event bus messages', () => {
  it('round-trips a join and a leave with the socket data', () => {
    const join: PresenceEventMessage = {
      type: BusMessageType.PRESENCE_EVENT,
      room: 'doc:1',
      kind: 'join',
      user: 'ada',
      socketId: 's1',
      data: { user: 'ada', info: { name: 'Ada', color: '#f00' } },
    };
    expect(decodeBusMessage(encodeBusMessage(join))).toEqual(join);
    const leave = { ...join, kind: 'leave' as const, data: null };
    expect(decodeBusMessage(encodeBusMessage(leave))).toEqual(leave);
  });

  it('rejects a malformed one with RF_FRAME_MALFORMED', () => {
    const P = BusMessageType.PRESENCE_EVENT;
    for (const bad of [
      [P, 'room', 'arrived', 'ada', 's1', null],
      [P, 'room', 'join', 7, 's1', null],
      [P, 'room', 'join', 'ada'],
      [P, null, 'leave', 'ada', 's1', null],
    ]) {
      expect(() => decodeBusMessage(encode(bad)), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: 'RF_FRAME_MALFORMED' }),
      );
    }
  });
});
