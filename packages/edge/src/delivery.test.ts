import { IndexRepairs } from './index-repairs.js';
import { decodeMulti } from '@msgpack/msgpack';
import { HistoryHeader, MemoryBus } from '@roomfabric/bus';
import { createRecordingLogger } from '@roomfabric/fabric';
import type { Membership } from '@roomfabric/membership';
import {
  BroadcastFlag,
  BusMessageType,
  encodeBusMessage,
  encodeData,
  FrameType,
  Subject,
  type BroadcastMessage,
  type RaidCommitMessage,
} from '@roomfabric/protocol';
import type WebSocket from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EdgeContext } from './context.js';
import { Delivery, type RaidTap } from './delivery.js';
import { HistoryHolds } from './history/holds.js';
import { resolveEdgeLimits } from './limits.js';
import { LocalRooms } from './local-rooms.js';
import { Sender } from './sender.js';
import { Socket } from './socket.js';
import { newCounters } from './stats.js';

/*
 * The delivery path of one node, in memory: a MemoryBus, the node's LocalRooms feeding
 * `Delivery`, and real Sockets over fake WebSockets (what each was sent is recorded).
 */

interface Wire {
  bufferedAmount: number;
  sent: Uint8Array[];
}

const quiet = createRecordingLogger();

function setup() {
  const bus = new MemoryBus();
  const raids = { onRoomCommit: vi.fn(), onRoomBroadcast: vi.fn() } satisfies RaidTap;
  const ctx = {
    nodeId: 'n1',
    limits: resolveEdgeLimits({ volatileBufferBytes: 100 }),
    counters: newCounters(),
    busInByRoom: new Map<string, number>(),
    history: undefined,
    holds: new HistoryHolds<Socket>(),
    logger: quiet,
    sockets: new Map<string, Socket>(),
    sender: new Sender(),
    indexHold: undefined,
    indexRepairs: new IndexRepairs(),
    membership: {
      join: (_s, rooms) => Promise.resolve([...rooms]),
    } as Partial<Membership> as Membership,
    onBackgroundError: (err: unknown) => {
      throw err;
    },
  } as Partial<EdgeContext<Socket>> as EdgeContext<Socket> & { localRooms: LocalRooms<Socket> };
  const delivery = new Delivery(ctx, raids);
  expect(delivery.gaps).toBeUndefined(); // no history: no gap filling
  (ctx as { localRooms: LocalRooms<Socket> }).localRooms = new LocalRooms<Socket>(
    bus,
    (room, payload, headers) => delivery.onRoomMessage(room, payload, headers),
    () => undefined,
    () => undefined,
  );
  const wires = new Map<string, Wire>();

  /** An open socket in `rooms`, through the real local join. */
  async function connect(id: string, rooms: string[]): Promise<Socket> {
    const wire: Wire = { bufferedAmount: 0, sent: [] };
    const ws = {
      get bufferedAmount() {
        return wire.bufferedAmount;
      },
      send: (data: Uint8Array) => wire.sent.push(data),
    } as unknown as WebSocket;
    const handshake = { auth: null, headers: {}, query: {}, url: '/ws', address: '', time: 0 };
    const socket = new Socket(id, handshake, ws, ctx);
    socket.state = 'open';
    ctx.sockets.set(id, socket);
    wires.set(id, wire);
    if (rooms.length > 0) await socket.joinRooms(rooms);
    return socket;
  }

  /** Publishes a broadcast as a publisher does: once on each target room's subject. */
  async function broadcast(
    msg: Partial<BroadcastMessage> & { rooms: string[]; data?: Uint8Array },
    headers?: Record<string, string>,
  ): Promise<void> {
    const full: BroadcastMessage = {
      type: BusMessageType.BROADCAST,
      except: [],
      exceptSocket: null,
      flags: 0,
      event: 'news',
      data: encodeData('hi'),
      ...msg,
    };
    const payload = encodeBusMessage(full);
    for (const room of full.rooms) {
      await bus.publish(Subject.room(room), payload, headers ? { headers } : undefined);
    }
  }

  /** Lets the bus deliver and the end-of-turn write run. */
  async function settle(): Promise<void> {
    await bus.flush();
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** The frames socket `id` was sent, decoded. */
  const frames = (id: string) =>
    wires.get(id)!.sent.flatMap((m) => [...decodeMulti(m)] as unknown[][]);

  return { bus, ctx, raids, delivery, connect, broadcast, settle, frames, wires };
}

describe('Delivery', () => {
  const buses: MemoryBus[] = [];
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });
  const make = () => {
    const s = setup();
    buses.push(s.bus);
    return s;
  };

  it('encodes one EVENT frame per broadcast and room: every member is sent the same bytes', async () => {
    const { connect, broadcast, settle, wires, frames, ctx, raids } = make();
    for (const id of ['a', 'b', 'c']) await connect(id, ['r']);
    await connect('outsider', []);
    await broadcast({ rooms: ['r'], event: 'news', data: encodeData({ n: 1 }) });
    await settle();
    const sent = ['a', 'b', 'c'].map((id) => wires.get(id)!.sent);
    expect(sent.map((s) => s.length)).toEqual([1, 1, 1]);
    expect(sent[1]![0]).toBe(sent[0]![0]);
    expect(sent[2]![0]).toBe(sent[0]![0]);
    expect(frames('a')).toEqual([[FrameType.EVENT, 'news', { n: 1 }, 'r', 0]]);
    expect(wires.get('outsider')!.sent).toHaveLength(0);
    expect(ctx.counters.deliveries).toBe(3);
    expect(ctx.counters.busIn).toBe(1);
    expect(ctx.busInByRoom.get('r')).toBe(1);
    expect(raids.onRoomBroadcast).toHaveBeenCalledTimes(1);
    expect(raids.onRoomBroadcast.mock.calls[0]![2]).toBe(0); // no history offset
  });

  it('members that got several frames in a turn share one concatenated write', async () => {
    const { connect, broadcast, settle, wires } = make();
    await connect('a', ['r']);
    await connect('b', ['r']);
    await broadcast({ rooms: ['r'], event: 'one' });
    await broadcast({ rooms: ['r'], event: 'two' });
    await settle();
    const [a, b] = [wires.get('a')!.sent, wires.get('b')!.sent];
    expect(a).toHaveLength(1);
    expect(b[0]).toBe(a[0]);
  });

  it('skips the excepted socket and the members of excepted rooms', async () => {
    const { connect, broadcast, settle, frames } = make();
    await connect('sender', ['r']);
    await connect('muted', ['r', 'mute']);
    await connect('other', ['r']);
    await broadcast({ rooms: ['r'], exceptSocket: 'sender', except: ['mute'] });
    await settle();
    expect(frames('sender')).toEqual([]);
    expect(frames('muted')).toEqual([]);
    expect(frames('other')).toHaveLength(1);
  });

  it('a member of several target rooms gets the broadcast once, through the first it is in', async () => {
    const { connect, broadcast, settle, frames } = make();
    await connect('both', ['a', 'b']);
    await connect('onlyB', ['b']);
    await broadcast({ rooms: ['a', 'b'] });
    await settle();
    expect(frames('both').map((f) => f[3])).toEqual(['a']);
    expect(frames('onlyB').map((f) => f[3])).toEqual(['b']);
  });

  it('drops a volatile broadcast for a member whose buffer is over the threshold only', async () => {
    const { connect, broadcast, settle, frames, wires, ctx } = make();
    await connect('slow', ['r']);
    await connect('fast', ['r']);
    wires.get('slow')!.bufferedAmount = 101;
    await broadcast({ rooms: ['r'], flags: BroadcastFlag.VOLATILE });
    await broadcast({ rooms: ['r'], event: 'kept' });
    await settle();
    expect(frames('slow').map((f) => f[1])).toEqual(['kept']);
    expect(frames('fast').map((f) => f[1])).toEqual(['news', 'kept']);
    expect(ctx.counters.volatileDrops).toBe(1);
    expect(ctx.counters.deliveries).toBe(3);
  });

  it('stamps the history offset and the broadcast id; an anchor is not delivered', async () => {
    const { connect, broadcast, settle, frames } = make();
    await connect('a', ['r']);
    await broadcast({ rooms: ['r'], id: 'b-1' }, { [HistoryHeader.OFFSET]: '42' });
    await broadcast(
      { rooms: ['r'], event: 'anchor' },
      { [HistoryHeader.OFFSET]: '43', 'Rf-Anchor': '1' },
    );
    await broadcast({ rooms: ['r'], event: 'plain', id: 'b-2' });
    await settle();
    expect(frames('a')).toEqual([
      [FrameType.EVENT, 'news', 'hi', 'r', 0, 42, 'b-1'],
      // Without an offset the id is not sent: only stored entries can come twice.
      [FrameType.EVENT, 'plain', 'hi', 'r', 0],
    ]);
  });

  it('drops what clients must never see, and what is not a broadcast for this room', async () => {
    const { bus, connect, broadcast, settle, frames, ctx } = make();
    await connect('a', ['r']);
    await broadcast({ rooms: ['r'], event: 'state' }); // an SDK lifecycle name
    await broadcast({ rooms: ['r'], event: 'connect' });
    // Published on r's subject but naming other rooms only.
    await bus.publish(
      Subject.room('r'),
      encodeBusMessage({
        type: BusMessageType.BROADCAST,
        rooms: ['elsewhere'],
        except: [],
        exceptSocket: null,
        flags: 0,
        event: 'news',
        data: encodeData(1),
      }),
    );
    await bus.publish(Subject.room('r'), Uint8Array.of(0xc1)); // not msgpack
    await broadcast({ rooms: ['r'], event: '$presence' }); // the fabric's own: delivered
    await settle();
    expect(frames('a').map((f) => f[1])).toEqual(['$presence']);
    expect(ctx.counters.busMalformed).toBe(4);
    expect(ctx.counters.busIn).toBe(5);
    expect(quiet.entries.some((e) => e.level === 'debug')).toBe(true);
  });

  it('hands a RAID_COMMIT that came through a room to the raid side, delivers nothing', async () => {
    const { bus, connect, settle, frames, raids } = make();
    await connect('a', ['r']);
    const commit: RaidCommitMessage = {
      type: BusMessageType.RAID_COMMIT,
      raidId: 'x',
      from: 'r',
      to: 't',
      node: 'n1',
      part: 0,
      parts: 1,
      sockets: ['a'],
    };
    await bus.publish(Subject.room('r'), encodeBusMessage(commit));
    await settle();
    expect(raids.onRoomCommit).toHaveBeenCalledWith(expect.objectContaining({ raidId: 'x' }));
    expect(frames('a')).toEqual([]);
  });

  it('a broadcast to the whole fabric reaches every open socket of the node, without a room', async () => {
    const { delivery, connect, settle, frames, ctx } = make();
    await connect('a', ['r']);
    await connect('b', []);
    const msg: BroadcastMessage = {
      type: BusMessageType.BROADCAST,
      rooms: [],
      except: ['r'],
      exceptSocket: null,
      flags: 0,
      event: 'all',
      data: encodeData(7),
    };
    delivery.onAllMessage(encodeBusMessage({ ...msg, except: [] }));
    delivery.onAllMessage(encodeBusMessage(msg)); // everyone but the members of r
    delivery.onAllMessage(encodeBusMessage({ ...msg, event: 'error' })); // reserved
    await settle();
    expect(frames('a')).toEqual([[FrameType.EVENT, 'all', 7, null, 0]]);
    expect(frames('b')).toEqual([
      [FrameType.EVENT, 'all', 7, null, 0],
      [FrameType.EVENT, 'all', 7, null, 0],
    ]);
    expect(ctx.counters.busMalformed).toBe(1);
  });
});
