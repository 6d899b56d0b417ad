import { MemoryBus } from '@roomfabric/bus';
import { MemoryMembership } from '@roomfabric/membership';
import {
  BusMessageType,
  decodeBusMessage,
  ErrorCode,
  Subject,
  type RoomEventMessage,
  type SocketLeftMessage,
} from '@roomfabric/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FabricService } from './fabric-service.js';
import { createRecordingLogger, type LoggedEntry } from './logger.js';
import { purgeNodeSockets } from './purge.js';

const logs: LoggedEntry[] = [];
const logger = createRecordingLogger(logs);

let bus: MemoryBus;
let membership: MemoryMembership;
let left: SocketLeftMessage[];

beforeEach(async () => {
  logs.length = 0;
  bus = new MemoryBus();
  membership = new MemoryMembership();
  left = [];
  await bus.subscribe(Subject.socketLeft, (payload) => {
    const msg = decodeBusMessage(payload);
    if (msg.type === BusMessageType.SOCKET_LEFT) left.push(msg);
  });
});

afterEach(async () => {
  await bus.close();
  await membership.close();
});

async function seat(socketId: string, nodeId: string, rooms: string[], user?: string) {
  await membership.addSocket({ socketId, nodeId, data: { socketId }, user });
  await membership.join(socketId, rooms);
}

async function heard(): Promise<SocketLeftMessage[]> {
  await bus.flush();
  return [...left].sort((a, b) => a.socketId.localeCompare(b.socketId));
}

describe('purgeNodeSockets', () => {
  beforeEach(async () => {
    // n1's lease lapsed (it never renewed one here); n2 is alive.
    await membership.renewLease('n2', 60_000);
    await seat('a', 'n1', ['lobby', 'doc:1']);
    await seat('b', 'n1', ['lobby']);
    await seat('c', 'n1', []);
    await seat('z', 'n2', ['lobby']);
  });

  it('takes every socket of the node out of every room, and out of the index', async () => {
    const removed = await purgeNodeSockets({
      membership,
      bus,
      nodeId: 'n1',
      batch: 500,
      reason: 'node-lost',
    });
    expect(removed).toBe(3);
    for (const id of ['a', 'b', 'c']) {
      expect(await membership.socket(id)).toBeUndefined();
      expect(await membership.roomsOf(id)).toEqual([]);
    }
    expect((await membership.members('lobby')).map((m) => m.socketId)).toEqual(['z']);
    expect(await membership.count('doc:1')).toBe(0);
    expect(await membership.socketsOf('n1')).toEqual([]);
    // The node is forgotten once empty: no longer a lapsed node to purge.
    expect(await membership.expiredNodes()).toEqual([]);
    // The live node is untouched.
    expect(await membership.roomsOf('z')).toEqual(['lobby']);
  });

  it('publishes one SOCKET_LEFT per socket on rf.evt.leave, with the rooms it left and why', async () => {
    await purgeNodeSockets({ membership, bus, nodeId: 'n1', batch: 500, reason: 'node-restarted' });
    const events = await heard();
    expect(events.map((e) => ({ ...e, rooms: [...e.rooms].sort() }))).toEqual([
      {
        type: BusMessageType.SOCKET_LEFT,
        socketId: 'a',
        nodeId: 'n1',
        rooms: ['doc:1', 'lobby'],
        reason: 'node-restarted',
      },
      {
        type: BusMessageType.SOCKET_LEFT,
        socketId: 'b',
        nodeId: 'n1',
        rooms: ['lobby'],
        reason: 'node-restarted',
      },
      {
        type: BusMessageType.SOCKET_LEFT,
        socketId: 'c',
        nodeId: 'n1',
        rooms: [],
        reason: 'node-restarted',
      },
    ]);
  });

  it('works in batches until the node is empty', async () => {
    const purge = vi.spyOn(membership, 'purgeNode');
    const removed = await purgeNodeSockets({
      membership,
      bus,
      nodeId: 'n1',
      batch: 2,
      reason: 'node-lost',
    });
    expect(removed).toBe(3);
    // 2 + 1, then an empty batch that ends it.
    expect(purge.mock.calls).toEqual([
      ['n1', 2],
      ['n1', 2],
      ['n1', 2],
    ]);
    expect((await heard()).map((e) => e.socketId)).toEqual(['a', 'b', 'c']);
  });

  it('stops after a batch when stop() says so, leaving the rest for later', async () => {
    let steps = 0;
    const removed = await purgeNodeSockets({
      membership,
      bus,
      nodeId: 'n1',
      batch: 1,
      reason: 'node-lost',
      stop: () => ++steps === 2,
    });
    expect(removed).toBe(2);
    expect(await membership.socketsOf('n1')).toHaveLength(1);
    expect(await heard()).toHaveLength(2);
    // The next purge finishes the work, announcing only what is left.
    expect(
      await purgeNodeSockets({ membership, bus, nodeId: 'n1', batch: 1, reason: 'node-lost' }),
    ).toBe(1);
    expect((await heard()).map((e) => e.socketId)).toEqual(['a', 'b', 'c']);
  });

  it('removes nothing from a node whose lease is alive', async () => {
    expect(
      await purgeNodeSockets({ membership, bus, nodeId: 'n2', batch: 500, reason: 'node-lost' }),
    ).toBe(0);
    expect(await membership.roomsOf('z')).toEqual(['lobby']);
    expect(await heard()).toEqual([]);
  });

  it('two purgers of one node split the work: each socket is removed and announced once', async () => {
    const opts = { membership, bus, nodeId: 'n1', batch: 1, reason: 'node-lost' };
    const [x, y] = await Promise.all([purgeNodeSockets(opts), purgeNodeSockets(opts)]);
    expect(x + y).toBe(3);
    expect((await heard()).map((e) => e.socketId)).toEqual(['a', 'b', 'c']);
  });

  it('rejects when the index is down (RF_MEMBERSHIP_UNAVAILABLE), announcing nothing', async () => {
    await membership.close();
    await expect(
      purgeNodeSockets({ membership, bus, nodeId: 'n1', batch: 500, reason: 'node-lost' }),
    ).rejects.toMatchObject({ code: ErrorCode.MEMBERSHIP_UNAVAILABLE });
    expect(await heard()).toEqual([]);
  });
});

