import { connect, type ClientState, type StateChange } from '@roomfabric/client';
import type { Socket } from '@roomfabric/edge';
import { FrameType } from '@roomfabric/protocol';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { connected, recorder } from './support/clients.js';
import { startTestEdge } from './support/edge.js';
import { startFakeServer } from './support/fake-server.js';

describe('client SDK', () => {
  it('emitWithAck resolves with the ack, rejects with RF_ACK_TIMEOUT, RF_NO_HANDLER, RF_HANDLER_FAILED', async () => {
    await using t = await startTestEdge();
    t.edge.on('connection', (socket) => {
      socket.on('echo', (data, ack) => ack?.({ echoed: data }));
      socket.on('silent', () => undefined);
      socket.on('broken', () => {
        throw new Error('handler bug');
      });
    });
    const client = await connected(t.url);
    expect(await client.emitWithAck('echo', 42)).toEqual({ echoed: 42 });
    const started = Date.now();
    await expect(client.emitWithAck('silent', 1, { timeout: 200 })).rejects.toMatchObject({
      code: 'RF_ACK_TIMEOUT',
      temporary: true,
    });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1000);
    await expect(client.emitWithAck('nobody', 1)).rejects.toMatchObject({ code: 'RF_NO_HANDLER' });
    await expect(client.emitWithAck('broken', 1)).rejects.toMatchObject({
      code: 'RF_HANDLER_FAILED',
    });
    expect(() => client.emit('connect', 1)).toThrow(
      expect.objectContaining({ code: 'RF_EVENT_RESERVED' }),
    );
    client.close();
  });

  it('join() resolves with nothing, as its type says (not the ACK position of a history room)', async () => {
    await using t = await startTestEdge({
      policy: 'open',
      history: [{ rooms: ['h:*'], maxMessages: 5 }],
    });
    const client = await connected(t.url);
    expect(await client.join('plain')).toBeUndefined();
    expect(await client.join('h:1')).toBeUndefined();
    client.close();
  });

  it('answers the server emitWithAck through meta.ack', async () => {
    await using t = await startTestEdge();
    const sockets: Socket[] = [];
    t.edge.on('connection', (s) => sockets.push(s));
    const client = await connected(t.url);
    client.on('question', (data, meta) => meta.ack?.(`answer to ${String(data)}`));
    client.on('ignored', () => undefined);
    expect(await sockets[0]!.emitWithAck('question', 'life')).toBe('answer to life');
    await expect(sockets[0]!.emitWithAck('ignored', 1, { timeout: 100 })).rejects.toMatchObject({
      code: 'RF_ACK_TIMEOUT',
    });
    client.close();
  });

  it('rejects a forbidden join and does not keep the room', async () => {
    await using t = await startTestEdge({
      policy: { join: (_socket, room) => room.startsWith('public:') },
    });
    const client = await connected(t.url);
    await client.join('public:1');
    await expect(client.join('private:1')).rejects.toMatchObject({ code: 'RF_FORBIDDEN' });
    await expect(client.join('')).rejects.toMatchObject({ code: 'RF_ROOM_INVALID' });
    expect([...client.rooms]).toEqual(['public:1']);
    // Broadcasting is closed by this policy.
    await expect(client.to('public:1').emitWithAck('x', 1)).rejects.toMatchObject({
      code: 'RF_FORBIDDEN',
    });
    client.close();
  });

  it('reconnects after the server restarts on the same port, rejoins its rooms, then flushes its queue', async () => {
    const first = await startTestEdge({ policy: 'open' });
    const port = first.port;
    const received: string[] = [];
    const second = { edge: undefined as undefined | Awaited<ReturnType<typeof startTestEdge>> };
    try {
      const listener = await recorder(first.url, ['news'], {
        reconnect: { minDelayMs: 50, maxDelayMs: 200 },
      });
      const states: Array<[ClientState, StateChange]> = [];
      listener.client.on('state', (state, change) => states.push([state, change]));
      await listener.client.join('a');
      await listener.client.join('b');
      const firstId = listener.client.id;
      await first.edge.close();
      await eventually(() => listener.client.state === 'connecting', {
        timeoutMs: 2000,
        what: 'client notices the shutdown',
      });
      expect(states[0]).toEqual(['connecting', { code: 1001, reason: 'RF_SERVER_SHUTDOWN' }]);
      // While disconnected: a join waits for the connection, an emit is queued.
      const joinC = listener.client.join('c');
      expect(listener.client.emit('note', 'queued while offline')).toBe(true);
      second.edge = await startTestEdge({ policy: 'open' }, port);
      second.edge.edge.on('connection', (socket) => {
        // The queued emit must arrive after the rooms were rejoined.
        socket.on('note', (text) => {
          received.push(`${String(text)} in ${[...socket.rooms].sort().join(',')}`);
        });
      });
      await joinC;
      await listener.client.ready();
      expect(listener.client.id).not.toBe(firstId);
      expect([...listener.client.rooms].sort()).toEqual(['a', 'b', 'c']);
      const socket = second.edge.edge.sockets.get(listener.client.id!)!;
      expect([...socket.rooms].sort()).toEqual(['a', 'b', 'c']);
      await eventually(() => received.length === 1, { timeoutMs: 2000, what: 'queued emit' });
      expect(received).toEqual(['queued while offline in a,b,c']);
      await second.edge.edge.to('b').emit('news', 'after restart');
      await eventually(() => listener.of('news').includes('after restart'));
      expect(states.at(-1)).toEqual(['connected', { code: 0, reason: 'connected' }]);
      listener.client.close();
    } finally {
      await first.edge.close();
      await second.edge?.edge.close();
    }
  });

  it('does not reconnect after a terminal close (kicked, unauthorized)', async () => {
    await using t = await startTestEdge();
    t.edge.use((socket, next) =>
      (socket.handshake.auth as { ok?: boolean } | null)?.ok ? next() : next(new Error('no')),
    );
    const refused = connect(t.url, { reconnect: { minDelayMs: 10 } });
    await expect(refused.ready()).rejects.toMatchObject({ code: 'RF_UNAUTHORIZED' });
    expect(refused.state).toBe('disconnected');
    await expect(refused.join('a')).rejects.toMatchObject({ code: 'RF_CLIENT_CLOSED' });

    let connections = 0;
    t.edge.on('connection', () => connections++);
    const kicked = await connected(t.url, { auth: { ok: true }, reconnect: { minDelayMs: 10 } });
    const changes: StateChange[] = [];
    kicked.on('disconnected', (c) => changes.push(c));
    const pending = kicked.emitWithAck('never-answered', 1);
    for (const s of t.edge.sockets.values()) void s.disconnect();
    await expect(pending).rejects.toMatchObject({ code: 'RF_KICKED' });
    expect(changes).toEqual([{ code: 4501, reason: 'RF_KICKED' }]);
    await new Promise((r) => setTimeout(r, 100));
    expect(connections).toBe(1);
  });

  it('stops for good when its auth callback throws (RF_UNAUTHORIZED)', async () => {
    await using t = await startTestEdge();
    let calls = 0;
    const client = connect(t.url, {
      auth: () => {
        calls++;
        throw new Error('no token store');
      },
      reconnect: { minDelayMs: 10 },
    });
    await expect(client.ready()).rejects.toMatchObject({ code: 'RF_UNAUTHORIZED' });
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toBe(1);
    expect(client.state).toBe('disconnected');
  });

  it('detects a silent server by heartbeat and reconnects', async () => {
    let hellos = 0;
    await using fake = await startFakeServer((peer) => {
      peer.ws.on('message', () => {
        if (peer.frames[0]?.type === FrameType.CONNECT && hellos < 5 && peer.frames.length === 1) {
          hellos++;
          peer.hello(100); // then never a PING: the client must give up after 2 x 100 ms + 1 s
        }
      });
    });
    const client = connect(fake.url, { reconnect: { minDelayMs: 10, maxDelayMs: 20 } });
    const changes: StateChange[] = [];
    client.on('connecting', (c) => changes.push(c));
    await client.ready();
    const started = Date.now();
    await eventually(() => changes.some((c) => c.reason === 'RF_HEARTBEAT_TIMEOUT'), {
      timeoutMs: 3000,
      what: 'heartbeat timeout',
    });
    const elapsed = Date.now() - started;
    console.log(
      `client heartbeat: silent server detected after ${elapsed} ms (bound 2 x 100 + 1000 ms, checked every 50 ms)`,
    );
    expect(elapsed).toBeLessThan(1200 + 200);
    expect(changes.find((c) => c.reason === 'RF_HEARTBEAT_TIMEOUT')).toEqual({
      code: 4000,
      reason: 'RF_HEARTBEAT_TIMEOUT',
    });
    await eventually(() => hellos >= 2 && client.state === 'connected', {
      timeoutMs: 2000,
      what: 'reconnected',
    });
    client.close();
  });

  it('reconnects when a rejoin gets no answer, keeping every room', async () => {
    // Connection 0 answers everything; connection 1 never answers the rejoin of 'b'
    // (a node that stalls); connection 2 answers everything again.
    const closeCodes: number[] = [];
    await using fake = await startFakeServer((peer) => {
      const index = fake.peers.length - 1;
      peer.ws.on('close', (code) => (closeCodes[index] = code));
      peer.ws.on('message', () => {
        const frame = peer.frames.at(-1)!;
        if (frame.type === FrameType.CONNECT) peer.hello();
        if (frame.type === FrameType.JOIN && !(index === 1 && frame.room === 'b')) {
          peer.send({ type: FrameType.ACK, id: frame.id, data: null });
        }
      });
    });
    const client = connect(fake.url, {
      ackTimeoutMs: 300,
      reconnect: { minDelayMs: 10, maxDelayMs: 20 },
    });
    const changes: StateChange[] = [];
    client.on('connecting', (c) => changes.push(c));
    const rejoined: string[] = [];
    client.on('rejoined', ({ room }) => rejoined.push(`${fake.peers.length - 1}:${room}`));
    await client.ready();
    await Promise.all([client.join('a'), client.join('b')]);
    fake.peers[0]!.ws.close(1001, 'going away');
    await eventually(() => fake.peers.length >= 3 && client.state === 'connected', {
      timeoutMs: 3000,
      what: 'third',
    });
    expect(closeCodes[1]).toBe(4003);
    expect(changes.find((c) => c.code === 4003)).toEqual({ code: 4003, reason: 'RF_ACK_TIMEOUT' });
    // Nothing was given up: no LEAVE to the stalled node, both rooms rejoined on the next.
    expect(fake.peers[1]!.frames.filter((f) => f.type === FrameType.LEAVE)).toEqual([]);
    expect([...client.rooms].sort()).toEqual(['a', 'b']);
    expect(rejoined.filter((r) => r.startsWith('2:')).sort()).toEqual(['2:a', '2:b']);
    const joins = fake.peers[2]!.frames.filter((f) => f.type === FrameType.JOIN);
    expect(joins.map((f) => (f as { room: string }).room).sort()).toEqual(['a', 'b']);
    client.close();
  });

  it('retries a rejoin refused for now (history down) on the same connection, keeping the room', async () => {
    // Connection 1 refuses the rejoin of 'h' twice with a temporary error, then accepts
    // it; it refuses 'f' for good.
    let refusals = 0;
    await using fake = await startFakeServer((peer) => {
      const index = fake.peers.length - 1;
      peer.ws.on('message', () => {
        const frame = peer.frames.at(-1)!;
        if (frame.type === FrameType.CONNECT) peer.hello();
        if (frame.type !== FrameType.JOIN) return;
        if (index === 1 && frame.room === 'h' && refusals < 2) {
          refusals++;
          peer.send({
            type: FrameType.ERROR,
            id: frame.id,
            code: 'RF_HISTORY_UNAVAILABLE',
            message: 'history down',
          });
        } else if (index === 1 && frame.room === 'f') {
          peer.send({ type: FrameType.ERROR, id: frame.id, code: 'RF_FORBIDDEN', message: 'no' });
        } else {
          peer.send({ type: FrameType.ACK, id: frame.id, data: null });
        }
      });
    });
    const client = connect(fake.url, { reconnect: { minDelayMs: 10, maxDelayMs: 40 } });
    const errors: Array<{ code: string; temporary: boolean }> = [];
    client.on('error', (err) => errors.push({ code: err.code, temporary: err.temporary }));
    const rejoined: string[] = [];
    client.on('rejoined', ({ room }) => rejoined.push(room));
    await client.ready();
    await Promise.all([client.join('h'), client.join('f')]);
    fake.peers[0]!.ws.close(1001, 'going away');
    await eventually(() => rejoined.includes('h'), {
      timeoutMs: 3000,
      what: 'h rejoined after two refusals',
    });
    expect(fake.peers.length).toBe(2); // no reconnect: retried on the same connection
    expect(errors).toEqual([
      { code: 'RF_HISTORY_UNAVAILABLE', temporary: true },
      { code: 'RF_FORBIDDEN', temporary: false },
      { code: 'RF_HISTORY_UNAVAILABLE', temporary: true },
    ]);
    expect(
      fake.peers[1]!.frames.filter((f) => f.type === FrameType.JOIN && f.room === 'h'),
    ).toHaveLength(3);
    expect([...client.rooms]).toEqual(['h']); // kept through the refusals; 'f' dropped
    expect(client.state).toBe('connected');
    client.close();
  });

  it('says which room a join timed out on', async () => {
    await using fake = await startFakeServer((peer) => {
      peer.ws.on('message', () => {
        if (peer.frames.at(-1)!.type === FrameType.CONNECT) peer.hello();
      });
    });
    const client = connect(fake.url, { ackTimeoutMs: 100, reconnect: false });
    await client.ready();
    await expect(client.join('quiet')).rejects.toMatchObject({
      code: 'RF_ACK_TIMEOUT',
      message: 'join of "quiet": no answer within 100 ms',
      details: { room: 'quiet' },
    });
    expect(client.rooms.has('quiet')).toBe(false); // all or nothing
    client.close();
  });

  it('times out a connection attempt with no HELLO and retries', async () => {
    await using fake = await startFakeServer(() => undefined);
    const client = connect(fake.url, {
      connectTimeoutMs: 100,
      reconnect: { minDelayMs: 10, maxDelayMs: 20 },
    });
    const changes: StateChange[] = [];
    client.on('connecting', (c) => changes.push(c));
    await eventually(() => fake.peers.length >= 3, { timeoutMs: 3000, what: 'retries' });
    expect(changes.some((c) => c.reason === 'RF_CONNECT_FAILED')).toBe(true);
    expect(fake.peers[0]!.frames[0]).toMatchObject({ type: FrameType.CONNECT, version: 1 });
    client.close();
    expect(client.state).toBe('disconnected');
  });

  it('bounds the offline queue and rejects everything on close()', async () => {
    await using fake = await startFakeServer(() => undefined);
    const client = connect(fake.url, { maxQueue: 2, reconnect: false });
    expect(client.emit('a', 1)).toBe(true);
    const acked = client.emitWithAck('b', 2);
    expect(client.emit('c', 3)).toBe(false);
    await expect(client.emitWithAck('d', 4)).rejects.toMatchObject({ code: 'RF_QUEUE_FULL' });
    expect(client.volatile.emit('v', 1)).toBe(false);
    const join = client.join('room');
    client.close();
    await expect(acked).rejects.toMatchObject({ code: 'RF_CLIENT_CLOSED' });
    await expect(join).rejects.toMatchObject({ code: 'RF_CLIENT_CLOSED' });
    expect(client.state).toBe('disconnected');
    expect(() => client.emit('x', 1)).not.toThrow();
    await expect(client.join('again')).rejects.toMatchObject({ code: 'RF_CLIENT_CLOSED' });
  });

  it('fails over between several URLs', async () => {
    await using t = await startTestEdge();
    const dead = 'ws://127.0.0.1:1/ws';
    const client = connect([dead, t.url], { reconnect: { minDelayMs: 10, maxDelayMs: 20 } });
    await client.ready();
    expect(client.nodeId).toBe(t.edge.nodeId);
    client.close();
  });
});
