import { connect, type RoomfabricClient } from '@roomfabric/client';
import { signTestToken, TEST_JWT_SECRET } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { installDemo } from '../../packages/cli/src/demo-app.js';
import { startTestEdge } from '../support/edge.js';

async function user(url: string, sub: string, rf: Record<string, unknown>, name?: string) {
  const client = connect(url, { auth: { token: await signTestToken(sub, { rf }), name } });
  await client.ready();
  return client;
}

const call = (c: RoomfabricClient, event: string, data: unknown) =>
  c.emitWithAck(event, data) as Promise<Record<string, unknown> | Array<Record<string, unknown>>>;

describe('the demo app grants nothing a client could not do itself (people copy it)', () => {
  it("a raid needs the caller's grants: publish on the source, join on the target; reserved rooms are refused", async () => {
    await using t = await startTestEdge({ auth: { secret: TEST_JWT_SECRET } });
    installDemo(t.edge);
    const admin = await user(t.url, 'root', { join: ['admin:*'], publish: ['admin:*'] });
    await admin.join('admin:ops');
    const mallory = await user(t.url, 'mallory', { join: ['doc:*'], publish: ['doc:*'] });
    await mallory.join('doc:1');
    const reader = await user(t.url, 'reader', { join: ['doc:*'] }); // may not publish
    await reader.join('doc:1');

    // Into a room her grants deny: refused (it used to move her there, to read it).
    expect(await call(mallory, 'raid', { from: 'doc:1', to: 'admin:ops' })).toMatchObject({
      error: 'RF_FORBIDDEN',
    });
    expect(mallory.rooms.has('doc:1')).toBe(true);
    // Out of a room she is not in, or out of a reserved one.
    expect(await call(mallory, 'raid', { from: 'admin:ops', to: 'doc:2' })).toMatchObject({
      error: 'RF_NOT_IN_ROOM',
    });
    expect(await call(mallory, 'raid', { from: '$user:mallory', to: 'doc:2' })).toMatchObject({
      error: 'RF_ROOM_RESERVED',
    });
    expect(await call(mallory, 'raid', { from: 'doc:1', to: '$user:root' })).toMatchObject({
      error: 'RF_ROOM_RESERVED',
    });
    // A member without publish rights may not move the room.
    expect(await call(reader, 'raid', { from: 'doc:1', to: 'doc:2' })).toMatchObject({
      error: 'RF_FORBIDDEN',
    });
    // The admin room's members stay out of her reach.
    expect(await call(mallory, 'members', 'admin:ops')).toMatchObject({ error: 'RF_NOT_IN_ROOM' });
    expect(await call(mallory, 'members', '$user:mallory')).toMatchObject({
      error: 'RF_ROOM_RESERVED',
    });
    expect((await t.edge.in('admin:ops').fetchSockets()).map((s) => s.id)).toEqual([admin.id]);
    // What the grants allow still works.
    const moved = await call(mallory, 'raid', { from: 'doc:1', to: 'doc:2' });
    expect(moved).toMatchObject({ moved: 2 });
    for (const c of [admin, mallory, reader]) c.close();
  });

  it('a signed-in user is named by the token, not by what the client claims', async () => {
    await using t = await startTestEdge({ auth: { secret: TEST_JWT_SECRET } });
    installDemo(t.edge);
    const ada = await user(t.url, 'ada', { join: ['doc:*'], info: { name: 'Ada L.' } }, 'root');
    const bob = await user(t.url, 'bob', { join: ['doc:*'] }, 'Administrator');
    await ada.join('doc:1');
    await bob.join('doc:1');
    const members = (await call(ada, 'members', 'doc:1')) as Array<{ name: string }>;
    expect(members.map((m) => m.name).sort()).toEqual(['Ada L.', 'bob']);
    ada.close();
    bob.close();
  });
});
