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

describe('RoomStates transitions', () => {
  /** A RoomStates whose reports are kept; `log()` shows them as `room state code reason`. */
  function track() {
    const changes: RoomStateChange[] = [];
    const rooms = new RoomStates((c) => changes.push(c));
    const log = () => changes.map((c) => `${c.room} ${c.state} ${c.code} ${c.reason}`);
    return { rooms, changes, log };
  }

  it('starts with every room unsubscribed and nothing wanted', () => {
    const { rooms, changes } = track();
    expect(rooms.state('any')).toBe('unsubscribed');
    expect(rooms.has('any')).toBe(false);
    expect(rooms.wanted.size).toBe(0);
    expect(rooms.isRetrying('any')).toBe(false);
    expect(changes).toEqual([]);
  });

  it('unsubscribed -> subscribing -> subscribed -> subscribing -> unsubscribed, each with its code and reason', () => {
    const t = track();
    t.rooms.subscribing('a', 0, 'join');
    expect(t.rooms.state('a')).toBe('subscribing');
    expect(t.rooms.has('a')).toBe(true);
    t.rooms.subscribed('a');
    expect(t.rooms.state('a')).toBe('subscribed');
    t.rooms.connectionLost(4000, 'RF_HEARTBEAT_TIMEOUT');
    expect(t.rooms.state('a')).toBe('subscribing');
    expect(t.rooms.unsubscribed('a', 4403, 'RF_FORBIDDEN')).toBe(true);
    expect(t.rooms.state('a')).toBe('unsubscribed');
    expect(t.rooms.has('a')).toBe(false);
    expect(t.log()).toEqual([
      'a subscribing 0 join',
      'a subscribed 0 joined',
      'a subscribing 4000 RF_HEARTBEAT_TIMEOUT',
      'a unsubscribed 4403 RF_FORBIDDEN',
    ]);
  });

  it('a change to the state a room is in already is no transition: not reported', () => {
    const t = track();
    t.rooms.subscribing('a', 0, 'join');
    t.rooms.subscribing('a', 1006, 'RF_DISCONNECTED'); // still subscribing: the first reason stands
    t.rooms.subscribed('a');
    t.rooms.subscribed('a');
    expect(t.log()).toEqual(['a subscribing 0 join', 'a subscribed 0 joined']);
  });

  it('unsubscribed() of a room not wanted says false and reports nothing', () => {
    const t = track();
    expect(t.rooms.unsubscribed('never', 0, 'leave')).toBe(false);
    t.rooms.subscribing('a', 0, 'join');
    expect(t.rooms.unsubscribed('a', 0, 'leave')).toBe(true);
    expect(t.rooms.unsubscribed('a', 0, 'leave')).toBe(false);
    expect(t.log()).toEqual(['a subscribing 0 join', 'a unsubscribed 0 leave']);
  });

  it('goes straight to subscribed for a room it was not asked for (the `to` of a raid)', () => {
    const t = track();
    t.rooms.subscribed('to');
    expect(t.rooms.state('to')).toBe('subscribed');
    expect([...t.rooms.wanted]).toEqual(['to']);
    expect(t.log()).toEqual(['to subscribed 0 joined']);
  });

  it('a room refused for good can be asked for again', () => {
    const t = track();
    t.rooms.subscribing('a', 0, 'join');
    t.rooms.unsubscribed('a', 0, 'RF_FORBIDDEN');
    t.rooms.subscribing('a', 0, 'join');
    t.rooms.subscribed('a');
    expect(t.rooms.state('a')).toBe('subscribed');
    expect(t.log()).toEqual([
      'a subscribing 0 join',
      'a unsubscribed 0 RF_FORBIDDEN',
      'a subscribing 0 join',
      'a subscribed 0 joined',
    ]);
  });

  it('connectionLost() moves only subscribed rooms back to subscribing', () => {
    const t = track();
    t.rooms.subscribing('pending', 0, 'join');
    t.rooms.subscribing('joined', 0, 'join');
    t.rooms.subscribed('joined');
    t.changes.length = 0;
    t.rooms.connectionLost(1006, 'RF_DISCONNECTED');
    expect(t.log()).toEqual(['joined subscribing 1006 RF_DISCONNECTED']);
    expect(t.rooms.state('pending')).toBe('subscribing');
    expect([...t.rooms.wanted].sort()).toEqual(['joined', 'pending']);
    // A second drop before anything was rejoined changes nothing.
    t.rooms.connectionLost(1006, 'RF_DISCONNECTED');
    expect(t.changes).toHaveLength(1);
  });

  it('clear() takes every room out with the code and reason, in the order they came', () => {
    const t = track();
    t.rooms.subscribing('b', 0, 'join');
    t.rooms.subscribing('a', 0, 'join');
    t.rooms.subscribed('a');
    t.changes.length = 0;
    t.rooms.clear(4401, 'RF_UNAUTHORIZED');
    expect(t.log()).toEqual([
      'b unsubscribed 4401 RF_UNAUTHORIZED',
      'a unsubscribed 4401 RF_UNAUTHORIZED',
    ]);
    expect(t.rooms.wanted.size).toBe(0);
    t.rooms.clear(1000, 'RF_CLIENT_CLOSED'); // nothing left: nothing reported
    expect(t.changes).toHaveLength(2);
  });

  it('reports after the change: a listener reads the new state and wanted set', () => {
    const seen: string[] = [];
    const rooms: RoomStates = new RoomStates((c) =>
      seen.push(`${c.state}=${rooms.state(c.room)} wanted=${rooms.wanted.has(c.room)}`),
    );
    rooms.subscribing('a', 0, 'join');
    rooms.subscribed('a');
    rooms.unsubscribed('a', 0, 'leave');
    expect(seen).toEqual([
      'subscribing=subscribing wanted=true',
      'subscribed=subscribed wanted=true',
      'unsubscribed=unsubscribed wanted=false',
    ]);
  });

  it('forgets a retried rejoin when the room settles, is left, or the connection drops', () => {
    const rooms = new RoomStates(() => undefined);
    for (const r of ['a', 'b', 'c', 'd']) {
      rooms.subscribing(r, 0, 'join');
      rooms.markRetrying(r);
    }
    rooms.unsubscribed('a', 0, 'leave');
    expect(rooms.isRetrying('a')).toBe(false);
    rooms.stopRetrying('b');
    expect(rooms.isRetrying('b')).toBe(false);
    expect(rooms.isRetrying('c')).toBe(true);
    rooms.connectionLost(1006, 'RF_DISCONNECTED');
    expect(rooms.isRetrying('c')).toBe(false);
    expect(rooms.isRetrying('d')).toBe(false);
    rooms.markRetrying('c');
    rooms.markRetrying('d');
    rooms.stopRetrying(); // all of them
    expect(rooms.isRetrying('c') || rooms.isRetrying('d')).toBe(false);
    // Retrying is not a state of its own: the rooms are still subscribing.
    expect(rooms.state('c')).toBe('subscribing');
  });
});
