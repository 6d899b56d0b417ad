import { decode } from '@msgpack/msgpack';
import { HistoryHeader, MemoryBus, MemoryHistory } from '@roomfabric/bus';
import { MemoryMembership, type MemberInfo } from '@roomfabric/membership';
import {
  BroadcastFlag,
  BusMessageType,
  ControlOp,
  decodeBusMessage,
  encodeReply,
  ErrorCode,
  RoomfabricError,
  Subject,
  type BusMessage,
  type ControlMessage,
} from '@roomfabric/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Fabric } from './fabric.js';
import { createJsonLogger } from './logger.js';
import { Operator, type OperatorHost } from './operator.js';

const silent = createJsonLogger({ level: 'silent' });

interface Heard {
  subject: string;
  msg: BusMessage;
}

let bus: MemoryBus;
let membership: MemoryMembership;
let fabric: Fabric;
let heard: Heard[];
let published: number[];
let emitErrors: unknown[];
let host: OperatorHost<MemberInfo>;

beforeEach(async () => {
  bus = new MemoryBus();
  membership = new MemoryMembership();
  fabric = new Fabric({ bus, membership, logger: silent, requestTimeoutMs: 200 });
  heard = [];
  published = [];
  emitErrors = [];
  // Everything the fabric broadcasts (not rf.node.*: a listener there would count as a node).
  for (const subject of ['rf.room.>', Subject.all]) {
    await bus.subscribe(subject, (payload, s) =>
      heard.push({ subject: s, msg: decodeBusMessage(payload) }),
    );
  }
  host = {
    fabric,
    toSocket: (m) => m,
    onEmitError: (err) => emitErrors.push(err),
    onPublished: (n) => published.push(n),
  };
});

afterEach(async () => {
  await bus.close();
  await membership.close();
});

const root = () => new Operator(host);

/** Broadcasts heard so far, as `subject` -> message. */
async function broadcasts(): Promise<Array<{ subject: string; msg: BusMessage }>> {
  await bus.flush();
  return heard.filter((h) => h.msg.type === BusMessageType.BROADCAST);
}

