import { MemoryBus } from '@roomfabric/bus';
import { MemoryMembership } from '@roomfabric/membership';
import {
  BusMessageType,
  decodeBusMessage,
  encodeReply,
  ErrorCode,
  RoomfabricError,
  Subject,
  type RaidCommitMessage,
  type RaidPrepareMessage,
} from '@roomfabric/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FabricService } from './fabric-service.js';
import { Fabric } from './fabric.js';
import { createRecordingLogger, type LoggedEntry } from './logger.js';
import { runRaid } from './raid.js';

const logs: LoggedEntry[] = [];
const logger = createRecordingLogger(logs);

interface NodeView {
  prepares: RaidPrepareMessage[];
  /** Commits heard on the node's own subject. */
  commits: RaidCommitMessage[];
  /** What the index said about the movers when the node got PREPARE / COMMIT. */
  roomsAtPrepare: string[][];
  roomsAtCommit: string[][];
}

let bus: MemoryBus;
let membership: MemoryMembership;
let fabric: Fabric;
let nodes: Map<string, NodeView>;
/** Commits heard on the subject of `from` ('from' in these tests). */
let roomCommits: RaidCommitMessage[];

/**
 * Fake edge nodes on the bus: answer PREPARE (ok, or the error given), record COMMITs,
 * and look at the index each time, to check what runs before and after the move.
 */
async function startNodes(
  names: string[],
  refuse: Record<string, RoomfabricError> = {},
): Promise<void> {
  for (const name of names) {
    const view: NodeView = { prepares: [], commits: [], roomsAtPrepare: [], roomsAtCommit: [] };
    nodes.set(name, view);
    await bus.subscribe(Subject.node(name), (payload, _subject, reply) => {
      const msg = decodeBusMessage(payload);
      void (async () => {
        const mine = await membership.socketsOf(name);
        const rooms = await Promise.all(mine.map((s) => membership.roomsOf(s)));
        if (msg.type === BusMessageType.RAID_PREPARE) {
          view.prepares.push(msg);
          view.roomsAtPrepare.push(...rooms.map((r) => r.sort()));
          const error = refuse[name];
          await bus.publish(
            reply!,
            error ? encodeReply({ ok: false, error }) : encodeReply({ ok: true }),
          );
        } else if (msg.type === BusMessageType.RAID_COMMIT) {
          view.commits.push(msg);
          view.roomsAtCommit.push(...rooms.map((r) => r.sort()));
        }
      })();
    });
  }
}

async function seat(socketId: string, nodeId: string, rooms: string[]): Promise<void> {
  await membership.addSocket({ socketId, nodeId, data: null });
  await membership.join(socketId, rooms);
}

const sorted = async (p: Promise<Array<{ socketId: string }>>) =>
  (await p).map((m) => m.socketId).sort();

beforeEach(async () => {
  logs.length = 0;
  bus = new MemoryBus();
  membership = new MemoryMembership();
  fabric = new Fabric({ bus, membership, logger, requestTimeoutMs: 200 });
  nodes = new Map();
  roomCommits = [];
  await bus.subscribe(Subject.room('from'), (payload) => {
    const msg = decodeBusMessage(payload);
    if (msg.type === BusMessageType.RAID_COMMIT) roomCommits.push(msg);
  });
});

afterEach(async () => {
  await bus.close();
  await membership.close();
});

