import { startNats, startNatsCluster } from '@roomfabric/testkit';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { busContract } from './bus.contract.js';
import type { BusStatus } from './bus.js';
import { NatsBus } from './nats-bus.js';

type Nats = Awaited<ReturnType<typeof startNats>>;

const text = (p: Uint8Array) => Buffer.from(p).toString();
const fast = { reconnectTimeWaitMs: 100 };

let shared: Nats;
beforeAll(async () => {
  shared = await startNats();
});
afterAll(async () => {
  await shared?.[Symbol.asyncDispose]();
});

// Two nodes: two connections to the same server.
busContract('NatsBus', async () => {
  const a = await NatsBus.connect({ servers: shared.url, name: 'node-a' });
  const b = await NatsBus.connect({ servers: shared.url, name: 'node-b' });
  return {
    a,
    b,
    dispose: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
});

describe('NatsBus against real servers', () => {
  it('reconnects after a restart on the same port; earlier subscriptions receive again', async () => {
    await using nats = await startNats();
    const bus = await NatsBus.connect({ servers: nats.url, ...fast });
    const statuses: BusStatus[] = [];
    bus.onStatus((s) => statuses.push(s));
    const got: string[] = [];
    await bus.subscribe('rf.room.k', (p) => got.push(text(p)));

    await nats.kill();
    await expect.poll(() => bus.status).toBe('reconnecting');
    await nats.restart();
    await expect.poll(() => bus.status, { timeout: 10_000 }).toBe('connected');
    await bus.flush(); // the server has the restored SUB once its PONG comes back

    const other = await NatsBus.connect({ servers: nats.url });
    try {
      await other.publish('rf.room.k', Buffer.from('after restart'));
      await expect.poll(() => got).toEqual(['after restart']);
      expect(statuses).toEqual(['reconnecting', 'connected']);
    } finally {
      await Promise.all([bus.close(), other.close()]);
    }
  });

  it('fails over to another cluster member when its server dies', async () => {
    await using cluster = await startNatsCluster(3);
    const [s1, , s3] = cluster.servers;
    const bus = await NatsBus.connect({ servers: cluster.urls, noRandomize: true, ...fast });
    const publisher = await NatsBus.connect({ servers: cluster.urls[2]!, noRandomize: true });
    const statuses: BusStatus[] = [];
    let connectedAt = 0;
    bus.onStatus((s) => {
      statuses.push(s);
      if (s === 'connected') connectedAt = performance.now();
    });
    try {
      expect(bus.server).toMatch(new RegExp(`:${s1!.port}$`));
      expect(publisher.server).toMatch(new RegExp(`:${s3!.port}$`));
      const got: string[] = [];
      let firstAt = 0;
      await bus.subscribe('rf.room.c', (p) => {
        if (got.push(text(p)) === 1) firstAt = performance.now();
      });
      // Interest reaches server 3 over the route asynchronously: publish until it arrives.
      await publishUntil(publisher, 'rf.room.c', 'before', () => got.length > 0);

      await sleep(300); // a link older than reconnectTimeWaitMs, as in production
      got.length = 0;
      const killedAt = performance.now();
      await s1!.kill();
      // Publish from server 3 right away; the first message that arrives times the failover.
      await publishUntil(publisher, 'rf.room.c', 'after', () => got.length > 0);
      await expect.poll(() => statuses).toEqual(['reconnecting', 'connected']);
      const linkMs = connectedAt - killedAt;
      expect(bus.server).not.toMatch(new RegExp(`:${s1!.port}$`));
      const deliveryMs = firstAt - killedAt;
      console.log(
        `NatsBus failover: link restored ${linkMs.toFixed(0)} ms after the kill, ` +
          `first message via server 3 after ${deliveryMs.toFixed(0)} ms`,
      );
      expect(got[0]).toMatch(/^after/);
    } finally {
      await Promise.all([bus.close(), publisher.close()]);
    }
  });

  it('leaves a frozen server within the ping timeout, not after a dial timeout', async (ctx) => {
    await using cluster = await startNatsCluster(3);
    const s1 = cluster.servers[0]!;
    if (s1.pid === undefined) return ctx.skip(); // container runtime: no pid to SIGSTOP
    const bus = await NatsBus.connect({
      servers: cluster.urls,
      noRandomize: true,
      pingIntervalMs: 200,
      ...fast,
    });
    const publisher = await NatsBus.connect({ servers: cluster.urls[2]!, noRandomize: true });
    const statuses: BusStatus[] = [];
    let connectedAt = 0;
    bus.onStatus((s) => {
      statuses.push(s);
      if (s === 'connected') connectedAt = performance.now();
    });
    const got: string[] = [];
    try {
      await bus.subscribe('rf.room.f', (p) => got.push(text(p)));
      await publishUntil(publisher, 'rf.room.f', 'before', () => got.length > 0);
      await sleep(300);
      // SIGSTOP: the socket stays open and the kernel still accepts connections, but the
      // server never answers, like a machine that hangs or drops off the network.
      process.kill(s1.pid, 'SIGSTOP');
      const frozenAt = performance.now();
      await expect.poll(() => statuses, { timeout: 10_000 }).toEqual(['reconnecting', 'connected']);
      const linkMs = connectedAt - frozenAt;
      got.length = 0;
      await publishUntil(publisher, 'rf.room.f', 'after', () => got.length > 0);
      console.log(
        `NatsBus off a frozen server: link restored ${linkMs.toFixed(0)} ms after SIGSTOP`,
      );
      // Pings find the dead link in 2-3 intervals; redialling the frozen server first would
      // add the 5 s dial timeout.
      expect(linkMs).toBeLessThan(2_500);
    } finally {
      process.kill(s1.pid, 'SIGCONT');
      await Promise.all([bus.close(), publisher.close()]);
    }
  });

  it('holds publishes while disconnected up to maxPendingBytes and sends them first on reconnect', async () => {
    await using nats = await startNats();
    const bus = await NatsBus.connect({ servers: nats.url, maxPendingBytes: 1024, ...fast });
    const strict = await NatsBus.connect({ servers: nats.url, maxPendingBytes: 0, ...fast });
    try {
      const got: string[] = [];
      await bus.subscribe('rf.room.h', (p) => got.push(text(p).slice(0, 6)));

      await nats.kill();
      await expect
        .poll(() => [bus.status, strict.status])
        .toEqual(['reconnecting', 'reconnecting']);
      const unavailable = { code: 'RF_BUS_UNAVAILABLE', temporary: true };
      await bus.publish('rf.room.h', Buffer.from('held-1'.padEnd(600)));
      await expect(
        bus.publish('rf.room.h', Buffer.from('held-2'.padEnd(600))),
      ).rejects.toMatchObject(unavailable);
      await expect(strict.publish('rf.room.h', Buffer.from('x'))).rejects.toMatchObject(
        unavailable,
      );
      await expect(bus.subscribe('rf.room.z', () => undefined)).rejects.toMatchObject(unavailable);
      await expect(bus.request('rf.room.z', Buffer.from('x'))).rejects.toMatchObject(unavailable);
      await expect(bus.flush()).rejects.toMatchObject(unavailable);

      await nats.restart();
      await expect.poll(() => bus.status, { timeout: 10_000 }).toBe('connected');
      await bus.publish('rf.room.h', Buffer.from('live-1'));
      await expect.poll(() => got).toEqual(['held-1', 'live-1']);
    } finally {
      await Promise.all([bus.close(), strict.close()]);
    }
  });

  it('rejects connect when no server answers in time, or the options are invalid', async () => {
    // Port 1 on loopback refuses connections; no server is involved.
    const started = performance.now();
    await expect(
      NatsBus.connect({ servers: 'nats://127.0.0.1:1', connectTimeoutMs: 300, ...fast }),
    ).rejects.toMatchObject({ code: 'RF_BUS_UNAVAILABLE', temporary: true });
    expect(performance.now() - started).toBeLessThan(5_000);
    const invalid = { code: 'RF_INVALID_ARGUMENT' };
    await expect(NatsBus.connect({ servers: [] })).rejects.toMatchObject(invalid);
    await expect(
      NatsBus.connect({ servers: shared.url, maxPendingBytes: -1 }),
    ).rejects.toMatchObject(invalid);
  });

  it('keeps delivering to other subscriptions when a handler throws', async () => {
    const errors: unknown[] = [];
    const bus = await NatsBus.connect({
      servers: shared.url,
      onHandlerError: (e) => errors.push(e),
    });
    try {
      const got: string[] = [];
      await bus.subscribe('rf.room.t', () => {
        throw new Error('boom');
      });
      await bus.subscribe('rf.room.t', (p) => got.push(text(p)));
      await bus.publish('rf.room.t', Buffer.from('1'));
      await bus.publish('rf.room.t', Buffer.from('2'));
      await expect.poll(() => got).toEqual(['1', '2']);
      expect(errors).toHaveLength(2);
    } finally {
      await bus.close();
    }
  });

  it('confirms the subscriptions of one turn with one flush, each live when it resolves', async () => {
    const bus = await NatsBus.connect({ servers: shared.url });
    const other = await NatsBus.connect({ servers: shared.url });
    try {
      const flushes = vi.spyOn(bus.nc, 'flush');
      const got = new Set<string>();
      const subjects = Array.from({ length: 200 }, (_, i) => `rf.room.turn${i}`);
      await Promise.all(subjects.map((s) => bus.subscribe(s, () => got.add(s))));
      expect(flushes).toHaveBeenCalledTimes(1);
      // Each subscription was at the server when it resolved: no message is lost.
      for (const s of subjects) await other.publish(s, Buffer.from('x'));
      await other.flush();
      await expect.poll(() => got.size).toBe(200);
      // A subscription of a later turn gets a flush of its own.
      await bus.subscribe('rf.room.later', () => undefined);
      expect(flushes).toHaveBeenCalledTimes(2);
    } finally {
      await Promise.all([bus.close(), other.close()]);
    }
  });
});

/** Publishes `${tag}-N` every 5 ms until `done()`; NATS drops messages with no interest yet. */
async function publishUntil(bus: NatsBus, subject: string, tag: string, done: () => boolean) {
  const deadline = Date.now() + 10_000;
  for (let i = 0; !done(); i++) {
    if (Date.now() > deadline) throw new Error(`no ${tag} message arrived within 10 s`);
    await bus.publish(subject, Buffer.from(`${tag}-${i}`));
    await new Promise((r) => setTimeout(r, 5));
  }
}