describe('Operator.emit: routing onto the bus', () => {
  it('publishes once per target room, each carrying the whole selection and the data encoded once', async () => {
    await root().to('a').to(['b', 'c']).emit('news', { n: 1 });
    const got = await broadcasts();
    expect(got.map((g) => g.subject)).toEqual([
      Subject.room('a'),
      Subject.room('b'),
      Subject.room('c'),
    ]);
    for (const { msg } of got) {
      expect(msg).toMatchObject({
        type: BusMessageType.BROADCAST,
        rooms: ['a', 'b', 'c'],
        except: [],
        exceptSocket: null,
        flags: 0,
        event: 'news',
      });
      expect(decode((msg as { data: Uint8Array }).data)).toEqual({ n: 1 });
    }
    expect(published).toEqual([3]);
  });

  it('without rooms, publishes once on rf.all', async () => {
    await root().emit('hello');
    const got = await broadcasts();
    expect(got.map((g) => g.subject)).toEqual([Subject.all]);
    expect(got[0]!.msg).toMatchObject({ rooms: [], except: [] });
    expect(decode((got[0]!.msg as { data: Uint8Array }).data)).toBeNull();
    expect(published).toEqual([1]);
  });

  it('except() travels with the message and is never published to', async () => {
    await root().to('a').except('muted').except(['banned', 'muted']).emit('x', 1);
    const got = await broadcasts();
    expect(got.map((g) => g.subject)).toEqual([Subject.room('a')]);
    expect(got[0]!.msg).toMatchObject({ rooms: ['a'], except: ['muted', 'banned'] });
    // except() alone still targets everyone (rf.all), minus those rooms.
    heard.length = 0;
    await root().except('muted').emit('y');
    const all = await broadcasts();
    expect(all.map((g) => g.subject)).toEqual([Subject.all]);
    expect(all[0]!.msg).toMatchObject({ rooms: [], except: ['muted'] });
  });

  it('volatile sets the VOLATILE flag, on every room message', async () => {
    await root().volatile.to(['a', 'b']).emit('cursor', { x: 1 });
    await root().to('a').volatile.emit('cursor2');
    const got = await broadcasts();
    expect(got).toHaveLength(3);
    for (const { msg } of got) {
      expect((msg as { flags: number }).flags & BroadcastFlag.VOLATILE).toBe(
        BroadcastFlag.VOLATILE,
      );
    }
  });

  it('carries the excluded socket (socket.broadcast) in the message', async () => {
    await new Operator(host, ['a'], [], 'sock-1').emit('x');
    const [only] = await broadcasts();
    expect(only!.msg).toMatchObject({ rooms: ['a'], exceptSocket: 'sock-1' });
  });

  it('is immutable: to/except/volatile return new operators and leave the original as it was', async () => {
    const base = root().to('a');
    const wider = base.to('b');
    base.except('x');
    void base.volatile;
    await base.emit('e');
    await wider.emit('e');
    const got = await broadcasts();
    expect(got.map((g) => [g.subject, (g.msg as { rooms: string[] }).rooms])).toEqual([
      [Subject.room('a'), ['a']],
      [Subject.room('a'), ['a', 'b']],
      [Subject.room('b'), ['a', 'b']],
    ]);
    for (const { msg } of got) expect(msg).toMatchObject({ except: [], flags: 0 });
  });

  it('in() is to(); rooms are kept once, in the order first named', async () => {
    await root().in('b').to(['a', 'b']).in('a').emit('e');
    const got = await broadcasts();
    expect((got[0]!.msg as { rooms: string[] }).rooms).toEqual(['b', 'a']);
    expect(got).toHaveLength(2);
  });

  it('throws at once for a bad room, event name or data, and publishes nothing', async () => {
    expect(() => root().to('')).toThrow(expect.objectContaining({ code: ErrorCode.ROOM_INVALID }));
    expect(() => root().except(42 as never)).toThrow(
      expect.objectContaining({ code: ErrorCode.ROOM_INVALID }),
    );
    expect(() => root().to('a').emit('')).toThrow(
      expect.objectContaining({ code: ErrorCode.EVENT_INVALID }),
    );
    expect(() => root().to('a').emit('connect')).toThrow(
      expect.objectContaining({ code: ErrorCode.EVENT_RESERVED }),
    );
    expect(() =>
      root()
        .to('a')
        .emit('e', () => undefined),
    ).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(await broadcasts()).toEqual([]);
    expect(emitErrors).toEqual([]);
  });

  it('a bus that refuses: the Promise rejects and onEmitError hears the same error', async () => {
    await bus.close();
    const done = root().to('a').emit('e', 1);
    await expect(done).rejects.toMatchObject({ code: ErrorCode.BUS_UNAVAILABLE });
    expect(emitErrors).toHaveLength(1);
    expect(emitErrors[0]).toMatchObject({ code: ErrorCode.BUS_UNAVAILABLE });
    expect(published).toEqual([]);
  });
});

describe('Operator.emit: rooms that keep history', () => {
  it('stores a broadcast to a history room (delivered with its offset), never a volatile one', async () => {
    const history = new MemoryHistory(bus, [{ rooms: ['h:*'] }]);
    const withHistory = new Fabric({ bus, membership, logger: silent, history });
    const offsets: Array<[string, string | undefined]> = [];
    await bus.subscribe('rf.room.>', (_p, subject, _r, headers) =>
      offsets.push([subject, headers?.get(HistoryHeader.OFFSET)]),
    );
    const op = new Operator({ ...host, fabric: withHistory });
    await op.to(['h:1', 'plain']).emit('e', 1);
    await bus.flush();
    expect(offsets).toEqual([
      [Subject.room('h:1'), '1'],
      [Subject.room('plain'), undefined],
    ]);
    offsets.length = 0;
    await op.volatile.to('h:1').emit('cursor', 2);
    await bus.flush();
    expect(offsets).toEqual([[Subject.room('h:1'), undefined]]); // published as is, not stored
    const position = await history.position('h:1');
    expect(position.offset).toBe(1);
    await history.close();
  });
});

