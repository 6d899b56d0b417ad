import { describe, expect, it } from 'vitest';
import { channelStoreContract } from './channel-store.contract.js';
import { MemoryChannelStore } from './memory-channel-store.js';

channelStoreContract('MemoryChannelStore', async () => {
  const store = new MemoryChannelStore({ maxChannelsPerUser: 5 });
  return { store, dispose: () => store.close() };
});

describe('MemoryChannelStore', () => {
  it('refuses calls once closed', async () => {
    const store = new MemoryChannelStore();
    await store.close();
    await expect(store.list()).rejects.toMatchObject({ code: 'RF_CHANNEL_STORE_UNAVAILABLE' });
  });

  it('checks its options', () => {
    expect(() => new MemoryChannelStore({ maxChannelsPerUser: 0 })).toThrow(
      expect.objectContaining({ code: 'RF_INVALID_ARGUMENT' }),
    );
  });

  it('hands out copies: changing a returned meta changes nothing stored', async () => {
    const store = new MemoryChannelStore();
    const info = await store.create('c', { nested: { a: 1 } });
    (info.meta.nested as { a: number }).a = 2;
    expect((await store.get('c'))?.meta).toEqual({ nested: { a: 1 } });
  });
});
