import { randomBytes } from 'node:crypto';
import {
  DiscardPolicy,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import type { StreamPosition } from '@roomfabric/protocol';
import {
  HistoryHeader,
  historyStream,
  historySubject,
  historyUnavailable,
  requirePolicy,
  policyFor,
  resolvePolicies,
  type History,
  type HistoryPolicy,
  type Recovery,
  type ResolvedPolicy,
} from './history.js';

/** Options of {@link NatsHistory}. */
export interface NatsHistoryOptions {
  /**
   * Replicas of the streams this instance creates (1 to 5; up to the JetStream cluster's
   * size). An existing stream keeps its replicas. Default 1.
   */
  replicas?: number;
  /** Timeout of each JetStream call, ms. Default 5000. */
  timeoutMs?: number;
}

/** JetStream's error code for a failed `Nats-Expected-Last-Subject-Sequence`. */
const WRONG_LAST_SEQUENCE = 10071;
/** How long an epoch read from the stream is trusted before it is read again, ms. */
const EPOCH_TTL_MS = 1000;

interface StreamState {
  ready: Promise<void> | undefined;
  epoch: string;
  epochAt: number;
}

/**
 * History in NATS JetStream, on the connection the bus already has. Each policy is one
 * stream, `RF_HISTORY_<name>`, on subjects `rf.hist.<name>.<room token>`, limited per room
 * (`max_msgs_per_subject`) and by age (`max_age`), file storage, oldest dropped first. The
 * stream republishes each entry, once stored, to `rf.room.<room token>` with its sequence
 * (`Nats-Sequence`) and the room's previous one (`Nats-Last-Sequence`): nodes receive
 * history rooms on the subjects they already subscribe to, in stored order.
 *
 * Offsets are stream sequences; the epoch is the stream's creation time, so a stream that
 * was deleted and created again is a new epoch. Streams are created (or their limits
 * updated) on first use by whichever process gets there first: every process must use the
 * same policies.
 */
export class NatsHistory implements History {
  private readonly policies: ResolvedPolicy[];
  private readonly js: JetStreamClient;
  private readonly jsm: Promise<JetStreamManager>;
  private readonly state = new Map<string, StreamState>();
  private readonly replicas: number;
  private readonly timeoutMs: number;
  private closed = false;
  /** Message ids: unique to this instance, then a counter. */
  private readonly idPrefix = `${randomBytes(9).toString('base64url')}.`;
  private appended = 0;

  constructor(
    private readonly nc: NatsConnection,
    policies: readonly HistoryPolicy[],
    options: NatsHistoryOptions = {},
  ) {
    this.policies = resolvePolicies(policies);
    this.replicas = options.replicas ?? 1;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.js = jetstream(nc, { timeout: this.timeoutMs });
    this.jsm = jetstreamManager(nc, { timeout: this.timeoutMs, checkAPI: false });
    this.jsm.catch(() => undefined);
    for (const p of this.policies)
      this.state.set(p.name, { ready: undefined, epoch: '', epochAt: 0 });
  }

  covers(room: string): boolean {
    return policyFor(this.policies, room) !== undefined;
  }
  streamOf(room: string): string | undefined {
    const policy = policyFor(this.policies, room);
    return policy && historyStream(policy);
  }

  async append(room: string, payload: Uint8Array): Promise<StreamPosition> {
    const policy = this.policy(room);
    const subject = historySubject(policy, room);
    // One id for every attempt: a retry after a lost ack (a stream leader that died after
    // storing it) is dropped by the stream's duplicate window instead of stored twice.
    const msgID = `${this.idPrefix}${(this.appended++).toString(36)}`;
    return this.withStream(
      policy,
      `could not store a broadcast to ${JSON.stringify(room)}`,
      async () => {
        const ack = await this.js.publish(subject, payload, { msgID });
        return { offset: ack.seq, epoch: await this.epoch(policy) };
      },
    );
  }

  async position(room: string): Promise<StreamPosition> {
    const policy = this.policy(room);
    return this.withStream(policy, `could not read the history of ${JSON.stringify(room)}`, () =>
      this.positionIn(policy, room),
    );
  }

  private async positionIn(policy: ResolvedPolicy, room: string): Promise<StreamPosition> {
    const subject = historySubject(policy, room);
    const jsm = await this.jsm;
    const stream = historyStream(policy);
    for (;;) {
      const last = await jsm.streams.getMessage(stream, { last_by_subj: subject });
      if (last) return { offset: last.seq, epoch: await this.epoch(policy) };
      // No entry: store an anchor, unless another node stored one (or an entry) first.
      const h = natsHeaders();
      h.set(HistoryHeader.ANCHOR, '1');
      try {
        const ack = await this.js.publish(subject, new Uint8Array(), {
          headers: h,
          expect: { lastSubjectSequence: 0 },
        });
        return { offset: ack.seq, epoch: await this.epoch(policy) };
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE)) throw err;
      }
    }
  }

  async since(room: string, from: StreamPosition, limit: number): Promise<Recovery> {
    const policy = this.policy(room);
    return this.withStream(policy, `could not read the history of ${JSON.stringify(room)}`, () =>
      this.sinceIn(policy, room, from, limit),
    );
  }

  private async sinceIn(
    policy: ResolvedPolicy,
    room: string,
    from: StreamPosition,
    limit: number,
  ): Promise<Recovery> {
    const subject = historySubject(policy, room);
    const latest = async (): Promise<Recovery> => ({
      recovered: false,
      entries: [],
      position: await this.positionIn(policy, room),
    });
    // Offset 0 names no entry (a position always names a stored one): nothing to go on.
    if (from.offset === 0) return latest();
    if (from.epoch !== (await this.epoch(policy, from.epoch))) return latest();
    const jsm = await this.jsm;
    const stream = historyStream(policy);
    // Entries leave oldest first (per room or stream-wide): while the client's last one
    // is still stored, so is everything after it.
    const at = await jsm.streams.getMessage(stream, { seq: from.offset }).catch(notFound);
    if (!at || at.subject !== subject) return latest();
    const last = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    if (!last || last.seq <= from.offset) {
      return { recovered: true, entries: [], position: { offset: from.offset, epoch: from.epoch } };
    }
    // One ordered consumer streams the room's entries up to the last one read above (what
    // comes later reaches the client live); one request per entry was 10x slower.
    const consumer = await this.js.consumers.get(stream, {
      filter_subjects: subject,
      opt_start_seq: from.offset + 1,
    });
    // Pulled in batches bounded by bytes too: a batch of big entries must not outgrow what
    // the server lets one connection have pending (a slow-consumer cut).
    const maxBytes = 2 * (this.nc.info?.max_payload ?? 1024 * 1024);
    const messages = await consumer.consume({ max_bytes: maxBytes });
    const entries: Recovery['entries'] = [];
    // Entries that expire meanwhile would leave the loop waiting: give up after the timeout.
    const timer = setTimeout(() => messages.stop(), this.timeoutMs);
    let reached = false;
    try {
      for await (const m of messages) {
        if (!m.headers?.has(HistoryHeader.ANCHOR)) {
          if (entries.length === limit) return await latest();
          entries.push({ offset: m.seq, payload: m.data });
        }
        if (m.seq >= last.seq) {
          reached = true;
          break;
        }
      }
    } finally {
      clearTimeout(timer);
      messages.stop();
    }
    if (!reached) return latest();
    return { recovered: true, entries, position: { offset: last.seq, epoch: from.epoch } };
  }

  /**
   * Runs `fn` once the policy's stream exists. A stream deleted under us (an operator, a
   * test) makes the first attempt fail: the stream is then created again and `fn` retried
   * once. Failures reject with `RF_HISTORY_UNAVAILABLE`.
   */
  private async withStream<T>(
    policy: ResolvedPolicy,
    what: string,
    fn: () => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.ensure(policy);
        return await fn();
      } catch (err) {
        if (attempt === 0 && !this.closed) {
          this.forget(policy);
          continue;
        }
        throw historyUnavailable(what, err);
      }
    }
  }

  /**
   * Creates every policy's stream, or brings its limits in line. A server without
   * JetStream is told apart from one that does not answer.
   */
  async ready(): Promise<void> {
    if (this.closed) throw historyUnavailable('the history is closed');
    try {
      // Asks for the account's JetStream info: "jetstream is not enabled" when it is not.
      await jetstreamManager(this.nc, { timeout: this.timeoutMs });
    } catch (err) {
      throw historyUnavailable('history needs NATS JetStream', err);
    }
    await Promise.all(
      this.policies.map((p) =>
        this.withStream(p, `could not create the history stream ${historyStream(p)}`, () =>
          Promise.resolve(),
        ),
      ),
    );
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private policy(room: string): ResolvedPolicy {
    return requirePolicy(this.policies, room, this.closed);
  }

  /** Creates the policy's stream, or brings its limits in line, once per instance. */
  private ensure(policy: ResolvedPolicy): Promise<void> {
    const state = this.state.get(policy.name)!;
    state.ready ??= this.createStream(policy).catch((err: unknown) => {
      state.ready = undefined; // try again on the next call
      throw err;
    });
    return state.ready;
  }

  private async createStream(policy: ResolvedPolicy): Promise<void> {
    const jsm = await this.jsm;
    const config = streamConfig(policy, this.replicas);
    const info = await jsm.streams.info(config.name).catch((err: unknown) => {
      if (isStreamMissing(err)) return undefined;
      throw err;
    });
    const state = this.state.get(policy.name)!;
    if (!info) {
      const created = await jsm.streams.add(config).catch(async (err: unknown) => {
        if (!(err instanceof JetStreamApiError)) throw err;
        // Another process may have created it at the same instant; if not, say why not.
        return jsm.streams.info(config.name).catch(() => Promise.reject(err));
      });
      state.epoch = created.created;
    } else {
      const c = info.config;
      // Limits follow the policy; replicas stay as created (a process started with the
      // default must not shrink a replicated stream).
      if (c.max_msgs_per_subject !== config.max_msgs_per_subject || c.max_age !== config.max_age) {
        await jsm.streams.update(config.name, {
          max_msgs_per_subject: config.max_msgs_per_subject,
          max_age: config.max_age,
        });
      }
      state.epoch = info.created;
    }
    state.epochAt = Date.now();
  }

  /** The stream's epoch; read again when stale, or when a client names another one. */
  private async epoch(policy: ResolvedPolicy, claimed?: string): Promise<string> {
    const state = this.state.get(policy.name)!;
    const stale = Date.now() - state.epochAt > EPOCH_TTL_MS;
    if (stale || (claimed !== undefined && claimed !== state.epoch)) {
      const jsm = await this.jsm;
      const info = await jsm.streams.info(historyStream(policy));
      state.epoch = info.created;
      state.epochAt = Date.now();
    }
    return state.epoch;
  }

  private forget(policy: ResolvedPolicy): void {
    const state = this.state.get(policy.name)!;
    state.ready = undefined;
    state.epochAt = 0;
  }
}

function streamConfig(policy: ResolvedPolicy, replicas: number): StreamConfig {
  const subjects = `rf.hist.${policy.name}.>`;
  return {
    name: historyStream(policy),
    subjects: [subjects],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    // One more than asked for: a room's anchor may take a place.
    max_msgs_per_subject: policy.maxMessages + 1,
    max_msgs: -1,
    max_bytes: -1,
    max_age: policy.maxAgeMs * 1_000_000,
    num_replicas: replicas,
    allow_direct: true,
    republish: { src: subjects, dest: 'rf.room.>' },
  } as StreamConfig;
}

function isStreamMissing(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === 10059;
}

/** getMessage rejects, rather than resolving null, for some not-found cases. */
function notFound(err: unknown): null {
  if (err instanceof JetStreamApiError && err.code === 10037) return null;
  throw err;
}
