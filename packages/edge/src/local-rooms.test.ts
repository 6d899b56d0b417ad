import { MemoryBus, type BusHeaders } from '@roomfabric/bus';
import { ErrorCode, Subject } from '@roomfabric/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalRooms, type LocalRoom } from './local-rooms.js';

interface Member {
  name: string;
  got: string[];
}

const text = new TextEncoder();
const read = new TextDecoder();

/** One node's local index on a shared bus: delivery goes to the room's local members. */
function node(bus: MemoryBus) {
  const events: string[] = [];
  const messages: Array<{ room: LocalRoom<Member>; headers: BusHeaders | undefined }> = [];
  const rooms = new LocalRooms<Member>(
    bus,
    (room, payload, headers) => {
      messages.push({ room, headers });
      for (const m of room.sockets) m.got.push(`${room.id}:${read.decode(payload)}`);
    },
    (id) => events.push(`created ${id}`),
    (id) => events.push(`deleted ${id}`),
  );
  return { rooms, events, messages };
}

const member = (name: string): Member => ({ name, got: [] });

function publish(bus: MemoryBus, room: string, body: string, headers?: Record<string, string>) {
  return bus.publish(Subject.room(room), text.encode(body), headers ? { headers } : undefined);
}

describe('LocalRooms on a MemoryBus', () => {
  const buses: MemoryBus[] = [];
  const newBus = () => {
    const bus = new MemoryBus();
    buses.push(bus);
    return bus;
  };
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });

  it('subscribes to the room subject with its first local member, once', async () => {
    const bus = newBus();
    const { rooms, events } = node(bus);
    expect(bus.subjects()).toEqual([]);
    const room = rooms.add('lobby', member('a'));
    await room.ready;
    expect(bus.subjects()).toEqual([Subject.room('lobby')]);
    expect(rooms.add('lobby', member('b'))).toBe(room);
    expect(rooms.size).toBe(1);
    expect(room.sockets.size).toBe(2);
    expect(events).toEqual(['created lobby']);
    expect(bus.subjects()).toEqual([Subject.room('lobby')]);
  });

  it('unsubscribes with its last local member, not before', async () => {
    const bus = newBus();
    const { rooms, events } = node(bus);
    const a = member('a');
    const b = member('b');
    await rooms.add('lobby', a).ready;
    rooms.add('lobby', b);
    rooms.remove('lobby', a);
    expect(bus.subjects()).toEqual([Subject.room('lobby')]);
    expect(rooms.get('lobby')).toBeDefined();
    rooms.remove('lobby', b);
    expect(bus.subjects()).toEqual([]);
    expect(rooms.get('lobby')).toBeUndefined();
    expect(rooms.size).toBe(0);
    expect(events).toEqual(['created lobby', 'deleted lobby']);
  });

  it('removing a non-member, or from an unknown room, changes nothing', async () => {
    const bus = newBus();
    const { rooms, events } = node(bus);
    const a = member('a');
    await rooms.add('lobby', a).ready;
    rooms.remove('lobby', member('stranger'));
    rooms.remove('nowhere', a);
    expect(rooms.get('lobby')?.sockets.size).toBe(1);
    expect(events).toEqual(['created lobby']);
    // A second remove of the same member is a no-op (no second `deleted`).
    rooms.remove('lobby', a);
    rooms.remove('lobby', a);
    expect(events).toEqual(['created lobby', 'deleted lobby']);
  });

  it("delivers a room's messages to its local members only, with the bus headers", async () => {
    const bus = newBus();
    const { rooms, messages } = node(bus);
    const a = member('a');
    const b = member('b');
    const c = member('c');
    await rooms.add('r1', a).ready;
    await rooms.add('r1', b).ready;
    await rooms.add('r2', c).ready;
    await publish(bus, 'r1', 'hello', { 'Nats-Sequence': '7' });
    await publish(bus, 'r3', 'nobody');
    await bus.flush();
    expect(a.got).toEqual(['r1:hello']);
    expect(b.got).toEqual(['r1:hello']);
    expect(c.got).toEqual([]);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.room).toBe(rooms.get('r1'));
    expect(messages[0]!.headers?.get('Nats-Sequence')).toBe('7');
  });

  it('two nodes on one bus each deliver to their own members, once', async () => {
    const bus = newBus();
    const one = node(bus);
    const two = node(bus);
    const a = member('a');
    const b = member('b');
    const c = member('c');
    await one.rooms.add('r', a).ready;
    await two.rooms.add('r', b).ready;
    await two.rooms.add('r', c).ready;
    await publish(bus, 'r', 'x');
    await bus.flush();
    expect([a.got, b.got, c.got]).toEqual([['r:x'], ['r:x'], ['r:x']]);
    expect(one.messages).toHaveLength(1);
    expect(two.messages).toHaveLength(1);
    // Node one's last member leaves: only node two still gets the room.
    one.rooms.remove('r', a);
    await publish(bus, 'r', 'y');
    await bus.flush();
    expect([a.got, b.got, c.got]).toEqual([['r:x'], ['r:x', 'r:y'], ['r:x', 'r:y']]);
    expect(one.messages).toHaveLength(1);
  });

  it('a message already on its way when the room is deleted is not delivered', async () => {
    const bus = newBus();
    const { rooms, messages } = node(bus);
    const a = member('a');
    await rooms.add('r', a).ready;
    const sent = publish(bus, 'r', 'late');
    rooms.remove('r', a); // before the bus hands it over
    await sent;
    await bus.flush();
    expect(a.got).toEqual([]);
    expect(messages).toHaveLength(0);
  });

  it('a room deleted before its subscription resolved drops the subscription when it does', async () => {
    const bus = newBus();
    const { rooms } = node(bus);
    const a = member('a');
    const room = rooms.add('r', a);
    rooms.remove('r', a);
    expect(room.deleted).toBe(true);
    await room.ready;
    expect(bus.subjects()).toEqual([]);
    // A new member later makes a new room, subscribed anew.
    const again = rooms.add('r', a);
    expect(again).not.toBe(room);
    await again.ready;
    expect(bus.subjects()).toEqual([Subject.room('r')]);
  });

  it('a pinned room stays subscribed without members until its last unpin', async () => {
    const bus = newBus();
    const { rooms, events } = node(bus);
    const pinned = rooms.pin('target');
    await pinned.ready;
    expect(events).toEqual(['created target']);
    rooms.pin('target');
    const a = member('a');
    expect(rooms.add('target', a)).toBe(pinned);
    rooms.remove('target', a);
    expect(bus.subjects()).toEqual([Subject.room('target')]); // still pinned
    rooms.unpin('target');
    expect(bus.subjects()).toEqual([Subject.room('target')]); // one pin left
    rooms.unpin('target');
    expect(bus.subjects()).toEqual([]);
    expect(events).toEqual(['created target', 'deleted target']);
  });

  it('an unpin keeps a room that still has members; the last member then deletes it', async () => {
    const bus = newBus();
    const { rooms, events } = node(bus);
    const a = member('a');
    rooms.pin('r');
    await rooms.add('r', a).ready;
    rooms.unpin('r');
    expect(rooms.get('r')).toBeDefined();
    rooms.unpin('r'); // one unpin too many: harmless
    expect(rooms.get('r')).toBeDefined();
    rooms.remove('r', a);
    expect(rooms.get('r')).toBeUndefined();
    expect(events).toEqual(['created r', 'deleted r']);
  });

  it('clear drops every room and pin and their subscriptions, without deleted events', async () => {
    const bus = newBus();
    const { rooms, events } = node(bus);
    await rooms.add('a', member('x')).ready;
    await rooms.pin('b').ready;
    expect([...rooms.ids()].sort()).toEqual(['a', 'b']);
    rooms.clear();
    expect(rooms.size).toBe(0);
    expect(bus.subjects()).toEqual([]);
    expect(events).toEqual(['created a', 'created b']);
    // The pin went too: a new member and its leave delete the room.
    const y = member('y');
    rooms.add('b', y);
    rooms.remove('b', y);
    expect(rooms.get('b')).toBeUndefined();
  });

  it('a subscription the bus refuses fails `ready` with RF_BUS_UNAVAILABLE (temporary)', async () => {
    const bus = newBus();
    await bus.close();
    const { rooms } = node(bus);
    const room = rooms.add('r', member('a'));
    await expect(room.ready).rejects.toMatchObject({
      code: ErrorCode.BUS_UNAVAILABLE,
      temporary: true,
    });
  });
});
