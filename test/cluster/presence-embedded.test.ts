import { connect } from '@roomfabric/client';
import { MemoryBus } from '@roomfabric/bus';
import { MemoryMembership } from '@roomfabric/membership';
import { createServer, type PresenceEvent } from '@roomfabric/server';
import { describe, expect, it } from 'vitest';
import { eventually, signTestToken, TEST_JWT_SECRET } from '@roomfabric/testkit';
import { connected, recorder } from '../support/clients.js';
import { startTestEdge } from '../support/edge.js';

/** A token for `sub` that may join `doc:*`, with presence info. */
const token = (sub: string, info: unknown) => signTestToken(sub, { rf: { join: ['doc:*'], info } });

const settle = () => new Promise((r) => setTimeout(r, 150));

describe('presence in embedded mode (MemoryBus + MemoryMembership)', () => {
  it('one $presence join and one leave per user, whatever the tabs; middleware sets the user', async () => {
    const bus = new MemoryBus();
    const membership = new MemoryMembership();
    await using t = await startTestEdge({
      bus,
      membership,
      policy: 'open',
      presence: { rooms: ['doc:*'] },
    });
    // Connect middleware may name the user and their info (here from the query string).
    t.edge.use((socket, next) => {
      const { user, name } = socket.handshake.query as Record<string, string | undefined>;
      if (user) socket.data.user = user;
      if (name) socket.data.info = { name };
      next();
    });
    const server = await createServer({ bus, membership });
    const heard: PresenceEvent[] = [];
    const stop = await server.onPresence((e) => heard.push(e), { room: 'doc:1' });
    const observer = await recorder(t.url, ['$presence']); // anonymous
    try {
      await observer.client.join('doc:1');
      await observer.client.join('plain'); // not a presence room
      const tabs = await Promise.all([1, 2, 3].map(() => connected(`${t.url}?user=ada&name=Ada`)));
      await Promise.all(tabs.map((c) => c.join('doc:1')));
      await Promise.all(tabs.map((c) => c.join('plain')));
      await eventually(() => observer.of('$presence').length > 0, {
        timeoutMs: 2000,
        what: '$presence join',
      });
      await settle();
      expect(observer.of('$presence')).toEqual([
        { kind: 'join', user: 'ada', info: { name: 'Ada' } },
      ]);
      expect(observer.got.every((g) => g.room === 'doc:1')).toBe(true);
      expect(heard.map((e) => `${e.kind}:${e.user}`)).toEqual(['join:ada']);
      expect(await server.presenceStats('doc:1')).toEqual({ sockets: 4, users: 1 });
      const listed = await server.presence('doc:1');
      expect(listed).toHaveLength(3);
      expect(new Set(listed.map((m) => m.user))).toEqual(new Set(['ada']));

      tabs[0]!.close();
      await tabs[1]!.leave('doc:1');
      await settle();
      expect(observer.of('$presence')).toHaveLength(1);
      tabs[2]!.close();
      await eventually(() => observer.of('$presence').length === 2, {
        timeoutMs: 2000,
        what: '$presence leave',
      });
      await settle();
      expect(observer.of('$presence')[1]).toEqual({
        kind: 'leave',
        user: 'ada',
        info: { name: 'Ada' },
      });
      expect(heard.map((e) => `${e.kind}:${e.user}`)).toEqual(['join:ada', 'leave:ada']);
      expect(await server.presenceStats('doc:1')).toEqual({ sockets: 1, users: 0 });
      tabs[1]!.close();
    } finally {
      stop();
      observer.client.close();
      await server.close();
    }
  });

  it('a raid moves presence: members of the target hear each new user once', async () => {
    await using t = await startTestEdge({ policy: 'open', presence: { rooms: ['doc:*'] } });
    t.edge.use((socket, next) => {
      const { user } = socket.handshake.query as Record<string, string | undefined>;
      if (user) socket.data.user = user;
      next();
    });
    const observer = await recorder(t.url, ['$presence']);
    await observer.client.join('doc:2');
    const [ada1, ada2, bob] = await Promise.all([
      connected(`${t.url}?user=ada`),
      connected(`${t.url}?user=ada`),
      connected(`${t.url}?user=bob`),
    ]);
    await Promise.all([ada1!.join('doc:1'), ada2!.join('doc:1'), bob!.join('doc:1')]);
    await bob!.join('doc:2');
    await eventually(() => observer.of('$presence').length === 1, { timeoutMs: 2000, what: 'bob' });
    const report = await t.edge.raid('doc:1', 'doc:2');
    expect(report.moved).toBe(3);
    await eventually(() => observer.of('$presence').length === 2, {
      timeoutMs: 2000,
      what: 'ada by the raid',
    });
    await settle();
    expect(observer.of('$presence')).toEqual([
      { kind: 'join', user: 'bob', info: null },
      { kind: 'join', user: 'ada', info: null },
    ]);
    for (const c of [ada1!, ada2!, bob!, observer.client]) c.close();
  });

  it('takes presence info from the token, and refuses an oversized one', async () => {
    await using t = await startTestEdge({
      auth: { secret: TEST_JWT_SECRET, maxInfoBytes: 64 },
      presence: { rooms: ['doc:*'] },
    });
    const observer = await recorder(t.url, ['$presence'], {
      auth: { token: await token('obs', null) },
    });
    await observer.client.join('doc:7');
    const ada = await connected(t.url, { auth: { token: await token('ada', { name: 'Ada' }) } });
    await ada.join('doc:7');
    await eventually(() => observer.of('$presence').length > 1, { timeoutMs: 2000, what: 'joins' });
    expect(observer.of('$presence')).toEqual([
      { kind: 'join', user: 'obs', info: null },
      { kind: 'join', user: 'ada', info: { name: 'Ada' } },
    ]);

    const big = connect(t.url, {
      auth: { token: await token('bob', { bio: 'x'.repeat(100) }) },
      reconnect: { maxAttempts: 1 },
    });
    await expect(big.ready()).rejects.toMatchObject({ code: 'RF_TOKEN_INFO_TOO_LARGE' });
    big.close();
    ada.close();
    observer.client.close();
  });
});