describe('Operator: selections and control requests', () => {
  /** Fake edge nodes: answer CONTROL requests, record them, fail when told to. */
  async function nodes(failing: Record<string, RoomfabricError> = {}) {
    const controls: Array<{ node: string; msg: ControlMessage }> = [];
    for (const node of ['n1', 'n2']) {
      await bus.subscribe(Subject.node(node), (payload, _subject, reply) => {
        const msg = decodeBusMessage(payload) as ControlMessage;
        controls.push({ node, msg });
        const error = failing[node];
        void bus.publish(
          reply!,
          error ? encodeReply({ ok: false, error }) : encodeReply({ ok: true }),
        );
      });
    }
    return controls;
  }

  beforeEach(async () => {
    await membership.addSocket({ socketId: 's1', nodeId: 'n1', data: { u: 1 } });
    await membership.addSocket({ socketId: 's2', nodeId: 'n1', data: { u: 2 } });
    await membership.addSocket({ socketId: 's3', nodeId: 'n2', data: { u: 3 } });
    await membership.join('s1', ['a']);
    await membership.join('s2', ['a', 'b']);
    await membership.join('s3', ['b', 'muted']);
  });

  const ids = (list: MemberInfo[]) => list.map((m) => m.socketId).sort();

  it('fetchSockets() reads the union of the rooms minus except, each socket once', async () => {
    expect(ids(await root().to(['a', 'b']).fetchSockets())).toEqual(['s1', 's2', 's3']);
    expect(ids(await root().to('b').except('muted').fetchSockets())).toEqual(['s2']);
    expect(ids(await new Operator(host, ['a'], [], 's1').fetchSockets())).toEqual(['s2']);
    expect(await root().to('nobody').fetchSockets()).toEqual([]);
  });

  it('fetchSockets() without rooms selects every socket, with its data', async () => {
    const all = await root().except('muted').fetchSockets();
    expect(all.sort((x, y) => x.socketId.localeCompare(y.socketId))).toEqual([
      { socketId: 's1', nodeId: 'n1', data: { u: 1 } },
      { socketId: 's2', nodeId: 'n1', data: { u: 2 } },
    ]);
  });

  it('socketsJoin/Leave/disconnectSockets ask each node once, for its own sockets', async () => {
    const controls = await nodes();
    await root().to('b').socketsJoin(['c', 'd']);
    const byNode = controls.map((c) => [c.node, c.msg.op, [...c.msg.sockets].sort(), c.msg.rooms]);
    expect(byNode.sort()).toEqual([
      ['n1', ControlOp.JOIN, ['s2'], ['c', 'd']],
      ['n2', ControlOp.JOIN, ['s3'], ['c', 'd']],
    ]);
    controls.length = 0;
    await root().to('a').socketsLeave('a');
    expect(controls.map((c) => [c.node, c.msg.op, [...c.msg.sockets].sort(), c.msg.rooms])).toEqual(
      [['n1', ControlOp.LEAVE, ['s1', 's2'], ['a']]],
    );
    controls.length = 0;
    await root().to('muted').disconnectSockets();
    expect(controls.map((c) => [c.node, c.msg.op, c.msg.sockets])).toEqual([
      ['n2', ControlOp.DISCONNECT, ['s3']],
    ]);
  });

  it('an empty selection sends no request at all', async () => {
    const controls = await nodes();
    await root().to('nobody').socketsJoin('x');
    await root().to('nobody').disconnectSockets();
    expect(controls).toEqual([]);
  });

  it('rejects with a node’s refusal, after every node was asked', async () => {
    const refused = new RoomfabricError(ErrorCode.ROOM_LIMIT, 'too many rooms');
    const controls = await nodes({ n2: refused });
    await expect(root().to('b').socketsJoin('c')).rejects.toMatchObject({
      code: ErrorCode.ROOM_LIMIT,
      message: 'too many rooms',
    });
    expect(controls.map((c) => c.node).sort()).toEqual(['n1', 'n2']);
  });

  it('rejects RF_NO_RESPONDERS for a node nobody answers for, and a bad room before asking', async () => {
    // No fake nodes subscribed.
    await expect(root().to('a').socketsJoin('c')).rejects.toMatchObject({
      code: ErrorCode.NO_RESPONDERS,
    });
    await expect(root().to('a').socketsJoin('')).rejects.toMatchObject({
      code: ErrorCode.ROOM_INVALID,
    });
  });
});