describe('runRaid', () => {
  beforeEach(async () => {
    await startNodes(['n1', 'n2', 'n3']);
    await seat('a1', 'n1', ['from']);
    await seat('a2', 'n1', ['from', 'other']);
    await seat('b1', 'n2', ['from', 'to']); // in both already
    await seat('c1', 'n3', ['to']); // a member of `to` only: not a mover
  });

  it('moves every member of `from` into `to`, and reports it', async () => {
    const report = await runRaid(fabric, 'raid-1', 'from', 'to');
    expect(await sorted(membership.members('from'))).toEqual([]);
    expect(await sorted(membership.members('to'))).toEqual(['a1', 'a2', 'b1', 'c1']);
    // Only `from` is swapped for `to`: other rooms stay.
    expect((await membership.roomsOf('a2')).sort()).toEqual(['other', 'to']);
    expect(await membership.roomsOf('b1')).toEqual(['to']);
    expect(report).toMatchObject({
      raidId: 'raid-1',
      from: 'from',
      to: 'to',
      moved: 3,
      nodes: 2,
      repeated: false,
    });
    expect(report.commitMs).toBeGreaterThanOrEqual(0);
    expect(report.totalMs).toBeGreaterThanOrEqual(report.commitMs);
  });

  it('prepares each node holding movers once, before the index moves', async () => {
    await runRaid(fabric, 'raid-1', 'from', 'to');
    expect(nodes.get('n1')!.prepares).toEqual([
      { type: BusMessageType.RAID_PREPARE, raidId: 'raid-1', from: 'from', to: 'to' },
    ]);
    expect(nodes.get('n2')!.prepares).toHaveLength(1);
    expect(nodes.get('n3')!.prepares).toEqual([]); // no member of `from` there
    // At PREPARE the movers were still in `from`.
    expect(nodes.get('n1')!.roomsAtPrepare).toEqual([['from'], ['from', 'other']]);
    expect(nodes.get('n2')!.roomsAtPrepare).toEqual([['from', 'to']]);
  });

  it('sends each node one commit, on `from` and on the node, naming its movers, after the move', async () => {
    await runRaid(fabric, 'raid-1', 'from', 'to');
    // Resolved only once the commits were delivered (flushed).
    const n1 = nodes.get('n1')!;
    const n2 = nodes.get('n2')!;
    expect(n1.commits).toHaveLength(1);
    expect(n2.commits).toHaveLength(1);
    expect(nodes.get('n3')!.commits).toEqual([]);
    expect(n1.commits[0]).toMatchObject({
      type: BusMessageType.RAID_COMMIT,
      raidId: 'raid-1',
      from: 'from',
      to: 'to',
      node: 'n1',
      part: 0,
      parts: 1,
    });
    expect([...n1.commits[0]!.sockets].sort()).toEqual(['a1', 'a2']);
    expect(n2.commits[0]!.sockets).toEqual(['b1']);
    // The same commits on `from`'s subject, so each comes after `from`'s earlier traffic.
    expect(roomCommits.map((c) => c.node).sort()).toEqual(['n1', 'n2']);
    expect(roomCommits.find((c) => c.node === 'n1')).toEqual(n1.commits[0]);
    // At COMMIT the index had moved them.
    expect(n1.roomsAtCommit).toEqual([['to'], ['other', 'to']]);
  });

  it('a retry with the same raid id returns the first result and moves nobody again', async () => {
    const first = await runRaid(fabric, 'raid-1', 'from', 'to');
    // Someone joins `from` after the raid: a repeat must not move them.
    await seat('late', 'n3', ['from']);
    const again = await runRaid(fabric, 'raid-1', 'from', 'to');
    expect(again).toMatchObject({ moved: first.moved, nodes: first.nodes, repeated: true });
    expect(await sorted(membership.members('from'))).toEqual(['late']);
    // The commits are sent again, with the first run's movers (nodes ignore repeats).
    expect(nodes.get('n1')!.commits).toHaveLength(2);
    expect(nodes.get('n1')!.commits[1]).toEqual(nodes.get('n1')!.commits[0]);
    expect(nodes.get('n3')!.commits).toEqual([]);
    // A new raid id is a new raid.
    const other = await runRaid(fabric, 'raid-2', 'from', 'to');
    expect(other).toMatchObject({ moved: 1, nodes: 1, repeated: false });
    expect(nodes.get('n3')!.commits.map((c) => c.sockets)).toEqual([['late']]);
  });

  it('refuses a raid from a room into itself (RF_INVALID_ARGUMENT), sending nothing', async () => {
    await expect(runRaid(fabric, 'raid-x', 'from', 'from')).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
    });
    await bus.flush();
    for (const view of nodes.values()) expect(view.prepares).toEqual([]);
    expect(await sorted(membership.members('from'))).toEqual(['a1', 'a2', 'b1']);
  });

  it('an empty `from` moves nobody and sends nothing', async () => {
    const report = await runRaid(fabric, 'raid-e', 'empty', 'to');
    expect(report).toMatchObject({ moved: 0, nodes: 0, repeated: false });
    for (const view of nodes.values()) {
      expect(view.prepares).toEqual([]);
      expect(view.commits).toEqual([]);
    }
  });
});

