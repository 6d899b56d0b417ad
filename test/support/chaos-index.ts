import type { RoomfabricServer } from '@roomfabric/server';

/** Where one live socket is, as its client and its edge know it. */
export interface SocketTruth {
  id: string;
  nodeId: string;
  rooms: readonly string[];
}

/**
 * Compares the Redis index with the truth of the live sockets, both ways, as far as the
 * rooms in `rooms` go: the socket count, each socket's rooms (`roomsOf`, other rooms
 * ignored), and each room's members with their node (`fetchSockets`). Returns the
 * differences (empty when equal), at most `limit` of them.
 */
export async function indexDiff(
  server: RoomfabricServer,
  truth: readonly SocketTruth[],
  rooms: readonly string[],
  limit = 5,
): Promise<string[]> {
  const diffs: string[] = [];
  const add = (d: string) => {
    if (diffs.length < limit) diffs.push(d);
  };
  const totals = await server.totals();
  if (totals.sockets !== truth.length)
    add(`index holds ${totals.sockets} sockets, ${truth.length} are live`);
  const byRoom = new Map<string, Map<string, string>>(rooms.map((r) => [r, new Map()]));
  await Promise.all(
    truth.map(async (s) => {
      for (const r of s.rooms) byRoom.get(r)?.set(s.id, s.nodeId);
      const indexed = (await server.roomsOf(s.id)).filter((r) => byRoom.has(r)).sort();
      const want = s.rooms.filter((r) => byRoom.has(r)).sort();
      if (indexed.join('|') !== want.join('|')) {
        add(
          `socket ${s.id}@${s.nodeId}: index rooms [${indexed.join(',')}], truth [${want.join(',')}]`,
        );
      }
    }),
  );
  for (const [room, want] of byRoom) {
    const members = await server.in(room).fetchSockets();
    const seen = new Set<string>();
    for (const m of members) {
      seen.add(m.id);
      const node = want.get(m.id);
      if (node === undefined) add(`room ${room}: ghost ${m.id}@${m.nodeId}`);
      else if (node !== m.nodeId)
        add(`room ${room}: ${m.id} indexed on ${m.nodeId}, lives on ${node}`);
    }
    for (const id of want.keys()) if (!seen.has(id)) add(`room ${room}: member ${id} missing`);
  }
  return diffs;
}

/**
 * The ids among `ids` that the index still knows: registered on a node, or member of a
 * room. For the sockets of a dead node, each one is a ghost.
 */
export async function stillIndexed(
  server: RoomfabricServer,
  ids: readonly string[],
): Promise<string[]> {
  const known = await Promise.all(
    ids.map(async (id) => {
      const info = await server.fabric.membership.socket(id);
      return info !== undefined || (await server.roomsOf(id)).length > 0;
    }),
  );
  return ids.filter((_, i) => known[i]);
}
