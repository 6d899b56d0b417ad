import { describe, expect, it } from 'vitest';
import { RoomStates, type RoomStateChange } from './room-states.js';

describe('RoomStates', () => {
  it('reports each transition once, with its reason, and keeps the wanted rooms', () => {
    const changes: RoomStateChange[] = [];
    const rooms = new RoomStates((c) => changes.push(c));
    rooms.subscribing('a', 0, 'join');
    rooms.subscribing('a', 0, 'join'); // no change, no report
    rooms.subscribed('a');
    rooms.subscribing('b', 0, 'join');
    rooms.connectionLost(1006, 'RF_DISCONNECTED');
    expect(rooms.state('a')).toBe('subscribing');
    expect([...rooms.wanted]).toEqual(['a', 'b']);
    expect(rooms.unsubscribed('b', 0, 'RF_FORBIDDEN')).toBe(true);
    expect(rooms.unsubscribed('b', 0, 'RF_FORBIDDEN')).toBe(false);
    rooms.clear(1000, 'RF_CLIENT_CLOSED');
    expect(rooms.state('a')).toBe('unsubscribed');
    expect(changes.map((c) => `${c.room}:${c.state}:${c.reason}`)).toEqual([
      'a:subscribing:join',
      'a:subscribed:joined',
      'b:subscribing:join',
      'a:subscribing:RF_DISCONNECTED',
      'b:unsubscribed:RF_FORBIDDEN',
      'a:unsubscribed:RF_CLIENT_CLOSED',
    ]);
    expect(rooms.wanted.size).toBe(0);
  });

  it('tracks rooms whose rejoin is retried, until they settle', () => {
    const rooms = new RoomStates(() => undefined);
    rooms.subscribing('a', 0, 'join');
    rooms.markRetrying('a');
    expect(rooms.isRetrying('a')).toBe(true);
    rooms.subscribed('a');
    expect(rooms.isRetrying('a')).toBe(false);
  });
});
