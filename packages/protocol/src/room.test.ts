import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertChannelName,
  assertRoomId,
  channelOfRoom,
  channelRoom,
  isReservedRoom,
  roomIdProblem,
  roomToSubjectToken,
  Subject,
  subjectTokenToRoom,
} from './room.js';

const NATS_TOKEN = /^[A-Za-z0-9_~-]+$/;

describe('room ids', () => {
  it('accepts 1..200 characters of printable Unicode, spaces and punctuation included', () => {
    for (const room of [
      'a',
      'lobby',
      'doc:42',
      'a.b.c',
      'a*b',
      'a>b',
      'with space',
      'émoji 🎉',
      'x'.repeat(200),
      '🎉'.repeat(200),
    ]) {
      expect(roomIdProblem(room), room).toBeUndefined();
    }
  });

  it('rejects empty, too long, non-strings, control characters and lone surrogates with RF_ROOM_INVALID', () => {
    for (const room of [
      '',
      'x'.repeat(201),
      '🎉'.repeat(201),
      'a\nb',
      'tab\there',
      'nul\u0000',
      'c1\u0085',
      '\ud800',
      42,
      null,
      {},
    ]) {
      expect(() => assertRoomId(room)).toThrow(
        expect.objectContaining({ code: 'RF_ROOM_INVALID' }),
      );
    }
  });

  it('honours a configured maximum length', () => {
    expect(roomIdProblem('abcd', 3)).toBeDefined();
    expect(roomIdProblem('abc', 3)).toBeUndefined();
  });

  it('reserves the $ prefix', () => {
    expect(isReservedRoom('$user:1')).toBe(true);
    expect(isReservedRoom('user:$1')).toBe(false);
  });
});

describe('channel rooms', () => {
  it('puts the live room of a channel in the reserved namespace and maps it back', () => {
    expect(channelRoom('general')).toBe('$chan:general');
    expect(isReservedRoom(channelRoom('general'))).toBe(true);
    expect(channelOfRoom('$chan:general')).toBe('general');
    expect(channelOfRoom('$chan:a:b')).toBe('a:b');
    for (const room of ['$chan:', 'chan:general', '$user:general', 'general']) {
      expect(channelOfRoom(room), room).toBeUndefined();
    }
  });

  it('accepts channel names whose live room is a valid room id, and only those', () => {
    for (const name of ['general', 'a.b', 'émoji 🎉', '$odd', 'x'.repeat(194), '🎉'.repeat(194)]) {
      expect(() => assertChannelName(name), name).not.toThrow();
    }
    for (const name of ['', 'x'.repeat(195), '🎉'.repeat(195), 'a\nb', '\ud800', 7, null]) {
      expect(() => assertChannelName(name), String(name)).toThrow(
        expect.objectContaining({ code: 'RF_ROOM_INVALID' }),
      );
    }
    expect(() => assertChannelName('abcd', 9)).toThrow(
      expect.objectContaining({ code: 'RF_ROOM_INVALID' }),
    );
    expect(() => assertChannelName('abc', 9)).not.toThrow();
  });
});

describe('room -> subject token', () => {
  it('keeps plain ids readable and escapes everything else', () => {
    expect(roomToSubjectToken('chat-general_1')).toBe('chat-general_1');
    expect(roomToSubjectToken('a.b')).toBe('a~2Eb');
    expect(roomToSubjectToken('a*')).toBe('a~2A');
    expect(roomToSubjectToken('>')).toBe('~3E');
    expect(roomToSubjectToken('a b')).toBe('a~20b');
    expect(roomToSubjectToken('~')).toBe('~7E');
    expect(roomToSubjectToken('é')).toBe('~C3~A9');
  });

  it('never collides on the tricky ids and round-trips them', () => {
    const rooms = [
      'a.b',
      'a~2Eb',
      'a_b',
      'a-b',
      'a*b',
      'a>b',
      'a b',
      'a  b',
      'a\u00a0b',
      '~',
      '~7E',
      '.',
      '..',
      '*',
      '>',
      'é',
      'e\u0301',
      '🎉',
      '日本語',
      'A',
      'a',
    ];
    const tokens = rooms.map(roomToSubjectToken);
    expect(new Set(tokens).size).toBe(rooms.length);
    for (const [i, token] of tokens.entries()) {
      expect(token).toMatch(NATS_TOKEN);
      expect(subjectTokenToRoom(token)).toBe(rooms[i]);
    }
  });

  it('is injective: decoding inverts encoding for any valid room id (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }), (room) => {
        fc.pre(roomIdProblem(room) === undefined);
        const token = roomToSubjectToken(room);
        expect(token).toMatch(NATS_TOKEN);
        expect(subjectTokenToRoom(token)).toBe(room);
      }),
      { numRuns: 2000 },
    );
  });

  it('distinct rooms give distinct tokens (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', minLength: 1 }),
        fc.string({ unit: 'binary', minLength: 1 }),
        (a, b) => {
          fc.pre(a !== b && roomIdProblem(a) === undefined && roomIdProblem(b) === undefined);
          expect(roomToSubjectToken(a)).not.toBe(roomToSubjectToken(b));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('rejects malformed tokens', () => {
    for (const token of ['', '~', '~4', '~zz', 'a.b', 'a b', '~C3', '~41']) {
      expect(() => subjectTokenToRoom(token)).toThrow(
        expect.objectContaining({ code: 'RF_ROOM_INVALID' }),
      );
    }
  });

  it('builds subjects from one function', () => {
    expect(Subject.room('doc.1')).toBe('rf.room.doc~2E1');
    expect(Subject.all).toBe('rf.all');
    expect(Subject.node('n.1')).toBe('rf.node.n~2E1');
  });
});
