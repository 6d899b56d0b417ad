/**
 * The socket lifecycle of `RedisMembership`: registering a socket (a new user moves its
 * presence, a socket that was on another node migrates), removing one, and its joins and
 * leaves, each a few slot-local steps in the order that keeps the node's reverse index a
 * superset of the rooms that list the socket (docs/redis-keys.md, "The invariant"): a join
 * writes the reverse set first and the rooms second, a leave the rooms first and the
 * reverse set last, and a removal deletes the socket from its node's slot only once no room
 * it was added to meanwhile still lists it ({@link removeFully}, which purges and
 * re-asserts use too). Also {@link SocketOrder}, which applies one socket's changes in the
 * order they were asked for.
 */
import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type { MemberInfo } from './membership.js';
import type { Arg } from './redis-batch.js';
import type { NodeKeys } from './redis-keys.js';
import { OrderedOps } from './ordered-ops.js';
import { RoomCode } from './redis-scripts.js';
import {
  Changes,
  distinct,
  memberValue,
  packData,
  parseValue,
  settle,
  text,
  texts,
  unpackData,
} from './redis-values.js';
import {
  type Leaving,
  type MembershipContext,
  type OwnSocket,
  checkNodeId,
  pointer,
} from './redis-context.js';

const unknownSocket = (socketId: string) =>
  new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `unknown socket ${socketId}`);

/** Per socket: the operations in flight, so that one socket's changes apply in order. */
export class SocketOrder {
  private readonly chains = new Map<string, OrderedOps>();

  /**
   * Runs `fn` after the operations already in flight for this socket, so one socket's
   * changes apply in the order they were asked for. Joins after joins (or leaves after
   * leaves) commute and run together, so they can share a batch.
   */
  serial<T>(socketId: string, kind: string, fn: () => Promise<T>): Promise<T> {
    let ops = this.chains.get(socketId);
    if (ops === undefined) {
      const created = new OrderedOps(() => {
        if (this.chains.get(socketId) === created) this.chains.delete(socketId);
      });
      this.chains.set(socketId, created);
      ops = created;
    }
    return ops.run(kind === 'join' || kind === 'leave' ? kind : undefined, [], fn);
  }
}

/** `RedisMembership.addSocket`, after the socket's earlier operations. */
export async function addSocket(ctx: MembershipContext, member: MemberInfo): Promise<void> {
  const { socketId, nodeId, data } = member;
  checkNodeId(nodeId);
  const user = member.user || undefined;
  const node = ctx.keys.node(nodeId);
  const [registered, previous] = await Promise.all([
    ctx.batch.node(node, ['A', socketId, packData(data), user ?? '']),
    ctx.redis.cmd((r) => r.set(ctx.keys.pointer(socketId), nodeId, 'GET')),
    ctx.nodes.list(nodeId),
  ]);
  const [, , oldData, rooms] = registered as [number, Buffer, Buffer, Buffer[]];
  const value = memberValue(nodeId, user);
  const changes = new Changes();
  try {
    // Same node, another user: the rooms it is in move its presence.
    await revalue(ctx, texts(rooms), socketId, value, unpackData(oldData), data, changes);
    if (previous !== null && previous !== nodeId) {
      await migrate(ctx, socketId, previous, node, value, data, changes);
    }
  } finally {
    ctx.report(changes);
  }
  ctx.own.set(socketId, { nodeId, data });
}

/** Sets a socket's member value in `rooms` where it is a member (its presence follows). */
function revalue(
  ctx: MembershipContext,
  rooms: readonly string[],
  socketId: string,
  value: string,
  oldData: unknown,
  data: unknown,
  changes: Changes,
): Promise<void> {
  const user = parseValue(value).user;
  return settle(
    rooms.map((room) =>
      ctx.batch.room(ctx.keys.room(room), 'R', [socketId, value]).then(([code, left]) => {
        const was = Number(code) & RoomCode.USER_LEFT ? oldData : data;
        changes.note(room, code, socketId, user, left, was);
      }),
    ),
  );
}

/**
 * A socket registered on `node` that was on `from` before: its rooms join the new node's
 * reverse set first, then the room entries name the new node, then the old node forgets
 * it (once its reverse set names no room that was not moved).
 */
