import { randomBytes } from 'node:crypto';
import { Subject, type StreamPosition } from '@roomfabric/protocol';
import type { Bus } from './bus.js';
import {
  HistoryHeader,
  historyStream,
  historyUnavailable,
  requirePolicy,
  policyFor,
  resolvePolicies,
  type History,
  type HistoryEntry,
  type HistoryPolicy,
  type Recovery,
  type ResolvedPolicy,
} from './history.js';

interface Stored extends HistoryEntry {
  room: string;
  time: number;
  anchor: boolean;
}

/** One policy's entries: what a JetStream stream holds, in one process. */
class MemoryStream {
  seq = 0;
  /** Per room, its entries oldest first. */
  readonly rooms = new Map<string, Stored[]>();

  constructor(readonly policy: ResolvedPolicy) {}

  /** The room's entries after the age limit and the count limit applied. */
  entries(room: string, now: number): Stored[] {
    const list = this.rooms.get(room);
    if (!list) return [];
    const { maxAgeMs, maxMessages } = this.policy;
    let drop = Math.max(0, list.length - (maxMessages + 1));
    if (maxAgeMs > 0) while (drop < list.length && now - list[drop]!.time > maxAgeMs) drop++;
    if (drop > 0) list.splice(0, drop);
    if (list.length === 0) this.rooms.delete(room);
    return list;
  }
}

/**
 * The history of embedded mode: entries kept in the process with the same limits, offsets
 * and delivery as {@link NatsHistory} (one contract suite runs on both). Its epoch is
 * random per instance: a restart loses the history, and clients then learn
 * `recovered: false`.
 */
export class MemoryHistory implements History {
  private epoch = randomBytes(6).toString('base64url');
  private readonly policies: ResolvedPolicy[];
  private readonly streams = new Map<string, MemoryStream>();
  private closed = false;

  constructor(
    private readonly bus: Bus,
    policies: readonly HistoryPolicy[],
  ) {
    this.policies = resolvePolicies(policies);
    for (const p of this.policies) this.streams.set(p.name, new MemoryStream(p));
  }

  covers(room: string): boolean {
    return policyFor(this.policies, room) !== undefined;
  }
  streamOf(room: string): string | undefined {
    const policy = policyFor(this.policies, room);
    return policy && historyStream(policy);
  }

  append(room: string, payload: Uint8Array): Promise<StreamPosition> {
    return this.store(room, payload, false).then((e) => ({ offset: e.offset, epoch: this.epoch }));
  }

  async position(room: string): Promise<StreamPosition> {
    const stream = this.stream(room);
    const last = stream.entries(room, Date.now()).at(-1);
    const offset = last ? last.offset : (await this.store(room, new Uint8Array(), true)).offset;
    return { offset, epoch: this.epoch };
  }

  async since(room: string, from: StreamPosition, limit: number): Promise<Recovery> {
    const list = this.stream(room).entries(room, Date.now());
    const latest = (): Promise<Recovery> =>
      this.position(room).then((position) => ({ recovered: false, entries: [], position }));
    if (from.epoch !== this.epoch) return latest();
    const at = list.findIndex((e) => e.offset === from.offset);
    if (at < 0) return latest();
    const after = list.slice(at + 1).filter((e) => !e.anchor);
    if (after.length > limit) return latest();
    return {
      recovered: true,
      entries: after.map(({ offset, payload }) => ({ offset, payload })),
      position: { offset: list.at(-1)!.offset, epoch: this.epoch },
    };
  }

  /** Drops every entry and starts a new epoch (what losing a JetStream stream does). */
  reset(): void {
    this.epoch = randomBytes(6).toString('base64url');
    for (const p of this.policies) this.streams.set(p.name, new MemoryStream(p));
  }

  ready(): Promise<void> {
    if (this.closed) return Promise.reject(historyUnavailable('the history is closed'));
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private stream(room: string): MemoryStream {
    return this.streams.get(requirePolicy(this.policies, room, this.closed).name)!;
  }

  private async store(room: string, payload: Uint8Array, anchor: boolean): Promise<Stored> {
    const stream = this.stream(room);
    const now = Date.now();
    const list = stream.entries(room, now);
    const previous = list.at(-1)?.offset ?? 0;
    const entry: Stored = { offset: ++stream.seq, payload, room, time: now, anchor };
    if (list.length === 0) stream.rooms.set(room, [entry]);
    else list.push(entry);
    // The count limit, once the new entry is in (ages were applied just above).
    if (list.length > stream.policy.maxMessages + 1) list.shift();
    const headers: Record<string, string> = {
      [HistoryHeader.OFFSET]: String(entry.offset),
      [HistoryHeader.PREVIOUS]: String(previous),
      [HistoryHeader.STREAM]: historyStream(stream.policy),
    };
    if (anchor) headers[HistoryHeader.ANCHOR] = '1';
    // As JetStream's republish: delivered in offset order, after the entry is stored.
    await this.bus.publish(Subject.room(room), payload, { headers });
    return entry;
  }
}
