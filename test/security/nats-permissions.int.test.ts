/*
 * NATS access is trusted (docs/security.md): whoever may publish on rf.room.*, rf.all or
 * rf.node.* can broadcast to any room and steer any socket. docker/nats.conf gives each
 * role of the fabric a NATS user with only what it needs. This suite runs a real
 * nats-server with THAT FILE (only its ports and JetStream dir overridden by flags), a
 * real Redis, two `roomfabric edge` processes, a `roomfabric membership` process and a
 * `createServer` backend, each with its own user given in its NATS URL, and shows:
 *
 * - every fabric feature works with those rights: broadcasts across edges and from the
 *   backend, room events, history recovery, channels, a raid; and the server logged no
 *   permissions violation for them;
 * - the monitoring user (ops) may watch the traffic and read JetStream state, but every
 *   injection it tries (a broadcast, a kick, a raid commit, a raid request, deleting a
 *   history stream, writing a channel subscription) is refused by the server, and no
 *   client sees any of it; the same forged broadcast from a user with rights does arrive;
 * - each role is bounded too, and a connection without credentials is refused.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode } from '@msgpack/msgpack';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  connect as natsConnect,
  type NatsConnection,
  type PermissionViolationError,
} from '@nats-io/transport-node';
import type { RoomfabricClient } from '@roomfabric/client';
import { BusMessageType, ControlOp, encodeBusMessage, Subject } from '@roomfabric/protocol';
import { NatsBus } from '@roomfabric/bus';
import { createServer } from '@roomfabric/server';
import {
  eventually,
  signTestToken,
  startEdge,
  startMembership,
  startNats,
  startRedis,
  TEST_JWT_SECRET,
} from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { connected } from '../support/clients.js';
import { sleep } from '../support/raw-client.js';

const CONFIG = fileURLToPath(new URL('../../docker/nats.conf', import.meta.url));
const HISTORY = 'chat:*';

/** Each role's user in docker/nats.conf, and the variable its password comes from. */
const ROLES = {
  edge: 'RF_NATS_EDGE_PASSWORD',
  membership: 'RF_NATS_MEMBERSHIP_PASSWORD',
  server: 'RF_NATS_SERVER_PASSWORD',
  ops: 'RF_NATS_OPS_PASSWORD',
} as const;
type Role = keyof typeof ROLES;

const token = (sub: string) =>
  signTestToken(sub, {
    rf: { join: ['lobby', 'chat:*', 'raid:*'], publish: ['lobby', 'chat:*', 'raid:*'] },
  });

/** The permissions violations the server reported on one raw NATS connection. */
interface Raw extends AsyncDisposable {
  nc: NatsConnection;
  violations: PermissionViolationError[];
  /** Resolves with the violation for `subject` once the server reported it (or undefined). */
  refused(subject: string, timeoutMs?: number): Promise<PermissionViolationError | undefined>;
}

async function raw(url: string, user?: Role, pass?: string): Promise<Raw> {
  const nc = await natsConnect({
    servers: url,
    ...(user && { user, pass }),
    reconnect: false,
    timeout: 3000,
  });
  const violations: PermissionViolationError[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error' && s.error.name === 'PermissionViolationError') {
        violations.push(s.error as PermissionViolationError);
      }
    }
  })();
  return {
    nc,
    violations,
    async refused(subject, timeoutMs = 2000) {
      const found = () => violations.find((v) => v.subject === subject);
      await eventually(() => found() !== undefined, { timeoutMs, soft: true });
      return found();
    },
    [Symbol.asyncDispose]: () => nc.close(),
  };
}

/** Whether publishing `payload` on `subject` as this connection is refused by the server. */
async function publishRefused(r: Raw, subject: string, payload: Uint8Array = new Uint8Array()) {
  r.nc.publish(subject, payload);
  await r.nc.flush();
  return (await r.refused(subject)) !== undefined;
}

/** Whether subscribing to `subject` (in `queue`) as this connection is refused. */
async function subscribeRefused(r: Raw, subject: string, queue?: string) {
  const sub = r.nc.subscribe(subject, queue === undefined ? {} : { queue });
  await r.nc.flush();
  const refused = (await r.refused(subject, 1000)) !== undefined;
  if (!sub.isClosed()) sub.unsubscribe();
  return refused;
}

/** Lines of the server's log that report a permissions violation. */
const violationLines = (log: string) =>
  log.split('\n').filter((l) => /Violation/i.test(l) && !/Authorization Violation/.test(l));