describe('FabricService.sweep: purging nodes whose lease lapsed', () => {
  let service: FabricService;
  let roomEvents: RoomEventMessage[];
  let presence: string[];

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    roomEvents = [];
    presence = [];
    await bus.subscribe(Subject.roomEvents, (payload) => {
      roomEvents.push(decodeBusMessage(payload) as RoomEventMessage);
    });
    await bus.subscribe(Subject.allPresence, (payload) => {
      const msg = decodeBusMessage(payload);
      if (msg.type === BusMessageType.PRESENCE_EVENT)
        presence.push(`${msg.room} ${msg.kind} ${msg.user}`);
    });
    service = new FabricService({ bus, membership, logger, purgeBatch: 2 });
    await membership.renewLease('n1', 1000);
    await membership.renewLease('n2', 60_000);
    await seat('a', 'n1', ['lobby', 'solo'], 'ada');
    await seat('b', 'n1', ['lobby'], 'bob');
    await seat('z', 'n2', ['lobby'], 'zoe');
    await bus.flush();
    roomEvents.length = 0;
    presence.length = 0;
  });

  afterEach(async () => {
    await service.close();
    vi.useRealTimers();
  });

  it('leaves a node alone while its lease holds, purges it once it lapsed', async () => {
    await service.sweep();
    expect(await membership.socketsOf('n1')).toHaveLength(2);
    expect(service.stats).toMatchObject({ purgedNodes: 0, purgedSockets: 0 });

    vi.setSystemTime(Date.now() + 1001);
    await service.sweep();
    expect(await membership.socketsOf('n1')).toEqual([]);
    expect(await membership.roomsOf('z')).toEqual(['lobby']);
    expect(service.stats).toMatchObject({ purgedNodes: 1, purgedSockets: 2, sweepErrors: 0 });
    expect((await heard()).map((e) => [e.socketId, e.reason])).toEqual([
      ['a', 'node-lost'],
      ['b', 'node-lost'],
    ]);
    // What the index decided is published: `solo` lost its last member, `lobby` did not.
    expect(roomEvents).toEqual([
      { type: BusMessageType.ROOM_EVENT, room: 'solo', kind: 'vacated' },
    ]);
    expect(presence.sort()).toEqual(['lobby leave ada', 'lobby leave bob', 'solo leave ada']);
    expect(logs.find((l) => l.msg.startsWith('purged the sockets'))!.fields).toEqual({
      node: 'n1',
      sockets: 2,
    });
    // A second sweep finds nothing to do.
    await service.sweep();
    expect(service.stats.purgedNodes).toBe(1);
    expect(await heard()).toHaveLength(2);
  });

  it('never rejects: a failed sweep is counted and logged', async () => {
    await membership.close();
    await expect(service.sweep()).resolves.toBeUndefined();
    expect(service.stats.sweepErrors).toBe(1);
    expect(logs.filter((l) => l.msg === 'lease sweep failed')).toHaveLength(1);
  });

  it('runs one sweep at a time: a sweep asked during another joins it', async () => {
    vi.setSystemTime(Date.now() + 1001);
    const expired = vi.spyOn(membership, 'expiredNodes');
    const first = service.sweep();
    const second = service.sweep();
    expect(second).toBe(first);
    await first;
    expect(expired).toHaveBeenCalledTimes(1);
    expect(service.stats.purgedSockets).toBe(2);
  });
});
