/**
 * What `RedisMembership` does to a node as a whole: its lease (renewed on the lease lane,
 * the node's slot first and the leases ZSET second), the list of nodes whose lease lapsed,
 * purging a lapsed node's sockets under the node's purge lock, and re-asserting a node's
 * snapshot (its stale sockets removed, the listed ones written chunk by chunk, each step in
 * the order that keeps the node's reverse sets a superset of the rooms that list its
 * sockets). Sockets leave through `removeFully` (`redis-sockets.ts`), and emptied nodes
 * leave the node index (`redis-node-index.ts`).
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type { NodeSnapshotSocket, PurgedSocket, ReassertOptions } from './membership.js';
import { positiveInteger } from './validate.js';
import type { NodeKeys } from './redis-keys.js';
import {
  Changes,
  distinct,
  memberValue,
  packData,
  settle,
  text,
  texts,
  unpackData,
} from './redis-values.js';
import { type Leaving, type MembershipContext, checkNodeId } from './redis-context.js';
import { type Removal, removeFully } from './redis-sockets.js';

/** `RedisMembership.renewLease`. */
export async function renewLease(
  ctx: MembershipContext,
  nodeId: string,
  ttlMs: number,
): Promise<boolean> {
  positiveInteger('ttlMs', ttlMs);
  const lane = ctx.redis.lane();
  const node = ctx.keys.node(nodeId);
  // Each renewal that finds no lease creates it with its own token. A renewal that failed
  // (timed out) may still land later, after the store lost its data, and create the lease
  // again: the lease then holds that renewal's token, not the one this instance knows,
  // and counts as gone.
  const token = randomBytes(8).toString('hex');
  const reply = (await ctx.redis.script(
    'nodeLease',
    [node.sockets],
    [node.base, 'renew', ttlMs, token],
    false,
    lane,
  )) as [unknown, unknown];
  const held = text(reply[0]);
  let lease = ctx.leases.get(nodeId);
  const known = lease?.id;
  if (lease) lease.id = held || token;
  else ctx.leases.set(nodeId, (lease = { id: held || token, purging: false }));
  // A purger that took the node while its lease had lapsed (a failover longer than the TTL)
  // may still be removing sockets, ones the node re-asserted meanwhile included: while its
  // lock is held, and once more after, the node counts as not alive and re-asserts.
  const purging = Number(reply[1]) === 1;
  await ctx.redis.script('leases', [ctx.keys.leases()], ['renew', nodeId, ttlMs], false, lane);
  // Asked every renewal (even when the lease was gone) so the next one compares with now.
  const lost = await ctx.redis.mayHaveLostWrites(lane);
  // Updated only by a renewal that completed, so a failed one cannot swallow the "once more".
  const wasPurging = lease.purging;
  lease.purging = purging;
  return held !== '' && held === known && !lost && !purging && !wasPurging;
}

/** `RedisMembership.dropLease`: the node's lease key, then its deadline (kept if it has sockets). */
export async function dropLease(ctx: MembershipContext, nodeId: string): Promise<void> {
  const node = ctx.keys.node(nodeId);
  const left = await ctx.script('nodeLease', [node.sockets], [node.base, 'drop']);
  const keep = Number(left) > 0 ? '1' : '0';
  await ctx.script('leases', [ctx.keys.leases()], ['drop', nodeId, keep]);
}

/** Nodes whose lease deadline passed (Redis clock). */
export async function expiredNodes(ctx: MembershipContext): Promise<string[]> {
  return (await ctx.script('leases', [ctx.keys.leases()], ['expired'])) as string[];
}

/** `RedisMembership.purgeNode`. */
export async function purgeNode(
  ctx: MembershipContext,
  nodeId: string,
  batch: number,
): Promise<PurgedSocket[]> {
  positiveInteger('batch', batch);
  const node = ctx.keys.node(nodeId);
  const token = await lock(ctx, node);
  try {
    for (let attempt = 0; attempt < 10; attempt++) {
      const reply = (await ctx.batch.node(node, ['P', batch], 1)) as unknown[];
      const count = Number(reply[0]);
      if (count < 0) return []; // the lease is alive
      if (count === 0) {
        await ctx.nodes.forget(nodeId);
        return [];
      }
      const found: Leaving[] = [];
      for (let i = 1; i + 4 < reply.length + 1 && found.length < count; i += 5) {
        found.push({
          socketId: text(reply[i]),
          data: unpackData(reply[i + 3]),
          rooms: texts(reply[i + 4]),
        });
      }
      const purged = await dropSockets(ctx, node, found, true);
      if (purged.length > 0) return purged;
    }
    return [];
  } finally {
    await ctx.script('nodeLease', [node.sockets], [node.base, 'unlock', token]).catch(
      () => undefined, // it expires
    );
  }
}