describe('NATS permissions of docker/nats.conf', () => {
  it('lets every role do its work and nothing else; a rogue publisher injects nothing', async () => {
    const passwords = Object.fromEntries(
      Object.keys(ROLES).map((role) => [role, `p${randomBytes(12).toString('hex')}`]),
    ) as Record<Role, string>;
    const saved = Object.values(ROLES).map((name) => [name, process.env[name]] as const);
    for (const [role, name] of Object.entries(ROLES)) process.env[name] = passwords[role as Role];
    const dir = mkdtempSync(join(tmpdir(), 'rf-nats-perms-'));
    const clients: RoomfabricClient[] = [];
    try {
      writeFileSync(join(dir, 'secret'), TEST_JWT_SECRET);
      // The committed file as is: flags only move its ports and its JetStream store.
      await using nats = await startNats({ jetstream: true, args: ['-c', CONFIG] });
      await using redis = await startRedis();
      const as = (role: Role) => nats.url.replace('nats://', `nats://${role}:${passwords[role]}@`);
      const edgeArgs = [
        '--jwt-secret-file',
        join(dir, 'secret'),
        '--history',
        HISTORY,
        '--channels',
        '--demo', // its raid event: a raid asked by an edge
      ];
      // The fabric's own NATS client must send the credentials of its URL, or every process
      // below is refused (nats.js itself ignores them: packages/bus/src/connect-nats.ts).
      const probe = await NatsBus.connect({ servers: as('edge'), connectTimeoutMs: 0 }).then(
        async (bus) => {
          await bus.close();
          return 'connected';
        },
        (err: Error) => `${err.message}: ${(err.cause as Error | undefined)?.message}`,
      );
      expect(
        probe,
        'NatsBus.connect must authenticate with the user and password of a nats://user:pass@host URL ' +
          '(nats.js ignores them there: connectNats in packages/bus/src/connect-nats.ts must pass them as user/pass)',
      ).toBe('connected');
      console.log(
        `nats-server ${nats.url} with ${CONFIG}; NatsBus.connect with nats://edge:***@... ${probe}`,
      );

      // The backend first: it creates the history stream (the edges create the channel bucket).
      const rf = await createServer({
        nats: as('server'),
        redis: redis.url,
        history: [{ rooms: [HISTORY] }],
      });
      try {
        await using membership = await startMembership({
          nats: as('membership'),
          redis: redis.url,
        });
        await using e1 = await startEdge({
          nats: as('edge'),
          redis: redis.url,
          nodeId: 'e1',
          args: edgeArgs,
        });
        await using e2 = await startEdge({
          nats: as('edge'),
          redis: redis.url,
          nodeId: 'e2',
          args: edgeArgs,
        });
        expect(membership.running).toBe(true);
        await using ops = await raw(nats.url, 'ops', passwords.ops);
        // Disposed first: clients close before their edges stop.
        await using _clients = {
          [Symbol.asyncDispose]: async () => {
            for (const c of clients) c.close();
          },
        };
        const client = async (url: string, user: string) => {
          const c = await connected(url, {
            auth: async () => ({ token: await token(user) }),
            reconnect: { minDelayMs: 20, maxDelayMs: 100 },
          });
          clients.push(c);
          return c;
        };
        const got = (c: RoomfabricClient, event: string) => {
          const seen: unknown[] = [];
          c.on(event, (data) => seen.push(data));
          return seen;
        };

        // 1. Broadcasts: edge 2 -> edge 1, and the backend -> edge 1. The ops user watches.
        const watched: string[] = [];
        ops.nc.subscribe('rf.room.>', {
          callback: (_err, msg) => {
            watched.push(msg.subject);
          },
        });
        await ops.nc.flush();
        const roomEvents: string[] = [];
        await rf.onRoomEvent(({ room, kind }) => roomEvents.push(`${kind} ${room}`));
        const ada = await client(e1.url, 'ada');
        const bob = await client(e2.url, 'bob');
        const adaChat = got(ada, 'chat');
        await ada.join('lobby');
        await bob.join('lobby');
        await bob.to('lobby').emitWithAck('chat', 'from bob on e2');
        await expect.poll(() => adaChat).toEqual(['from bob on e2']);
        await rf.to('lobby').emit('chat', 'from the backend');
        await rf.emit('chat', 'from the backend to everyone');
        await expect
          .poll(() => adaChat)
          .toEqual(['from bob on e2', 'from the backend', 'from the backend to everyone']);
        await expect.poll(() => roomEvents).toContain('occupied lobby');
        expect(watched).toContain('rf.room.lobby');
        console.log(
          `broadcasts: ada on e1 got ${JSON.stringify(adaChat)}; backend heard ${JSON.stringify(roomEvents)}; ops watched ${watched.length} rf.room messages`,
        );

        // 2. History: ada's edge dies; what bob sends meanwhile is replayed when she is back.
        const adaHist = got(ada, 'edit');
        const rejoins: Array<{ room: string; recovered: boolean | null; missed: number }> = [];
        ada.on('rejoined', (r) => rejoins.push(r));
        await ada.join('chat:1');
        await bob.join('chat:1');
        await bob.to('chat:1').emitWithAck('edit', 'e0');
        await expect.poll(() => adaHist).toEqual(['e0']);
        await e1.kill('SIGKILL');
        for (let i = 1; i <= 3; i++) await bob.to('chat:1').emitWithAck('edit', `e${i}`);
        await rf.to('chat:1').emit('edit', 'e4');
        await e1.restart();
        await expect
          .poll(() => rejoins.find((r) => r.room === 'chat:1'), { timeout: 10_000 })
          .toEqual({ room: 'chat:1', recovered: true, missed: 4 });
        await expect.poll(() => adaHist).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
        console.log(
          `history: ada rejoined chat:1 with ${JSON.stringify(rejoins.find((r) => r.room === 'chat:1'))}, events ${adaHist.join(',')}`,
        );

        // 3. Channels: subscribed while offline (auto-joined on connect, read by the edge),
        // and live (the backend asks the user's edge).
        await rf.channels.create('general');
        await rf.channels.subscribe('cleo', 'general');
        const cleo = await client(e2.url, 'cleo');
        const cleoNews = got(cleo, 'news');
        const adaNews = got(ada, 'news');
        await rf.channels.subscribe('ada', 'general');
        await rf.channel('general').emit('news', 'hello general');
        await expect.poll(() => cleoNews).toEqual(['hello general']);
        await expect.poll(() => adaNews).toEqual(['hello general']);
        expect(await rf.channels.subscribers('general')).toEqual(['ada', 'cleo']);
        await rf.channels.unsubscribe('ada', 'general');
        expect(await rf.channels.subscribers('general')).toEqual(['cleo']);
        await rf.channel('general').emit('news', 'ada is gone');
        await expect.poll(() => cleoNews).toEqual(['hello general', 'ada is gone']);
        expect(adaNews).toEqual(['hello general']);
        console.log(
          `channels: cleo (on connect) and ada (live) got ${JSON.stringify(adaNews)}; after ada's unsubscribe only cleo got the next`,
        );

        // 4. A raid, run by the membership service, across both edges.
        const moved: string[] = [];
        for (const c of [ada, bob]) c.on('moved', ({ from, to }) => moved.push(`${from}->${to}`));
        await ada.join('raid:from');
        await bob.join('raid:from');
        const report = await rf.raid('raid:from', 'raid:to');
        expect(report.moved).toBe(2);
        await expect.poll(() => moved).toEqual(['raid:from->raid:to', 'raid:from->raid:to']);
        expect(await rf.count('raid:to')).toBe(2);
        // The demo's raid: asked by ada's edge (e1), not by the backend.
        const asked = (await ada.emitWithAck('raid', { from: 'raid:to', to: 'raid:next' })) as {
          moved: number;
        };
        expect(asked.moved).toBe(2);
        await expect.poll(() => moved).toHaveLength(4);
        expect(await rf.count('raid:next')).toBe(2);
        console.log(
          `raids: the backend's moved ${report.moved} sockets over ${report.nodes} nodes, the edge's (demo) ${asked.moved}; clients told ${moved.join(', ')}`,
        );

        const fabricViolations = violationLines(nats.output());
        expect(fabricViolations, fabricViolations.join('\n')).toEqual([]);
        console.log('fabric roles: the server logged no permissions violation');

        // 5. The ops user reads JetStream state, but every injection is refused.
        const jsm = await jetstreamManager(ops.nc);
        const streams = (await jsm.streams.names().next()).sort();
        expect(streams).toEqual(expect.arrayContaining(['KV_rf_channels']));
        const history = streams.find((s) => s.startsWith('RF_HISTORY_'))!;
        expect(history).toBeDefined();
        const stored = (await jsm.streams.info(history)).state.messages;
        expect(stored).toBeGreaterThanOrEqual(5);
        const injected = got(ada, 'injected');
        const adaStates: string[] = [];
        ada.on('state', (state) => adaStates.push(state));
        const socket = (await rf.in('lobby').fetchSockets()).find((s) => s.nodeId === 'e1')!;
        const fake = {
          broadcast: encodeBusMessage({
            type: BusMessageType.BROADCAST,
            rooms: ['lobby'],
            except: [],
            exceptSocket: null,
            flags: 0,
            event: 'injected',
            data: encode('a fake broadcast'),
          }),
          kick: encodeBusMessage({
            type: BusMessageType.CONTROL,
            op: ControlOp.DISCONNECT,
            sockets: [socket.id],
            rooms: [],
            event: '',
            data: new Uint8Array(),
          }),
          moved: encodeBusMessage({
            type: BusMessageType.RAID_COMMIT,
            raidId: 'forged',
            from: 'lobby',
            to: 'elsewhere',
            node: 'e1',
            part: 0,
            parts: 1,
            sockets: [socket.id],
          }),
          raid: encodeBusMessage({
            type: BusMessageType.RAID_REQUEST,
            raidId: 'forged',
            from: 'lobby',
            to: 'elsewhere',
          }),
        };
        const attempts: Array<[string, string, Uint8Array?]> = [
          ['a broadcast to a room', Subject.room('lobby'), fake.broadcast],
          ['a broadcast to everyone', Subject.all, fake.broadcast],
          ['a kick to a node', Subject.node('e1'), fake.kick],
          ['a raid commit (moved)', Subject.room('lobby'), fake.moved],
          ['a raid request', Subject.raid, fake.raid],
          ['a fake room event', Subject.roomEvents],
          ['a history append', `rf.hist.x.lobby`],
          ['deleting a history stream', `$JS.API.STREAM.DELETE.${history}`],
          ['purging the channel bucket', '$JS.API.STREAM.PURGE.KV_rf_channels'],
          ['writing a channel subscription', '$KV.rf_channels.u.mallory'],
        ];
        for (const [what, subject, payload] of attempts) {
          expect(await publishRefused(ops, subject, payload), `ops: ${what} on ${subject}`).toBe(
            true,
          );
        }
        await rf.to('lobby').emit('chat', 'after the injections');
        await expect.poll(() => adaChat).toContain('after the injections');
        await sleep(200);
        expect(injected).toEqual([]);
        expect(adaStates).toEqual([]);
        expect(ada.rooms).toContain('lobby');
        console.log(
          `ops (read-only): read the streams ${streams.join(', ')} (${history}: ${stored} entries); refused: ${attempts
            .map(([what, subject]) => `${what} (${subject})`)
            .join('; ')}; ada stayed connected in lobby and got none of it`,
        );

        // The same forged broadcast from a user with rights does reach ada: NATS access is
        // trusted, the fabric cannot tell who sent a well-formed message.
        await using trusted = await raw(nats.url, 'server', passwords.server);
        trusted.nc.publish(Subject.room('lobby'), fake.broadcast);
        await trusted.nc.flush();
        await expect.poll(() => injected).toEqual(['a fake broadcast']);
        console.log('control: the same forged broadcast published as the server user reached ada');

        // 6. Each role is bounded, and nobody gets in without credentials.
        await using edge = await raw(nats.url, 'edge', passwords.edge);
        await using member = await raw(nats.url, 'membership', passwords.membership);
        await using server = await raw(nats.url, 'server', passwords.server);
        const bounds: Array<[string, boolean]> = [
          [
            'edge may not delete a history stream',
            await publishRefused(edge, `$JS.API.STREAM.DELETE.${history}`),
          ],
          ['edge may not write channels', await publishRefused(edge, '$KV.rf_channels.u.mallory')],
          [
            'edge may not purge the channel bucket',
            await publishRefused(edge, '$JS.API.STREAM.PURGE.KV_rf_channels'),
          ],
          ['edge may not take raid requests', await subscribeRefused(edge, Subject.raid)],
          [
            'membership may take raid requests only in its queue group',
            await subscribeRefused(member, Subject.raid, 'other-group'),
          ],
          ['membership may not use JetStream', await publishRefused(member, '$JS.API.INFO')],
          ['server may not fake events', await publishRefused(server, Subject.roomEvents)],
          ['server may not listen to nodes', await subscribeRefused(server, Subject.node('e1'))],
        ];
        for (const [what, refused] of bounds) expect(refused, what).toBe(true);
        const anonymous = await raw(nats.url).then(
          async (r) => {
            await r.nc.close();
            return 'connected';
          },
          (err: Error) => `${err.name}: ${err.message}`,
        );
        expect(anonymous).toMatch(/Authorization Violation/i);
        const wrong = await raw(nats.url, 'edge', 'not-the-password').then(
          async (r) => {
            await r.nc.close();
            return 'connected';
          },
          (err: Error) => `${err.name}: ${err.message}`,
        );
        expect(wrong).toMatch(/Authorization Violation/i);
        console.log(
          `bounded: ${bounds.map(([what]) => what).join('; ')}; without credentials: ${anonymous}; wrong password: ${wrong}`,
        );
      } finally {
        await rf.close();
      }
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