describe('runRaid with nodes that cannot prepare', () => {
  it('still moves their sockets and commits to them, warning about each failed prepare', async () => {
    await startNodes(['n1'], { n1: new RoomfabricError(ErrorCode.INTERNAL, 'busy') });
    await seat('a1', 'n1', ['from']);
    await seat('d1', 'dead', ['from']); // no node answers for it
    const report = await runRaid(fabric, 'raid-1', 'from', 'to');
    expect(report).toMatchObject({ moved: 2, nodes: 2 });
    expect(await sorted(membership.members('to'))).toEqual(['a1', 'd1']);
    expect(nodes.get('n1')!.commits.map((c) => c.sockets)).toEqual([['a1']]);
    expect(roomCommits.map((c) => c.node).sort()).toEqual(['dead', 'n1']);
    const warned = logs.filter((l) => l.msg === 'raid prepare failed');
    expect(warned.map((l) => l.fields.node).sort()).toEqual(['dead', 'n1']);
    expect(warned.find((l) => l.fields.node === 'dead')!.fields.err).toMatchObject({
      code: ErrorCode.NO_RESPONDERS,
    });
    expect(warned.find((l) => l.fields.node === 'n1')!.fields.err).toMatchObject({
      code: ErrorCode.INTERNAL,
      message: 'busy',
    });
  });
});

describe('runRaid with many movers on one node', () => {
  it('splits its commit into parts of at most 10000 sockets', async () => {
    await startNodes(['n1']);
    await membership.reassert(
      'n1',
      Array.from({ length: 10_001 }, (_, i) => ({
        socketId: `s${i}`,
        data: null,
        rooms: ['from'],
      })),
    );
    const report = await runRaid(fabric, 'raid-big', 'from', 'to');
    expect(report).toMatchObject({ moved: 10_001, nodes: 1 });
    const commits = nodes.get('n1')!.commits;
    expect(commits.map((c) => [c.part, c.parts, c.sockets.length])).toEqual([
      [0, 2, 10_000],
      [1, 2, 1],
    ]);
    expect(new Set(commits.flatMap((c) => c.sockets)).size).toBe(10_001);
  });
});

describe('raids through the fabric service (rf.svc.raid)', () => {
  let service: FabricService;

  beforeEach(async () => {
    await startNodes(['n1']);
    await seat('a1', 'n1', ['from']);
    service = new FabricService({ bus, membership, logger, leaseCheckMs: 60_000 });
    await service.start();
  });

  afterEach(async () => {
    await service.close();
  });

  it('requestRaid() runs the raid and resolves with its report; the same id again is a repeat', async () => {
    const report = await fabric.requestRaid('from', 'to', { raidId: 'r-1' });
    expect(report).toMatchObject({ raidId: 'r-1', moved: 1, nodes: 1, repeated: false });
    expect(await sorted(membership.members('to'))).toEqual(['a1']);
    const again = await fabric.requestRaid('from', 'to', { raidId: 'r-1' });
    expect(again).toMatchObject({ raidId: 'r-1', moved: 1, repeated: true });
    expect(service.stats.raids).toBe(2);
    // Without an id, each call is a raid of its own.
    const fresh = await fabric.requestRaid('to', 'from');
    expect(fresh.raidId).toMatch(/^[\w-]{12}$/);
    expect(fresh).toMatchObject({ moved: 1, repeated: false });
  });

  it('passes on a refusal: a raid into the same room rejects RF_INVALID_ARGUMENT, not retried', async () => {
    await expect(fabric.requestRaid('from', 'from')).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
    });
    expect(logs.filter((l) => l.msg.startsWith('raid request failed'))).toEqual([]);
    expect(service.stats.raids).toBe(0);
  });

  it('refuses invalid room ids before asking anyone', async () => {
    for (const [from, to] of [
      ['', 'to'],
      ['from', ''],
      [42, 'to'],
    ] as const) {
      await expect(fabric.requestRaid(from as string, to)).rejects.toMatchObject({
        code: ErrorCode.ROOM_INVALID,
      });
    }
    expect(nodes.get('n1')!.prepares).toEqual([]);
  });
});

describe('requestRaid without a fabric service', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries with the same raid id, backing off, until its timeout, then rejects', async () => {
    const result = fabric.requestRaid('from', 'to', { raidId: 'r-9', timeoutMs: 1000 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    await vi.advanceTimersByTimeAsync(1000);
    expect(await result).toMatchObject({ code: ErrorCode.NO_RESPONDERS });
    const retries = logs.filter(
      (l) => l.msg === 'raid request failed; retrying with the same raid id',
    );
    // Pauses of 100, 200, 400 ms; a pause of 800 would end past the deadline.
    expect(retries.map((l) => [l.fields.raidId, l.fields.attempt])).toEqual([
      ['r-9', 0],
      ['r-9', 1],
      ['r-9', 2],
    ]);
  });
});
