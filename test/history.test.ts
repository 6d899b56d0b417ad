/*
 * History and recovery in embedded mode (MemoryHistory): positions, offsets on events,
 * the replay on rejoin after a dropped connection, the cases that cannot recover, holes in
 * the live stream, and the rooms the server joined. On JetStream across processes:
 * test/chaos/history-*.int.test.ts and test/cluster/continuity-cli.int.test.ts.
 */
import {
  MemoryBus,
  MemoryHistory,
  type BusHandler,
  type HistoryPolicy,
  type SubscribeOptions,
} from '@roomfabric/bus';
import type { RoomfabricClient, StateChange } from '@roomfabric/client';
import { createEdge } from '@roomfabric/edge';
import { MemoryMembership } from '@roomfabric/membership';
import { BusMessageType, channelRoom, encodeBusMessage, userRoom } from '@roomfabric/protocol';
import { signTestToken, TEST_JWT_SECRET } from '@roomfabric/testkit';
import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { connected } from './support/clients.js';
import { startTestEdge, type TestEdge } from './support/edge.js';
import { RawClient } from './support/raw-client.js';

const history = [{ rooms: ['chat:*'], maxMessages: 20 }];
const fastReconnect = { reconnect: { minDelayMs: 20, maxDelayMs: 50 } };

interface Seen {
  texts: string[];
  offsets: number[];
  rejoins: Array<{ room: string; recovered: boolean | null; missed: number }>;
}

function watch(client: RoomfabricClient, room: string): Seen {
  const seen: Seen = { texts: [], offsets: [], rejoins: [] };
  client.on('msg', (data, meta) => {
    if (meta.room !== room) return;
    seen.texts.push(data as string);
    seen.offsets.push(client.position(room)!.offset);
  });
  client.on('rejoined', (info) => seen.rejoins.push(info));
  return seen;
}

/** Cuts a client's connection from the server side, as a dying network would. */
function cut(t: TestEdge, client: RoomfabricClient): void {
  for (const socket of t.edge.sockets.values()) {
    if (socket.id === client.id) socket.ws.terminate();
  }
}

function nextConnect(client: RoomfabricClient): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      client.off('connected', done);
      resolve();
    };
    client.on('connected', done);
  });
}

async function publisher(t: TestEdge, room: string): Promise<RoomfabricClient> {
  const client = await connected(t.url);
  await client.join(room);
  return client;
}

/** A token for user `ada`, signed with {@link TEST_JWT_SECRET}. */
function adaToken(): Promise<string> {
  return signTestToken('ada');
}

/**
 * A bus that loses the next `drop` history entries on their way to subscribers, as core
 * NATS may (at most once): they are stored, only their live delivery is lost.
 */
class LossyBus extends MemoryBus {
  drop = 0;
  override subscribe(subject: string, handler: BusHandler, options?: SubscribeOptions) {
    return super.subscribe(
      subject,
      (payload, subj, reply, headers) => {
        if (this.drop > 0 && headers?.get('Nats-Sequence') !== undefined) {
          this.drop--;
          return;
        }
        handler(payload, subj, reply, headers);
      },
      options,
    );
  }
}

/** An edge on a bus the test holds (to lose or add entries), with an in-memory index. */
function edgeOn(bus: MemoryBus, policies: HistoryPolicy[] = history): Promise<TestEdge> {
  return startTestEdge({
    policy: 'open',
    history: policies,
    bus,
    membership: new MemoryMembership(),
  });
}

