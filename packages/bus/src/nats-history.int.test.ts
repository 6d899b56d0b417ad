import { jetstreamManager } from '@nats-io/jetstream';
import { startNats } from '@roomfabric/testkit';
import { afterAll, beforeAll } from 'vitest';
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