async function migrate(
  ctx: MembershipContext,
  socketId: string,
  from: string,
  node: NodeKeys,
  value: string,
  data: unknown,
  changes: Changes,
): Promise<void> {
  const old = ctx.keys.node(from);
  const [, , oldData, rawRooms] = (await ctx.batch.node(old, ['G', socketId])) as [
    number,
    Buffer,
    Buffer,
    Buffer[],
  ];
  const moved: string[] = [];
  let rooms = texts(rawRooms);
  for (let round = 0; round < 5; round++) {
    if (rooms.length > 0) {
      await ctx.batch.node(node, ['J', socketId, rooms.length, ...rooms], 1 + rooms.length);
      await revalue(ctx, rooms, socketId, value, unpackData(oldData), data, changes);
      moved.push(...rooms);
    }
    const [deleted, left, extra] = (await ctx.batch.node(
      old,
      ['D', socketId, moved.length, ...moved],
      1 + moved.length,
    )) as [number, number, Buffer[]];
    rooms = texts(extra);
    if (deleted === 1 || rooms.length === 0) {
      if (left === 0) await ctx.nodes.forgetIfEmpty(from);
      return;
    }
  }
}

/** The node a socket is registered on: this instance's own sockets from memory. */
async function nodeOf(ctx: MembershipContext, socketId: string): Promise<string | null> {
  return ctx.own.get(socketId)?.nodeId ?? pointer(ctx, socketId);
}

/** `RedisMembership.removeSocket`, after the socket's earlier operations. */
export async function removeSocket(ctx: MembershipContext, socketId: string): Promise<string[]> {
  const nodeId = await nodeOf(ctx, socketId);
  if (nodeId === null) {
    ctx.own.delete(socketId);
    return [];
  }
  const node = ctx.keys.node(nodeId);
  const [exists, , rawData, rawRooms] = (await ctx.batch.node(node, ['G', socketId])) as [
    number,
    Buffer,
    Buffer,
    Buffer[],
  ];
  const leaving = {
    socketId,
    data: unpackData(rawData),
    rooms: exists === 1 ? texts(rawRooms) : [],
  };
  const changes = new Changes();
  let gone: Removal;
  try {
    gone = await removeFully(ctx, node, leaving, changes);
  } finally {
    ctx.report(changes);
  }
  await ctx.script('pointerDrop', [ctx.keys.pointer(socketId)], [nodeId]);
  if (gone.left === 0) await ctx.nodes.forgetIfEmpty(nodeId);
  ctx.own.delete(socketId);
  return gone.rooms;
}

/** What {@link removeFully} did. */
export interface Removal {
  /** Whether this call deleted the socket from its node's slot. */
  deleted: boolean;
  /** Sockets left on the node. */
  left: number;
  /** The rooms it took the socket out of. */
  rooms: string[];
}

/**
 * Takes a socket of `node` out of its rooms (entries that name this node only), then
 * deletes it from the node's slot. The delete goes through only when the socket's reverse
 * set names no other room: one added meanwhile (by a raid) is taken out first and the
 * delete retried, so no room is left listing a deleted socket.
 */
export async function removeFully(
  ctx: MembershipContext,
  node: NodeKeys,
  s: Leaving,
  changes: Changes,
): Promise<Removal> {
  const done: string[] = [];
  let todo = s.rooms;
  for (let round = 0; ; round++) {
    await settle(
      todo.map((room) =>
        ctx.batch
          .room(ctx.keys.room(room), 'L', [s.socketId, node.node])
          .then(([code, left]) => changes.note(room, code, s.socketId, undefined, left, s.data)),
      ),
    );
    done.push(...todo);
    const [deleted, left, extra] = (await ctx.batch.node(
      node,
      ['D', s.socketId, done.length, ...done],
      1 + done.length,
    )) as [number, number, Buffer[]];
    todo = texts(extra);
    if (deleted === 1 || todo.length === 0 || round === 4) {
      return { deleted: deleted === 1, left, rooms: done };
    }
  }
}

/** The steps of a join or leave, given its rooms (each once) and the socket's node. */
type RoomSteps = (
  ctx: MembershipContext,
  socketId: string,
  list: string[],
  nodeId: string | null,
  own: OwnSocket | undefined,
) => Promise<string[]>;

