import type { NatsBus } from '@roomfabric/bus';
import { DEFAULT_CHANNEL_BUCKET, KvChannelStore } from '@roomfabric/channels';
import { helpRows, intFlag } from './args.js';

/** The persistent-channel flags of `roomfabric edge` (and `cluster`, for every edge). */
export const channelFlags = {
  channels: { type: 'boolean' },
  'channels-bucket': { type: 'string' },
  'channels-replicas': { type: 'string' },
  'max-channels-per-user': { type: 'string' },
} as const;

export const channelHelp = `Persistent channels (docs/channels.md):
${helpRows([
  [
    '--channels',
    "auto-join users' channels on connect, read from the JetStream KV bucket (connections are refused while it cannot be read)",
  ],
  ['--channels-bucket NAME', `KV bucket (default ${DEFAULT_CHANNEL_BUCKET})`],
  ['--channels-replicas N', 'bucket replicas when this node creates it (default 1)'],
  ['--max-channels-per-user N', 'subscriptions one user may hold (default 100)'],
])}`;

/** What the channel flags ask for, checked; undefined without `--channels`. */
export interface ChannelSettings {
  bucket: string;
  replicas: number;
  maxChannelsPerUser: number;
}

export function channelSettingsFromFlags(
  flags: Record<string, string | boolean | undefined>,
): ChannelSettings | undefined {
  if (!flags.channels) return undefined;
  return {
    bucket: (flags['channels-bucket'] as string | undefined) ?? DEFAULT_CHANNEL_BUCKET,
    replicas: intFlag('channels-replicas', flags['channels-replicas'], 1, 1, 5),
    maxChannelsPerUser: intFlag(
      'max-channels-per-user',
      flags['max-channels-per-user'],
      100,
      1,
      128,
    ),
  };
}

/**
 * The channel store, its bucket opened (so that a node without JetStream fails at start,
 * not on every connect).
 */
export async function openChannels(
  settings: ChannelSettings,
  bus: NatsBus,
): Promise<KvChannelStore> {
  const store = new KvChannelStore({ nc: bus.nc, ...settings });
  await store.ready();
  return store;
}
