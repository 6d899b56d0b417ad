/*
 * A broadcast to several rooms where one history room cannot store it (a real JetStream
 * refusal: another stream already owns that policy's subjects). Promised: it rejects with
 * RF_HISTORY_UNAVAILABLE naming the history rooms that did store it, and the rooms without
 * history get nothing, since they are only published once every store succeeded.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsBus, NatsHistory } from '@roomfabric/bus';
import { MemoryMembership } from '@roomfabric/membership';
import { Subject } from '@roomfabric/protocol';
import { createServer } from '@roomfabric/server';
import { startNats } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { sleep } from '../support/raw-client.js';

describe('a history room that cannot store a broadcast', () => {
  it('rejects, says which rooms stored it, and publishes nothing to rooms without history', async () => {
    await using nats = await startNats({ jetstream: true });
    const bus = await NatsBus.connect({ servers: nats.url, name: 'store-failure' });
    const jsm = await jetstreamManager(bus.nc);
    // Squats on the subjects of the `broken` policy: its stream cannot be created.
    await jsm.streams.add({ name: 'SQUATTER', subjects: ['rf.hist.broken.>'] });
    const history = new NatsHistory(bus.nc, [
      { rooms: ['ok:*'], name: 'fine' },
      { rooms: ['bad:*'], name: 'broken' },
    ]);
    const server = await createServer({ bus, membership: new MemoryMembership(), history });
    const plainGot: string[] = [];
    const sub = await bus.subscribe(Subject.room('plain'), () => plainGot.push('plain'));
    try {
      await expect(history.ready()).rejects.toMatchObject({
        code: 'RF_HISTORY_UNAVAILABLE',
        message: expect.stringMatching(/RF_HISTORY_broken: .*subjects overlap/),
      });

      const failed = server.to(['ok:1', 'bad:1', 'plain']).emit('note', 1);
      await expect(failed).rejects.toMatchObject({
        code: 'RF_HISTORY_UNAVAILABLE',
        details: { stored: ['ok:1'] },
      });
      await bus.flush();
      await sleep(100);
      expect(plainGot).toEqual([]);

      // The same rooms without the broken one: the plain room gets it (the probe works).
      await server.to(['ok:1', 'plain']).emit('note', 2);
      await expect.poll(() => plainGot).toEqual(['plain']);
    } finally {
      sub.unsubscribe();
      await server.close();
      await history.close();
      await bus.close();
    }
  });
});