/**
 * A join or leave: its steps, run with the node the socket is on: an own socket's from
 * memory, at once (so that its first step joins this turn's batch), any other's from its
 * pointer (null: not registered).
 */
function roomChange(steps: RoomSteps) {
  return (
    ctx: MembershipContext,
    socketId: string,
    rooms: readonly string[],
  ): Promise<string[]> => {
    const list = distinct(rooms);
    const own = ctx.own.get(socketId);
    if (own) return steps(ctx, socketId, list, own.nodeId, own);
    return pointer(ctx, socketId).then((nodeId) => steps(ctx, socketId, list, nodeId, undefined));
  };
}

/**
 * `RedisMembership.join`, after the socket's earlier operations. Every JOIN frame comes
 * here, so it is written with then() and without destructuring or spreads: each await and
 * iterator is an allocation more per join.
 */
export const join = roomChange((ctx, socketId, list, nodeId, own) => {
  if (nodeId === null) return Promise.reject(unknownSocket(socketId));
  const node = ctx.keys.node(nodeId);
  // First the node's reverse set (so it covers every room that will list the socket).
  const want = ctx.reporting() && own === undefined;
  const args: Arg[] = ['J', socketId, list.length];
  for (const room of list) args.push(room);
  return ctx.batch.node(node, args, 1 + list.length, want).then((reply) => {
    const r = reply as unknown[];
    if (r[0] !== 1) throw unknownSocket(socketId);
    const user = text(r[1]) || undefined;
    const data = own ? own.data : unpackData(r[2]);
    return joinRooms(ctx, node, socketId, list, user, memberValue(nodeId, user), data);
  });
});

/** The room steps of a join, once the reverse set lists the rooms; resolves to the rooms added. */
function joinRooms(
  ctx: MembershipContext,
  node: NodeKeys,
  socketId: string,
  list: string[],
  user: string | undefined,
  value: string,
  data: unknown,
): Promise<string[]> {
  const changes = new Changes();
  const codes: number[] = [];
  const steps =
    list.length === 1
      ? // The common case, without the bookkeeping of many rooms.
        ctx.batch.room(ctx.keys.room(list[0]!), 'J', [socketId, value]).then((r) => {
          codes[0] = Number(r[0]);
          changes.note(list[0]!, r[0], socketId, user, r[1], data);
        })
      : settle(
          list.map((room, i) =>
            ctx.batch.room(ctx.keys.room(room), 'J', [socketId, value]).then((r) => {
              codes[i] = Number(r[0]);
              changes.note(room, r[0], socketId, user, r[1], data);
            }),
          ),
        );
  return steps
    .then(() => {
      // Added while a raid from the room runs: that raid may have taken the room out of
      // the reverse set between the two writes above, so write it once more.
      const again = list.filter((_, i) => (codes[i]! & RoomCode.RAIDING) !== 0);
      const added = list.filter((_, i) => (codes[i]! & RoomCode.ADDED) !== 0);
      if (again.length === 0) return added;
      const args: Arg[] = ['J', socketId, again.length];
      for (const room of again) args.push(room);
      return ctx.batch.node(node, args, 1 + again.length).then(() => added);
    })
    .finally(() => ctx.report(changes));
}

/** `RedisMembership.leave`, after the socket's earlier operations. */
export const leave = roomChange(async (ctx, socketId, list, nodeId, own) => {
  if (nodeId === null || list.length === 0) return [];
  const node = ctx.keys.node(nodeId);
  let data = own?.data;
  if (!own && ctx.reporting()) {
    const [, , d] = (await ctx.batch.node(node, ['I', 1, socketId], 2)) as unknown[];
    data = unpackData(d);
  }
  // First the rooms, then the reverse set.
  const left = new Set<string>();
  const changes = new Changes();
  try {
    await settle(
      list.map((room) =>
        ctx.batch.room(ctx.keys.room(room), 'L', [socketId, '']).then(([code, user]) => {
          if (Number(code) & RoomCode.REMOVED) left.add(room);
          changes.note(room, code, socketId, undefined, user, data);
        }),
      ),
    );
  } finally {
    ctx.report(changes);
  }
  await ctx.batch.node(node, ['S', socketId, list.length, ...list], 1 + list.length);
  return list.filter((room) => left.has(room));
});
