import { jetstreamManager } from '@nats-io/jetstream';
import { startNats } from '@roomfabric/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyContract } from './history.contract.js';
import { NatsBus } from './nats-bus.js';
import { NatsHistory } from './nats-history.js';

let nats: Awaited<ReturnType<typeof startNats>>;
beforeAll(async () => {
  nats = await startNats({ jetstream: true });
});
afterAll(async () => {
  await nats?.[Symbol.asyncDispose]();
});

historyContract('NatsHistory', async () => {
  const bus = await NatsBus.connect({ servers: nats.url, name: 'history-a' });
  const other = await NatsBus.connect({ servers: nats.url, name: 'history-b' });
  return {
    bus,
    make: (policies) => new NatsHistory(bus.nc, policies),
    // Another process: its own connection and instance over the same streams.
    peer: (_history, policies) => new NatsHistory(other.nc, policies),
    wipe: async (_history, policy) => {
      const jsm = await jetstreamManager(other.nc);
      await jsm.streams.delete(`RF_HISTORY_${policy}`);
    },
    dispose: async () => {
      await Promise.all([bus.close(), other.close()]);
    },
  };
});

describe('NatsHistory.ready', () => {
  it('creates every policy stream before any room is used', async () => {
    const bus = await NatsBus.connect({ servers: nats.url, name: 'history-ready' });
    try {
      const names = [`ready_a${Date.now()}`, `ready_b${Date.now()}`];
      const history = new NatsHistory(bus.nc, [
        { rooms: ['a:*'], name: names[0], maxMessages: 7 },
        { rooms: ['b:*'], name: names[1], maxMessages: 9 },
      ]);
      await history.ready();
      const jsm = await jetstreamManager(bus.nc);
      const limits = await Promise.all(
        names.map(
          async (n) => (await jsm.streams.info(`RF_HISTORY_${n}`)).config.max_msgs_per_subject,
        ),
      );
      expect(limits).toEqual([8, 10]); // one place more per room, for the anchor
      await history.close();
    } finally {
      await bus.close();
    }
  });

  it('says that JetStream is missing, with RF_HISTORY_UNAVAILABLE', async () => {
    await using plain = await startNats();
    const bus = await NatsBus.connect({ servers: plain.url, name: 'history-plain' });
    try {
      const history = new NatsHistory(bus.nc, [{ rooms: ['a:*'] }], { timeoutMs: 2000 });
      await expect(history.ready()).rejects.toMatchObject({
        code: 'RF_HISTORY_UNAVAILABLE',
        message: expect.stringMatching(/history needs NATS JetStream: jetstream is not enabled/),
      });
    } finally {
      await bus.close();
    }
  });
});
