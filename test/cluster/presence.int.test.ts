import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsBus } from '@roomfabric/bus';
import type { RoomfabricClient } from '@roomfabric/client';
import { createJsonLogger, type EdgeOptions } from '@roomfabric/edge';
import { RedisMembership } from '@roomfabric/membership';
import { FabricService } from '@roomfabric/fabric';
import { createServer, type PresenceEvent } from '@roomfabric/server';
import {
  eventually,
  signTestToken,
  startEdge,
  startNats,
  startRedis,
  TEST_JWT_SECRET,
} from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { connected, recorder } from '../support/clients.js';
import { startTestEdge } from '../support/edge.js';
import { sleep } from '../support/raw-client.js';

const PRESENCE = { rooms: ['doc:*'] };
const LEASE = { leaseIntervalMs: 250, leaseTtlMs: 1000 };

/** A token for `sub` that may join `doc:*`, with presence info. */
const token = async (sub: string, info: unknown) => ({
  token: await signTestToken(sub, { rf: { join: ['doc:*'], info } }),
});

/** `kind:user` of each event, in order. */
const kinds = (events: ReadonlyArray<{ kind: string; user: string }>) =>
  events.map((e) => `${e.kind}:${e.user}`);

describe('presence across edges on real NATS and Redis', () => {
  it('one user with tabs on several nodes is one presence; a killed node ends it through the purge', async () => {
    await using nats = await startNats();
    await using redis = await startRedis();
    const logger = createJsonLogger({ level: 'error' });
    const buses: NatsBus[] = [];
    const indexes: RedisMembership[] = [];
    /** Each in-process component gets its own NATS and Redis connections, like a process. */
    const backends = async () => {
      const bus = await NatsBus.connect({ servers: [nats.url] });
      const membership = new RedisMembership({ url: redis.url });
      buses.push(bus);
      indexes.push(membership);
      return { bus, membership };
    };
    const base = (): Promise<EdgeOptions> =>
      backends().then((b) => ({ ...b, ...LEASE, presence: PRESENCE, logger }));
    // Edge A: JWT auth (user and info from the token). Edge B: no auth; connect middleware
    // names the user from the query string, and a client without one is anonymous.
    await using a = await startTestEdge({ ...(await base()), auth: { secret: TEST_JWT_SECRET } });
    await using b = await startTestEdge({ ...(await base()), policy: 'open' });
    b.edge.use((socket, next) => {
      const { user } = socket.handshake.query as Record<string, string | undefined>;
      if (user) {
        socket.data.user = user;
        socket.data.info = { name: 'Ada' };
      }
      next();
    });
    // Edge C: a `roomfabric edge` process, to be killed.
    const dir = mkdtempSync(join(tmpdir(), 'rf-presence-'));
    writeFileSync(join(dir, 'secret'), TEST_JWT_SECRET);
    await using c = await startEdge({
      nats: nats.url,
      redis: redis.url,
      args: [
        // The CLI passes `closed` to the edge without --policy, and then no grant can join.
        '--policy',
        'open',
        '--jwt-secret-file',
        join(dir, 'secret'),
        '--lease-interval-ms',
        '250',
        '--lease-ttl-ms',
        '1000',
      ],
      timeoutMs: 20_000,
    });
    // The membership service purges dead nodes; with the same presence rooms as the edges.
    const service = new FabricService({
      ...(await backends()),
      logger,
      leaseCheckMs: 100,
      presence: PRESENCE,
    });
    await service.start();
    const server = await createServer({ nats: nats.url, redis: redis.url });
    const heard: PresenceEvent[] = [];
    const stop = await server.onPresence((e) => heard.push(e), { room: 'doc:1' });
    const everywhere: PresenceEvent[] = [];
    const stopAll = await server.onPresence((e) => everywhere.push(e));
    const clients: RoomfabricClient[] = [];
    try {
      // An anonymous observer on B: a member, counted in sockets, not in users.
      const observer = await recorder(b.url, ['$presence']);
      clients.push(observer.client);
      await observer.client.join('doc:1');
      const users = async () => new Set((await server.presence('doc:1')).map((m) => m.user));
      expect(await server.presenceStats('doc:1')).toEqual({ sockets: 1, users: 0 });
      expect(await users()).toEqual(new Set());

      // Ada: two tabs on A (token), one on B (middleware), all joining at once.
      const tabs = await Promise.all([
        connected(a.url, { auth: await token('ada', { name: 'Ada' }) }),
        connected(a.url, { auth: await token('ada', { name: 'Ada' }) }),
        connected(`${b.url}?user=ada`),
      ]);
      clients.push(...tabs);
      await Promise.all(tabs.map((t) => t.join('doc:1')));
      await eventually(() => observer.of('$presence').length > 0, {
        timeoutMs: 3000,
        what: '$presence join',
      });
      await sleep(300); // room for a duplicate to show up
      expect(observer.of('$presence')).toEqual([
        { kind: 'join', user: 'ada', info: { name: 'Ada' } },
      ]);
      expect(kinds(heard)).toEqual(['join:ada']);
      expect(heard[0]).toMatchObject({ room: 'doc:1', data: { user: 'ada' } });
      expect(await server.presenceStats('doc:1')).toEqual({ sockets: 4, users: 1 });
      expect(await users()).toEqual(new Set(['ada']));
      expect(await server.presence('doc:1')).toHaveLength(3);
      // Signing in is presence in the user's personal room too: online anywhere.
      expect(kinds(everywhere.filter((e) => e.room === '$user:ada'))).toEqual(['join:ada']);

      // Every tab closes: exactly one leave.
      for (const t of tabs) t.close();
      await eventually(() => observer.of('$presence').length > 1, {
        timeoutMs: 3000,
        what: '$presence leave',
      });
      await sleep(300);
      expect(observer.of('$presence')).toEqual([
        { kind: 'join', user: 'ada', info: { name: 'Ada' } },
        { kind: 'leave', user: 'ada', info: { name: 'Ada' } },
      ]);
      expect(kinds(heard)).toEqual(['join:ada', 'leave:ada']);
      expect(await server.presenceStats('doc:1')).toEqual({ sockets: 1, users: 0 });

      // Ada again, on A and on the process C. She closes A's tab: still present.
      const onA = await connected(a.url, { auth: await token('ada', { name: 'Ada' }) });
      const onC = await connected(c.url, { auth: await token('ada', { name: 'Ada' }) });
      clients.push(onA, onC);
      await onA.join('doc:1');
      await onC.join('doc:1');
      await eventually(() => heard.length === 3, { timeoutMs: 3000, what: 'second join' });
      onA.close();
      await sleep(300);
      expect(kinds(heard)).toEqual(['join:ada', 'leave:ada', 'join:ada']);
      expect(await server.presenceStats('doc:1')).toEqual({ sockets: 2, users: 1 });

      // C dies (kill -9) holding her last tab: the purge of C's sockets is her leave.
      const killed = Date.now();
      await c.kill('SIGKILL');
      await eventually(() => heard.length === 4, { timeoutMs: 6000, what: 'leave by the purge' });
      const purgeMs = Date.now() - killed;
      await eventually(() => observer.of('$presence').length === 4, {
        timeoutMs: 3000,
        what: '$presence leave',
      });
      expect(kinds(heard)).toEqual(['join:ada', 'leave:ada', 'join:ada', 'leave:ada']);
      expect(observer.of('$presence').slice(2)).toEqual([
        { kind: 'join', user: 'ada', info: { name: 'Ada' } },
        { kind: 'leave', user: 'ada', info: { name: 'Ada' } },
      ]);
      expect(await server.presenceStats('doc:1')).toEqual({ sockets: 1, users: 0 });
      console.log(`presence: kill -9 of the node with the last tab -> leave after ${purgeMs} ms`);
    } finally {
      for (const client of clients) client.close();
      stop();
      stopAll();
      await server.close();
      await service.close();
      await a.edge.close();
      await b.edge.close();
      for (const bus of buses) await bus.close();
      for (const index of indexes) await index.close();
    }
  }, 60_000);
});
