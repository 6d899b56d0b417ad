import { startNats } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { NatsBus } from './nats-bus.js';

/** A server URL with `credentials@` put in front of its host. */
const withCredentials = (url: string, credentials: string) =>
  url.replace('nats://', `nats://${credentials}@`);

describe('credentials in NATS URLs (nats.js ignores them; the bus passes them on)', () => {
  it('logs in with user:password@ and with token@, and is refused with wrong ones', async () => {
    await using users = await startNats({ args: ['--user', 'edge', '--pass', 'p4ss-word'] });
    const bus = await NatsBus.connect({ servers: withCredentials(users.url, 'edge:p4ss-word') });
    await bus.publish('x', new Uint8Array([1]));
    await bus.close();
    await expect(
      NatsBus.connect({
        servers: withCredentials(users.url, 'edge:wrong'),
        connectTimeoutMs: 1000,
        reconnectTimeWaitMs: 200,
      }),
    ).rejects.toMatchObject({ code: 'RF_BUS_UNAVAILABLE' });

    await using tokens = await startNats({ args: ['--auth', 's3cret-token'] });
    const byToken = await NatsBus.connect({ servers: withCredentials(tokens.url, 's3cret-token') });
    await byToken.close();
  });

  it('refuses URLs that carry different credentials', async () => {
    await expect(
      NatsBus.connect({ servers: ['nats://a:b@127.0.0.1:1', 'nats://c:d@127.0.0.1:2'] }),
    ).rejects.toMatchObject({ code: 'RF_INVALID_ARGUMENT' });
  });
});
