import { encode } from '@msgpack/msgpack';
import { MemoryBus, NatsBus } from '@roomfabric/bus';
import { connect, type RoomfabricClient } from '@roomfabric/client';
import { MemoryMembership } from '@roomfabric/membership';
import {
  BusMessageType,
  encodeBusMessage,
  FrameType,
  Subject,
  type ServerFrame,
} from '@roomfabric/protocol';
import { startNats, eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { startTestEdge } from '../support/edge.js';
import { RawClient, sleep } from '../support/raw-client.js';

/** A BROADCAST to `room` whose data is `data` as given (not checked by any encoder). */
function broadcast(room: string, event: string, data: Uint8Array): Uint8Array {
  return encodeBusMessage({
    type: BusMessageType.BROADCAST,
    rooms: [room],
    except: [],
    exceptSocket: null,
    flags: 0,
    event,
    data,
  });
}

const concat = (...parts: Uint8Array[]) => new Uint8Array(parts.flatMap((p) => [...p]));

describe('a rogue publisher on the bus', () => {
  it('cannot splice frames into clients: data that is not exactly one msgpack value is dropped and counted', async () => {
    const bus = new MemoryBus();
    const membership = new MemoryMembership();
    await using t = await startTestEdge({ bus, membership, policy: 'open' });
    const victim = await RawClient.open(t.url);
    await victim.join('r', 1);
    // The EVENT frame is [5, event, <data>, room, id]: two values in <data> used to end the
    // frame early and make the rest a frame of the attacker's choosing (a MOVED, a kick).
    const fakeMoved = encode([FrameType.MOVED, 'r', 'attacker-room']);
    const fakeKick = encode([FrameType.ERROR, 0, 'RF_KICKED', 'bye']);
    const before = t.edge.stats().busMalformed;
    await bus.publish(Subject.room('r'), broadcast('r', 'x', concat(encode(1), fakeMoved)));
    await bus.publish(Subject.room('r'), broadcast('r', 'x', concat(encode(null), fakeKick)));
    await bus.publish(Subject.room('r'), broadcast('r', 'x', encode('abc').subarray(0, 2)));
    await bus.publish(Subject.room('r'), broadcast('r', 'x', new Uint8Array(0)));
    // Lifecycle names are the SDK's own: no publisher of the fabric sends them.
    await bus.publish(Subject.room('r'), broadcast('r', 'state', encode('connected')));
    await bus.publish(Subject.room('r'), broadcast('r', 'ok', encode('fine')));
    await victim.next((f) => f.type === FrameType.EVENT && f.event === 'ok');
    const kinds = victim.frames.map((f: ServerFrame) => f.type);
    expect(kinds).not.toContain(FrameType.MOVED);
    expect(victim.errors()).toEqual([]);
    expect(victim.events().map((e) => e.event)).toEqual(['ok']);
    expect(t.edge.stats().busMalformed - before).toBe(5);
    await bus.close();
    await membership.close();
  });

  it('cannot knock a node off NATS with a 5,000-character room in a raid prepare', async () => {
    await using nats = await startNats();
    const bus = await NatsBus.connect({ servers: nats.url });
    const attackerBus = await NatsBus.connect({ servers: nats.url });
    const membership = new MemoryMembership();
    await using t = await startTestEdge({ bus, membership, policy: 'open', nodeId: 'victim' });
    const client: RoomfabricClient = connect(t.url);
    await client.join('lobby');
    const got: unknown[] = [];
    client.on('news', (d) => got.push(d));
    const prepare = encodeBusMessage({
      type: BusMessageType.RAID_PREPARE,
      raidId: 'evil',
      from: 'lobby',
      to: 'x'.repeat(5000),
    });
    const answer = await attackerBus.request(Subject.node('victim'), prepare, { timeoutMs: 2000 });
    expect(answer.length).toBeGreaterThan(0); // refused with an answer, not a dead link
    const commit = encodeBusMessage({
      type: BusMessageType.RAID_COMMIT,
      raidId: 'evil',
      from: 'lobby',
      to: 'y'.repeat(5000),
      node: 'victim',
      part: 0,
      parts: 1,
      sockets: [client.id!],
    });
    await attackerBus.publish(Subject.room('lobby'), commit);
    await sleep(300);
    expect(bus.status).toBe('connected');
    expect(client.rooms.has('lobby')).toBe(true);
    await attackerBus.publish(
      Subject.room('lobby'),
      broadcast('lobby', 'news', encode('still here')),
    );
    await eventually(() => got.length === 1, {
      timeoutMs: 3000,
      what: 'a broadcast after the attack',
    });
    client.close();
    await attackerBus.close();
    await bus.close();
    await membership.close();
  });
});