describe('history and recovery (embedded)', () => {
  it('gives a join a position and every event an offset that grows', async () => {
    await using t = await startTestEdge({ policy: 'open', history });
    const reader = await connected(t.url);
    const seen = watch(reader, 'chat:a');
    await reader.join('chat:a');
    const start = reader.position('chat:a')!;
    expect(start.offset).toBeGreaterThan(0);
    expect(start.epoch).not.toBe('');
    const writer = await publisher(t, 'chat:a');
    for (let i = 0; i < 5; i++) writer.to('chat:a').emit('msg', `m${i}`);
    await expect.poll(() => seen.texts.length).toBe(5);
    expect(seen.texts).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    for (let i = 1; i < 5; i++) expect(seen.offsets[i]).toBeGreaterThan(seen.offsets[i - 1]!);
    expect(seen.offsets[0]).toBeGreaterThan(start.offset);
    // A room without history: no position.
    await reader.join('plain');
    expect(reader.position('plain')).toBeUndefined();
    reader.close();
    writer.close();
  });

  it('replays what a dropped client missed, in order, once, without its own messages', async () => {
    await using t = await startTestEdge({ policy: 'open', history });
    const reader = await connected(t.url, fastReconnect);
    const seen = watch(reader, 'chat:b');
    await reader.join('chat:b');
    const writer = await publisher(t, 'chat:b');
    for (let i = 0; i < 3; i++) writer.to('chat:b').emit('msg', `before${i}`);
    await expect.poll(() => seen.texts.length).toBe(3);
    reader.to('chat:b').emit('msg', 'own'); // delivered to the writer, never back to the reader
    await new Promise((r) => setTimeout(r, 50));
    const reconnected = nextConnect(reader);
    cut(t, reader);
    // While the reader is away (its reconnect waits at least 20 ms).
    for (let i = 0; i < 6; i++) await writer.to('chat:b').emitWithAck('msg', `during${i}`);
    await reconnected;
    for (let i = 0; i < 3; i++) writer.to('chat:b').emit('msg', `after${i}`);
    await expect.poll(() => seen.texts.length).toBe(12);
    expect(seen.texts).toEqual([
      'before0',
      'before1',
      'before2',
      ...Array.from({ length: 6 }, (_, i) => `during${i}`),
      ...Array.from({ length: 3 }, (_, i) => `after${i}`),
    ]);
    expect(new Set(seen.offsets).size).toBe(12);
    expect(seen.rejoins.filter((r) => r.room === 'chat:b')).toEqual([
      { room: 'chat:b', recovered: true, missed: 6 },
    ]);
    reader.close();
    writer.close();
  });

  it('never stores volatile broadcasts: delivered live, without an offset, not replayed', async () => {
    await using t = await startTestEdge({ policy: 'open', history });
    const reader = await connected(t.url, fastReconnect);
    const seen = watch(reader, 'chat:v');
    await reader.join('chat:v');
    const start = reader.position('chat:v')!;
    const writer = await publisher(t, 'chat:v');
    writer.volatile.to('chat:v').emit('msg', 'cursor');
    await expect.poll(() => seen.texts).toEqual(['cursor']);
    expect(reader.position('chat:v')).toEqual(start);
    const reconnected = nextConnect(reader);
    cut(t, reader);
    writer.volatile.to('chat:v').emit('msg', 'cursor while away');
    await writer.to('chat:v').emitWithAck('msg', 'stored while away');
    await reconnected;
    await expect.poll(() => seen.texts).toEqual(['cursor', 'stored while away']);
    expect(seen.rejoins).toEqual([{ room: 'chat:v', recovered: true, missed: 1 }]);
    reader.close();
    writer.close();
  });

  it('says recovered: false when more was missed than the room keeps', async () => {
    await using t = await startTestEdge({ policy: 'open', history });
    const reader = await connected(t.url, { reconnect: { minDelayMs: 300, maxDelayMs: 300 } });
    const seen = watch(reader, 'chat:c');
    await reader.join('chat:c');
    const writer = await publisher(t, 'chat:c');
    const reconnected = nextConnect(reader);
    cut(t, reader);
    for (let i = 0; i < 30; i++) await writer.to('chat:c').emitWithAck('msg', `lost${i}`);
    await reconnected;
    expect(seen.rejoins).toEqual([{ room: 'chat:c', recovered: false, missed: 0 }]);
    expect(seen.texts).toEqual([]);
    // The position moved to the room's latest: what comes next is delivered and recoverable.
    writer.to('chat:c').emit('msg', 'next');
    await expect.poll(() => seen.texts).toEqual(['next']);
    reader.close();
    writer.close();
  });

  it('says recovered: false when the history was lost (a new epoch)', async () => {
    await using a = await startTestEdge({ policy: 'open', history });
    const reader = await connected(a.url, fastReconnect);
    const seen = watch(reader, 'chat:d');
    await reader.join('chat:d');
    const port = a.port;
    await a.edge.close();
    // A new process on the same port: its in-memory history starts empty, in a new epoch.
    await using b = await startTestEdge({ policy: 'open', history }, port);
    await expect.poll(() => seen.rejoins.length, { timeout: 5000 }).toBe(1);
    expect(seen.rejoins[0]).toMatchObject({ room: 'chat:d', recovered: false });
    expect(b.edge.sockets.size).toBe(1);
    reader.close();
  });

  it('fills a hole in the live stream from the history, in order, without a reconnect', async () => {
    const bus = new LossyBus();
    await using t = await edgeOn(bus);
    const reader = await connected(t.url, fastReconnect);
    const seen = watch(reader, 'chat:g');
    const connects: string[] = [];
    reader.on('connected', ({ socketId }) => connects.push(socketId));
    await reader.join('chat:g');
    const writer = await publisher(t, 'chat:g');
    await writer.to('chat:g').emitWithAck('msg', 'm0');
    bus.drop = 2; // m1 and m2 are stored but never reach the node live
    await writer.to('chat:g').emitWithAck('msg', 'm1');
    await writer.to('chat:g').emitWithAck('msg', 'm2');
    await writer.to('chat:g').emitWithAck('msg', 'm3'); // names m2 as its previous entry
    await expect.poll(() => seen.texts).toEqual(['m0', 'm1', 'm2', 'm3']);
    for (let i = 1; i < 4; i++) expect(seen.offsets[i]).toBeGreaterThan(seen.offsets[i - 1]!);
    expect(connects).toEqual([]); // no reconnect
    expect(t.edge.stats()).toMatchObject({
      historyGapsFilled: 1,
      historyGapEntries: 3, // m1 and m2, and m3, stored before the fill read: held m3 is dropped
      historyGapsLost: 0,
    });
    reader.close();
    writer.close();
  });

  it('closes the members with 4004 when the hole is gone, and they are told recovered: false', async () => {
    const bus = new LossyBus();
    await using t = await edgeOn(bus, [{ rooms: ['chat:*'], maxMessages: 3 }]);
    const reader = await connected(t.url, fastReconnect);
    const seen = watch(reader, 'chat:h');
    const changes: StateChange[] = [];
    reader.on('connecting', (c) => changes.push(c));
    await reader.join('chat:h');
    // A backend emits (through the node's API): the writer is not a member that gets closed.
    const emit = (text: string) => t.edge.to('chat:h').emit('msg', text);
    await emit('kept');
    bus.drop = 5; // five entries lost live, and pushed out of a 3-entry history by the end
    for (let i = 0; i < 5; i++) await emit(`gone${i}`);
    await emit('reveals the hole');
    await expect
      .poll(() => seen.rejoins, { timeout: 5000 })
      .toEqual([{ room: 'chat:h', recovered: false, missed: 0 }]);
    expect(changes).toContainEqual({ code: 4004, reason: 'RF_HISTORY_GAP' });
    expect(seen.texts).toEqual(['kept']); // nothing silently skipped: the app reloads
    expect(t.edge.stats().historyGapsLost).toBe(1);
    // Back in the room at its latest position: what comes next is delivered.
    await emit('next');
    await expect.poll(() => seen.texts).toEqual(['kept', 'next']);
    reader.close();
  });

  it('recovers rooms the server joined while connected (a channel subscribed, socketsJoin)', async () => {
    const token = await adaToken();
    await using t = await startTestEdge({
      auth: { secret: TEST_JWT_SECRET },
      history: [{ rooms: ['$chan:*', 'chat:*'], maxMessages: 20 }],
    });
    const ada = await connected(t.url, { ...fastReconnect, auth: { token } });
    const news = channelRoom('news');
    const inNews = watch(ada, news);
    const inChat = watch(ada, 'chat:s');
    // Joined by the server after HELLO: a channel subscribe, and a backend's socketsJoin.
    await t.edge.channels.create('news');
    await t.edge.channels.subscribe('ada', 'news');
    await t.edge.in(userRoom('ada')).socketsJoin('chat:s');
    await expect.poll(() => ada.position(news)?.offset ?? 0).toBeGreaterThan(0);
    await expect.poll(() => ada.position('chat:s')?.offset ?? 0).toBeGreaterThan(0);
    expect(ada.rooms.has(news)).toBe(false); // not the client's own join
    await t.edge.to(news).emit('msg', 'n0');
    await t.edge.to('chat:s').emit('msg', 'c0');
    await expect.poll(() => [...inNews.texts, ...inChat.texts]).toEqual(['n0', 'c0']);

    const reconnected = nextConnect(ada);
    cut(t, ada);
    await t.edge.to(news).emit('msg', 'n1 while away');
    await reconnected;
    // The channel comes back by itself (the server joins it at connect) and is recovered.
    await expect.poll(() => inNews.texts).toEqual(['n0', 'n1 while away']);
    expect(inNews.rejoins.filter((r) => r.room === news)).toEqual([
      { room: news, recovered: true, missed: 1 },
    ]);
    ada.close();
  });

  it('delivers a broadcast stored under other history settings without an offset, and keeps its own sequence', async () => {
    const bus = new MemoryBus();
    await using t = await edgeOn(bus);
    const reader = await connected(t.url, fastReconnect);
    const seen = watch(reader, 'chat:m');
    const changes: StateChange[] = [];
    reader.on('connecting', (c) => changes.push(c));
    await reader.join('chat:m');
    const start = reader.position('chat:m')!;
    // A misconfigured process: the same rooms under another policy name (another stream).
    const other = new MemoryHistory(bus, [{ rooms: ['chat:*'], name: 'mismatched' }]);
    const broadcast = encodeBusMessage({
      type: BusMessageType.BROADCAST,
      rooms: ['chat:m'],
      except: [],
      exceptSocket: null,
      event: 'msg',
      data: encode('foreign'),
      flags: 0,
    });
    await other.append('chat:m', broadcast);
    await expect.poll(() => seen.texts).toEqual(['foreign']);
    expect(reader.position('chat:m')).toEqual(start); // outside this room's sequence
    await t.edge.to('chat:m').emit('msg', 'own');
    await expect.poll(() => seen.texts).toEqual(['foreign', 'own']);
    expect(reader.position('chat:m')!.offset).toBeGreaterThan(start.offset);
    expect(t.edge.stats()).toMatchObject({ historyGapsFilled: 0, historyGapsLost: 0 });
    expect(changes).toEqual([]);
    await other.close();
    reader.close();
  });

  it('recovers the rooms the server joined (channels, personal room) through CONNECT', async () => {
    const token = await adaToken();
    await using t = await startTestEdge({
      auth: { secret: TEST_JWT_SECRET },
      history: [{ rooms: ['$chan:*', '$user:*'], maxMessages: 20 }],
    });
    await t.edge.channels.create('general');
    await t.edge.channels.subscribe('ada', 'general');
    const general = channelRoom('general');
    const personal = userRoom('ada');
    const ada = await connected(t.url, { ...fastReconnect, auth: { token } });
    const inGeneral = watch(ada, general);
    const toAda = watch(ada, personal);
    // HELLO gave the positions of the rooms the server joined.
    expect(ada.position(general)?.offset).toBeGreaterThan(0);
    expect(ada.position(personal)?.offset).toBeGreaterThan(0);
    await t.edge.to(general).emit('msg', 'g0');
    await expect.poll(() => inGeneral.texts).toEqual(['g0']);

    const reconnected = nextConnect(ada);
    cut(t, ada);
    await t.edge.to(general).emit('msg', 'g1 while away');
    await t.edge.to(general).emit('msg', 'g2 while away');
    await t.edge.to(personal).emit('msg', 'p1 while away');
    await reconnected;
    await expect.poll(() => inGeneral.texts).toEqual(['g0', 'g1 while away', 'g2 while away']);
    await expect.poll(() => toAda.texts).toEqual(['p1 while away']);
    expect(inGeneral.rejoins.filter((r) => r.room === general)).toEqual([
      { room: general, recovered: true, missed: 2 },
    ]);
    expect(toAda.rejoins.filter((r) => r.room === personal)).toEqual([
      { room: personal, recovered: true, missed: 1 },
    ]);
    // Live again, each event once.
    await t.edge.to(general).emit('msg', 'g3');
    await expect
      .poll(() => inGeneral.texts)
      .toEqual(['g0', 'g1 while away', 'g2 while away', 'g3']);
    for (let i = 1; i < 4; i++) {
      expect(inGeneral.offsets[i]).toBeGreaterThan(inGeneral.offsets[i - 1]!);
    }
    ada.close();
  });

  it('refuses invalid history settings at creation with RF_INVALID_ARGUMENT', () => {
    for (const options of [
      { history: [{ rooms: [] }] },
      { history: [{ rooms: ['a'], maxMessages: 0 }] },
      { history, recoveryLimit: 0 },
      { history, recoveryLimit: 1.5 },
    ]) {
      expect(() => createEdge(options)).toThrow(
        expect.objectContaining({ code: 'RF_INVALID_ARGUMENT' }),
      );
    }
  });

  it('refuses a malformed since with RF_FRAME_INVALID', async () => {
    await using t = await startTestEdge({ policy: 'open', history });
    const raw = await RawClient.open(t.url);
    raw.sendValue([2, 1, 'chat:e', ['x', 'e']]);
    const err = await raw.next((f) => f.type === 7);
    expect(err).toMatchObject({ code: 'RF_FRAME_INVALID' });
    raw.ws.close();
  });
});