/** The purge lock of a node: SET NX PX, retried every 10 ms while another purger has it. */
async function lock(ctx: MembershipContext, node: NodeKeys): Promise<string> {
  const token = randomBytes(8).toString('hex');
  const timeoutMs = ctx.redis.timeoutMs;
  const ttl = 4 * timeoutMs;
  const deadline = Date.now() + ttl + timeoutMs;
  for (;;) {
    const taken = await ctx.script('nodeLease', [node.sockets], [node.base, 'lock', token, ttl]);
    if (taken === 1) return token;
    if (Date.now() > deadline) {
      throw new RoomfabricError(
        ErrorCode.MEMBERSHIP_UNAVAILABLE,
        `another purger has held node ${node.node} for ${ttl} ms`,
        { temporary: true },
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Removes sockets of a node ({@link removeFully}, all at once). Resolves with the ones
 * deleted by this call. When that empties the node, it leaves `rf:nodes`, and with
 * `purging` its lease deadline too.
 */
async function dropSockets(
  ctx: MembershipContext,
  node: NodeKeys,
  sockets: readonly Leaving[],
  purging = false,
): Promise<PurgedSocket[]> {
  const changes = new Changes();
  let results: Removal[];
  try {
    results = await Promise.all(sockets.map((s) => removeFully(ctx, node, s, changes)));
  } finally {
    ctx.report(changes);
  }
  const purged: PurgedSocket[] = [];
  const pointers: Promise<unknown>[] = [];
  sockets.forEach((s, i) => {
    if (!results[i]?.deleted) return;
    purged.push({ socketId: s.socketId, rooms: results[i].rooms });
    ctx.own.delete(s.socketId);
    pointers.push(ctx.script('pointerDrop', [ctx.keys.pointer(s.socketId)], [node.node]));
  });
  await Promise.all(pointers);
  if (results.length > 0 && Math.min(...results.map((r) => r.left)) === 0) {
    await (purging ? ctx.nodes.forget(node.node) : ctx.nodes.forgetIfEmpty(node.node));
  }
  return purged;
}

/** `RedisMembership.reassert`. */
export async function reassert(
  ctx: MembershipContext,
  nodeId: string,
  sockets: readonly NodeSnapshotSocket[],
  options: ReassertOptions,
): Promise<void> {
  checkNodeId(nodeId);
  const node = ctx.keys.node(nodeId);
  const chunk = ctx.reassertChunk;
  const listed = new Map(sockets.map((s) => [s.socketId, s.rooms]));
  const current = options.only ? [] : await ctx.redis.cmd((r) => r.smembers(node.sockets));
  const stale = current.filter((id) => !listed.has(id));
  for (let i = 0; i < stale.length; i += chunk) {
    const ids = stale.slice(i, i + chunk);
    const read = (await Promise.all(ids.map((id) => ctx.batch.node(node, ['G', id])))) as [
      number,
      Buffer,
      Buffer,
      Buffer[],
    ][];
    await dropSockets(
      ctx,
      node,
      ids.map((socketId, j) => ({
        socketId,
        data: unpackData(read[j]?.[2]),
        rooms: read[j]?.[0] === 1 ? texts(read[j]?.[3]) : [],
      })),
    );
  }
  for (let i = 0; i < sockets.length; i += chunk) {
    await upsert(ctx, node, sockets.slice(i, i + chunk));
  }
  const scrub = (options.scrub ?? []).filter((p) => !listed.get(p.socketId)?.includes(p.room));
  for (let i = 0; i < scrub.length; i += chunk) {
    await scrubRooms(ctx, node, scrub.slice(i, i + chunk));
  }
  if (sockets.length > 0) await ctx.nodes.add(nodeId);
  else if (!options.only) await ctx.nodes.forgetIfEmpty(nodeId);
}

/**
 * Takes sockets out of rooms where the room's entry names this node (a room step each;
 * the reverse set is not read first, it may be the part that was lost), then out of their
 * reverse sets.
 */
async function scrubRooms(
  ctx: MembershipContext,
  node: NodeKeys,
  pairs: readonly { socketId: string; room: string }[],
): Promise<void> {
  const changes = new Changes();
  try {
    await settle(
      pairs.map(({ socketId, room }) =>
        ctx.batch
          .room(ctx.keys.room(room), 'L', [socketId, node.node])
          .then(([code, left]) => changes.note(room, code, socketId, undefined, left, undefined)),
      ),
    );
  } finally {
    ctx.report(changes);
  }
  // Then the reverse sets, so the socket's rooms (roomsOf) say the same.
  const bySocket = new Map<string, string[]>();
  for (const p of pairs) bySocket.set(p.socketId, [...(bySocket.get(p.socketId) ?? []), p.room]);
  await Promise.all(
    [...bySocket].map(([socketId, rooms]) =>
      ctx.batch.node(node, ['S', socketId, rooms.length, ...rooms], 1 + rooms.length),
    ),
  );
}

/** One re-assert chunk: node slot (info, reverse sets grown), rooms, then reverse sets shrunk. */
async function upsert(
  ctx: MembershipContext,
  node: NodeKeys,
  sockets: readonly NodeSnapshotSocket[],
): Promise<void> {
  const nodeId = node.node;
  const written = await Promise.all(
    sockets.map((s) => {
      const rooms = distinct(s.rooms);
      const args = ['U', s.socketId, packData(s.data), s.user || '', rooms.length, ...rooms];
      return Promise.all([
        ctx.batch.node(node, args, 1 + rooms.length) as Promise<[number, Buffer, Buffer[]]>,
        ctx.redis.cmd((r) => r.set(ctx.keys.pointer(s.socketId), nodeId, 'GET')),
      ]);
    }),
  );
  // A socket that was registered on another node: its rooms there count as its rooms.
  const elsewhere = new Map<number, string>();
  written.forEach(([, previous], i) => {
    if (previous !== null && previous !== nodeId) elsewhere.set(i, previous);
  });
  const oldRooms = new Map<number, string[]>();
  await Promise.all(
    [...elsewhere].map(async ([i, from]) => {
      const reply = (await ctx.batch.node(ctx.keys.node(from), ['G', sockets[i]!.socketId])) as [
        number,
        Buffer,
        Buffer,
        Buffer[],
      ];
      oldRooms.set(i, texts(reply[3]));
    }),
  );
  const changes = new Changes();
  const shrink: { socketId: string; rooms: string[] }[] = [];
  try {
    const ops: Promise<void>[] = [];
    sockets.forEach((s, i) => {
      const user = s.user || undefined;
      const value = memberValue(nodeId, user);
      const wanted = new Set(s.rooms);
      const before = new Set([...texts(written[i]![0][2]), ...(oldRooms.get(i) ?? [])]);
      const gone = [...before].filter((r) => !wanted.has(r));
      if (gone.length > 0) shrink.push({ socketId: s.socketId, rooms: gone });
      for (const room of wanted) {
        ops.push(
          ctx.batch.room(ctx.keys.room(room), 'J', [s.socketId, value]).then(([code, left]) => {
            changes.note(room, code, s.socketId, user, left, s.data);
          }),
        );
      }
      for (const room of gone) {
        ops.push(
          ctx.batch.room(ctx.keys.room(room), 'L', [s.socketId, '']).then(([code, left]) => {
            changes.note(room, code, s.socketId, undefined, left, s.data);
          }),
        );
      }
      const own = ctx.own.get(s.socketId);
      if (own) ctx.own.set(s.socketId, { nodeId, data: s.data });
    });
    await settle(ops);
  } finally {
    ctx.report(changes);
  }
  await Promise.all(
    shrink.map((s) =>
      ctx.batch.node(node, ['S', s.socketId, s.rooms.length, ...s.rooms], 1 + s.rooms.length),
    ),
  );
  // Last, the old node forgets the sockets that came from it (entries naming it only).
  const moved = new Changes();
  try {
    await Promise.all(
      [...elsewhere].map(async ([i, from]) => {
        const s = sockets[i]!;
        const leaving = { socketId: s.socketId, data: s.data, rooms: oldRooms.get(i) ?? [] };
        const { left } = await removeFully(ctx, ctx.keys.node(from), leaving, moved);
        if (left === 0) await ctx.nodes.forgetIfEmpty(from);
      }),
    );
  } finally {
    ctx.report(moved);
  }
}
