import {
  connect,
  type ClientOptions,
  type EventMeta,
  type RoomfabricClient,
} from '@roomfabric/client';

/** A connected SDK client that records every event it gets, by name. */
export interface Recorder {
  client: RoomfabricClient;
  got: Array<{ event: string; data: unknown; room: string | null }>;
  of(event: string): unknown[];
}

export async function connected(
  url: string | string[],
  options: ClientOptions = {},
): Promise<RoomfabricClient> {
  const client = connect(url, options);
  await client.ready();
  return client;
}

/** Connects and records `events`. */
export async function recorder(
  url: string,
  events: string[],
  options: ClientOptions = {},
): Promise<Recorder> {
  const client = await connected(url, options);
  const got: Recorder['got'] = [];
  for (const event of events) {
    client.on(event, (data: unknown, meta: EventMeta) =>
      got.push({ event, data, room: meta.room }),
    );
  }
  return { client, got, of: (event) => got.filter((g) => g.event === event).map((g) => g.data) };
}
