/**
 * The reads of `RedisMembership`: a room's members and presence (the room's hash, then each
 * member's data from its node's slot, one batched script call per node), its counts, a
 * socket's rooms and info (through its pointer to its node), a node's sockets, and the
 * nodes and totals of the whole index. None of them writes; each is one read per slot, not
 * one snapshot of the index.
 */
import type { MemberInfo, PresenceMember, PresenceStats } from './membership.js';
import { parseValue, settle, text, unpackData } from './redis-values.js';
import { memberInfo } from './validate.js';
import { type MembershipContext, pointer } from './redis-context.js';

/** Ids per node operation of a members read (a call carries up to ~2000). */
const IDS_PER_OP = 1000;

/**
 * The room's hash (one read), then each member's data from its node's slot, one script
 * call per node. A member whose info is gone (or names another node) by then is left out.
 */
export async function readMembers(
  ctx: MembershipContext,
  room: string,
  usersOnly = false,
): Promise<MemberInfo[]> {
  const entries = await ctx.redis.cmd((r) => r.hgetall(ctx.keys.room(room).members));
  const byNode = new Map<string, { socketId: string; user: string | undefined }[]>();
  for (const [socketId, value] of Object.entries(entries)) {
    const { nodeId, user } = parseValue(value);
    if (usersOnly && !user) continue;
    let list = byNode.get(nodeId);
    if (!list) byNode.set(nodeId, (list = []));
    list.push({ socketId, user });
  }
  const out: MemberInfo[] = [];
  const reads: Promise<void>[] = [];
  for (const [nodeId, list] of byNode) {
    const node = ctx.keys.node(nodeId);
    for (let i = 0; i < list.length; i += IDS_PER_OP) {
      const part = list.slice(i, i + IDS_PER_OP);
      const ids = part.map((m) => m.socketId);
      reads.push(
        ctx.batch.node(node, ['I', ids.length, ...ids], 1 + ids.length).then((reply) => {
          const flat = reply as unknown[];
          part.forEach((m, j) => {
            if (flat[3 * j] === null || text(flat[3 * j]) !== nodeId) return;
            out.push(memberInfo(m.socketId, nodeId, m.user, unpackData(flat[3 * j + 2])));
          });
        }),
      );
    }
  }
  await settle(reads);
  return out;
}

/** The signed-in members of a room ({@link readMembers}, users only). */
export async function readPresence(
  ctx: MembershipContext,
  room: string,
): Promise<PresenceMember[]> {
  const members = await readMembers(ctx, room, true);
  return members.map((m) => ({
    socketId: m.socketId,
    nodeId: m.nodeId,
    user: m.user ?? '',
    data: m.data,
  }));
}

/** A room's sockets and distinct users, from its slot. */
export async function presenceStats(ctx: MembershipContext, room: string): Promise<PresenceStats> {
  const [sockets, users] = await ctx.batch.room(ctx.keys.room(room), 'C');
  return { sockets: Number(sockets ?? 0), users: Number(users ?? 0) };
}

/** The distinct nodes of a room's member values (HVALS: no node slot is read). */
export async function nodesOf(ctx: MembershipContext, room: string): Promise<string[]> {
  const values = await ctx.redis.cmd((r) => r.hvals(ctx.keys.room(room).members));
  return [...new Set(values.map((v) => parseValue(v).nodeId))];
}

/** HLEN of a room's members. */
export function count(ctx: MembershipContext, room: string): Promise<number> {
  return ctx.redis.cmd((r) => r.hlen(ctx.keys.room(room).members));
}

/** A socket's reverse set, on the node its pointer names. */
export async function roomsOf(ctx: MembershipContext, socketId: string): Promise<string[]> {
  const nodeId = await pointer(ctx, socketId);
  if (nodeId === null) return [];
  return ctx.redis.cmd((r) => r.smembers(ctx.keys.node(nodeId).rooms(socketId)));
}

/** A socket's info, from the node its pointer names. */
export async function socketInfo(
  ctx: MembershipContext,
  socketId: string,
): Promise<MemberInfo | undefined> {
  const nodeId = await pointer(ctx, socketId);
  if (nodeId === null) return undefined;
  const [node, user, data] = (await ctx.batch.node(
    ctx.keys.node(nodeId),
    ['I', 1, socketId],
    2,
  )) as unknown[];
  if (node === null || node === undefined) return undefined;
  return memberInfo(socketId, text(node), user ? text(user) : undefined, unpackData(data));
}

/** The sockets registered on a node. */
export function socketsOf(ctx: MembershipContext, nodeId: string): Promise<string[]> {
  return ctx.redis.cmd((r) => r.smembers(ctx.keys.node(nodeId).sockets));
}

/** Sockets in the index and nodes, one SCARD per node (`ctx.nodes.all()`). */
export async function totals(ctx: MembershipContext): Promise<{ sockets: number; nodes: number }> {
  const nodes = await ctx.nodes.all();
  const counts = await Promise.all(
    nodes.map((n) => ctx.redis.cmd((r) => r.scard(ctx.keys.node(n).sockets))),
  );
  return { sockets: counts.reduce((a, b) => a + b, 0), nodes: nodes.length };
}
