import type { NodeKeys, RoomKeys } from './redis-keys.js';

/** An argument of a script call. */
export type Arg = string | Buffer | number;

/** When the operations queued in one event-loop turn go out. */
export type BatchFlush = 'microtask' | 'immediate';

/** Sends one script call to the slot of `anchor` and resolves with its reply. */
export type SendCall = (anchor: string, argv: Arg[]) => Promise<unknown>;

export interface BatcherOptions {
  /** Sends one room-script call (`redis-scripts.ts`, `room`). */
  sendRoom: SendCall;
  /** Sends one node-script call (`node`). */
  sendNode: SendCall;
  /** Default `microtask` (measured: see docs/redis-keys.md, "Batching"). */
  flush?: BatchFlush;
  /** Weight (operations, plus the rooms or sockets they carry) per script call. */
  maxWeight?: number;
}

interface Op {
  args: Arg[];
  weight: number;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

interface RoomOp extends Op {
  room: RoomKeys;
  op: string;
}

interface NodeGroup {
  keys: NodeKeys;
  want: boolean;
  ops: Op[];
}

/**
 * Coalesces the room and node operations asked for in one event-loop turn into one script
 * call per room slot and one per node (split past `maxWeight`), sent together (ioredis
 * auto-pipelining puts the calls for one server in one write). Operations of one call run
 * in the order they were queued, so two operations on one socket queued in that order are
 * applied in that order. Each operation's promise settles with its own reply; a failed call
 * rejects the operations it carried, and only those.
 */
export class Batcher {
  private rooms = new Map<number, RoomOp[]>();
  private nodes = new Map<string, NodeGroup>();
  private scheduled = false;
  private readonly flushMode: BatchFlush;
  private readonly maxWeight: number;
  /** Script calls sent, for tests and benchmarks. */
  calls = 0;

  constructor(private readonly options: BatcherOptions) {
    this.flushMode = options.flush ?? 'microtask';
    this.maxWeight = Math.max(1, options.maxWeight ?? 2000);
  }

  /**
   * Queues a room operation (`J`, `R`, `N`, `L`, `C`, bulk `n`, `l`: see the room script) on
   * `room`, with its arguments after the room. Resolves with its two reply entries.
   */
  room(room: RoomKeys, op: string, args: Arg[] = [], weight = 1): Promise<[unknown, unknown]> {
    return new Promise((resolve, reject) => {
      let group = this.rooms.get(room.slot);
      if (!group) this.rooms.set(room.slot, (group = []));
      group.push({
        room,
        op,
        args,
        weight,
        resolve: resolve as (v: unknown) => void,
        reject,
      });
      this.schedule();
    });
  }

  /**
   * Queues a node operation (see the node script) on `node`; `weight` is about the number
   * of ids it carries. `want`: the call should return socket data. Resolves with its reply.
   */
  node(node: NodeKeys, args: Arg[], weight = 1, want = false): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let group = this.nodes.get(node.node);
      if (!group) this.nodes.set(node.node, (group = { keys: node, want: false, ops: [] }));
      group.want ||= want;
      group.ops.push({ args, weight, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.flushMode === 'immediate') setImmediate(() => this.flush());
    else queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const rooms = this.rooms;
    const nodes = this.nodes;
    this.rooms = new Map();
    this.nodes = new Map();
    for (const ops of rooms.values()) {
      for (const chunk of this.chunks(ops)) this.sendRooms(chunk);
    }
    for (const group of nodes.values()) {
      for (const chunk of this.chunks(group.ops)) this.sendNodes(group, chunk);
    }
  }

  private *chunks<T extends Op>(ops: T[]): Generator<T[]> {
    let start = 0;
    let weight = 0;
    for (let i = 0; i < ops.length; i++) {
      const w = ops[i]!.weight;
      if (i > start && weight + w > this.maxWeight) {
        yield ops.slice(start, i);
        start = i;
        weight = 0;
      }
      weight += w;
    }
    if (start < ops.length) yield start === 0 ? ops : ops.slice(start);
  }

  private sendRooms(ops: RoomOp[]): void {
    const index = new Map<string, number>();
    const head: Arg[] = [0];
    const body: Arg[] = [];
    for (const op of ops) {
      let i = index.get(op.room.room);
      if (i === undefined) {
        index.set(op.room.room, (i = index.size + 1));
        head.push(op.room.members, op.room.users, op.room.raiding);
      }
      body.push(op.op, i);
      for (const arg of op.args) body.push(arg);
    }
    head[0] = index.size;
    for (const arg of body) head.push(arg);
    this.calls++;
    this.options.sendRoom(ops[0]!.room.members, head).then(
      (reply) => {
        const flat = reply as unknown[];
        ops.forEach((op, j) => op.resolve([flat[2 * j], flat[2 * j + 1]]));
      },
      (err: unknown) => {
        for (const op of ops) op.reject(err);
      },
    );
  }

  private sendNodes(group: NodeGroup, ops: Op[]): void {
    const argv: Arg[] = [group.keys.base, group.keys.node, group.want ? '1' : '0'];
    for (const op of ops) for (const arg of op.args) argv.push(arg);
    this.calls++;
    this.options.sendNode(group.keys.sockets, argv).then(
      (reply) => {
        const replies = reply as unknown[];
        ops.forEach((op, j) => op.resolve(replies[j]));
      },
      (err: unknown) => {
        for (const op of ops) op.reject(err);
      },
    );
  }
}
