/*
 * Helpers for the wire and HTTP fuzz suites (test/security/fuzz-frames.e2e.test.ts and
 * fuzz-http.e2e.test.ts): msgpack built byte by byte (so a test can send what no encoder
 * would: 10,000 nested arrays, uint64 2^53+1, invalid UTF-8), a WebSocket client that
 * records exactly what the edge sends and never throws on it, a table of frame templates
 * with one hole per field, raw-TCP HTTP probes, and `roomfabric dev` as a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket as NetSocket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Decoder, encode } from '@msgpack/msgpack';
import { CloseCode, ErrorCode } from '@roomfabric/protocol';
import { eventually, freePort } from '@roomfabric/testkit';
import WebSocket from 'ws';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The code the contract names for a frame nested too deep (a literal: it may be new). */
export const TOO_DEEP = 'RF_FRAME_TOO_DEEP';
/** Deepest accepted frame, the frame's own array counting as level 1. */
export const MAX_DEPTH = 32;

// ---------------------------------------------------------------------------------------
// Documented codes.

const errorsDoc = readFileSync(
  fileURLToPath(new URL('../../docs/errors.md', import.meta.url)),
  'utf8',
);

/** Codes of `ErrorCode` that docs/errors.md lists too. */
export function isDocumentedCode(code: string): boolean {
  return (
    (Object.values(ErrorCode) as string[]).includes(code) && errorsDoc.includes('`' + code + '`')
  );
}

/** Close codes a client may see: `CloseCode` values, 1005 (no status) and 1006 (dropped). */
export const documentedCloses: ReadonlySet<number> = new Set<number>([
  ...Object.values(CloseCode),
  1005,
  1006,
]);

// ---------------------------------------------------------------------------------------
// msgpack, byte by byte.

/** Bytes of one msgpack value, spliced as they are; `depth` is how deep they nest. */
export class Raw {
  constructor(
    readonly bytes: Uint8Array,
    readonly depth: number,
  ) {}
}

/** Where a template's substituted value goes. */
export const HOLE: unique symbol = Symbol('hole');

const concat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

function header(n: number, fix: number, b16: number, b32: number): Uint8Array {
  if (n < 16) return new Uint8Array([fix | n]);
  if (n < 0x10000) return new Uint8Array([b16, n >> 8, n & 0xff]);
  return new Uint8Array([b32, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

/** msgpack of a tree of JS values in which `Raw` values are spliced in as they are. */
export function pack(tree: unknown): Uint8Array {
  if (tree instanceof Raw) return tree.bytes;
  if (tree === HOLE) throw new Error('pack: an unfilled hole');
  if (Array.isArray(tree)) {
    return concat([header(tree.length, 0x90, 0xdc, 0xdd), ...tree.map(pack)]);
  }
  if (tree !== null && typeof tree === 'object' && !(tree instanceof Uint8Array)) {
    const entries = Object.entries(tree);
    return concat([
      header(entries.length, 0x80, 0xde, 0xdf),
      ...entries.flatMap(([k, v]) => [encode(k), pack(v)]),
    ]);
  }
  return encode(tree);
}

/** The tree with its hole replaced by `value`. */
export function fill(tree: unknown, value: unknown): unknown {
  if (tree === HOLE) return value;
  if (Array.isArray(tree)) return tree.map((t) => fill(t, value));
  if (tree !== null && typeof tree === 'object' && !(tree instanceof Raw)) {
    return Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, fill(v, value)]));
  }
  return tree;
}

/** How many arrays and maps enclose the hole (-1: no hole). */
export function holeDepth(tree: unknown): number {
  if (tree === HOLE) return 0;
  const children = Array.isArray(tree)
    ? tree
    : tree !== null && typeof tree === 'object' && !(tree instanceof Raw)
      ? Object.values(tree)
      : [];
  for (const child of children) {
    const d = holeDepth(child);
    if (d >= 0) return d + 1;
  }
  return -1;
}

/** Nesting depth of a decoded value: scalars 0, a container 1 + its deepest child. */
export function depthOf(value: unknown): number {
  if (value instanceof Uint8Array || value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((m, c) => Math.max(m, depthOf(c)), 0);
}

export type Shape = 'array' | 'map' | 'mixed';

/**
 * A value nesting exactly `depth` arrays or maps (or both, alternating), nil innermost:
 * `nested(2, 'array')` is `[[nil]]`, `nested(2, 'map')` is `{k: {k: nil}}`.
 */
export function nested(depth: number, shape: Shape): Raw {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < depth; i++) {
    const map = shape === 'map' || (shape === 'mixed' && i % 2 === 1);
    parts.push(map ? new Uint8Array([0x81, 0xa1, 0x6b]) : new Uint8Array([0x91]));
  }
  parts.push(new Uint8Array([0xc0]));
  return new Raw(concat(parts), depth);
}

const raw = (bytes: number[] | Uint8Array, depth = 0) => new Raw(Uint8Array.from(bytes), depth);
const float64 = (n: number) => {
  const b = Buffer.alloc(9);
  b[0] = 0xcb;
  b.writeDoubleBE(n, 1);
  return raw(b);
};

/** Every msgpack type, and the awkward values of some, as a fuzzer substitutes them. */
export const valueKinds: ReadonlyArray<{ kind: string; value: Raw }> = [
  { kind: 'nil', value: raw([0xc0]) },
  { kind: 'true', value: raw([0xc3]) },
  { kind: 'false', value: raw([0xc2]) },
  { kind: '0', value: raw([0x00]) },
  { kind: '1', value: raw([0x01]) },
  { kind: '-1', value: raw([0xff]) },
  { kind: '2^32', value: raw([0xcf, 0, 0, 0, 1, 0, 0, 0, 0]) },
  { kind: '2^53+1 u64', value: raw([0xcf, 0, 0x20, 0, 0, 0, 0, 0, 1]) },
  { kind: '1.5', value: float64(1.5) },
  { kind: 'NaN', value: float64(NaN) },
  { kind: "''", value: raw([0xa0]) },
  { kind: "'fuzz'", value: raw(encode('fuzz')) },
  { kind: '10KB str', value: raw(encode('x'.repeat(10 * 1024))) },
  { kind: 'bad utf8', value: raw([0xa4, 0x61, 0xff, 0xc3, 0x28]) },
  { kind: 'bin', value: raw([0xc4, 0x03, 1, 2, 3]) },
  { kind: '[]', value: raw([0x90], 1) },
  { kind: '{}', value: raw([0x80], 1) },
  { kind: '{1:,2:}', value: raw([0x82, 0x01, 0xa1, 0x61, 0x02, 0xa1, 0x62], 1) },
  { kind: 'ext 5', value: raw([0xd4, 0x05, 0x00]) },
  { kind: 'timestamp', value: raw([0xd6, 0xff, 0, 0, 0, 1]) },
  { kind: 'deep 40', value: nested(40, 'mixed') },
];

// ---------------------------------------------------------------------------------------
// Frame templates: one per (frame type, field), the field being the hole.

/** What a template is built with for one case. */
export interface CaseContext {
  /** The case's own request id (unique in the run). */
  id: number;
  /** The id of an EVENT the server waits an ACK for (1 when there is none). */
  ackId: number;
  /** CONNECT's auth that the node accepts. */
  auth: unknown;
}

export interface Template {
  frame: string;
  field: string;
  /** The message: one frame (or more) with exactly one hole. */
  tree: (ctx: CaseContext) => unknown;
  /** The frame, with a well-typed value in the hole, is answered with its own id. */
  answersId?: boolean;
  /** Bytes sent before the frame, in the same message. */
  prefix?: Uint8Array;
}

const ROOM = 'fuzz';

/** Every field position of every client frame type, known and unknown. */
export function frameTemplates(): Template[] {
  const t: Template[] = [
    { frame: '(message)', field: 'value', tree: () => HOLE },
    { frame: '(frame)', field: 'type', tree: () => [HOLE, 1] },
    { frame: 'CONNECT', field: 'version', tree: (c) => [0, HOLE, c.auth] },
    { frame: 'CONNECT', field: 'auth', tree: () => [0, 1, HOLE] },
    { frame: 'CONNECT', field: 'recover', tree: (c) => [0, 1, c.auth, HOLE] },
    { frame: 'CONNECT', field: 'recover.sid', tree: (c) => [0, 1, c.auth, [HOLE, []]] },
    {
      frame: 'CONNECT',
      field: 'recover.room',
      tree: (c) => [0, 1, c.auth, [null, [[HOLE, 0, 'e']]]],
    },
    { frame: 'CONNECT', field: 'trailing', tree: (c) => [0, 1, c.auth, null, HOLE] },
    { frame: 'JOIN', field: 'id', tree: () => [2, HOLE, ROOM] },
    { frame: 'JOIN', field: 'room', tree: (c) => [2, c.id, HOLE], answersId: true },
    { frame: 'JOIN', field: 'since', tree: (c) => [2, c.id, ROOM, HOLE], answersId: true },
    {
      frame: 'JOIN',
      field: 'since.offset',
      tree: (c) => [2, c.id, ROOM, [HOLE, 'e', null]],
      answersId: true,
    },
    { frame: 'JOIN', field: 'trailing', tree: (c) => [2, c.id, ROOM, null, HOLE], answersId: true },
    { frame: 'LEAVE', field: 'id', tree: () => [3, HOLE, 'gone'] },
    { frame: 'LEAVE', field: 'room', tree: (c) => [3, c.id, HOLE], answersId: true },
    { frame: 'LEAVE', field: 'trailing', tree: (c) => [3, c.id, 'gone', HOLE], answersId: true },
    {
      frame: 'EMIT',
      field: 'event',
      tree: (c) => [4, HOLE, 1, c.id, [ROOM], 0],
      answersId: true,
    },
    {
      frame: 'EMIT',
      field: 'data',
      tree: (c) => [4, 'fz', HOLE, c.id, [ROOM], 0],
      answersId: true,
    },
    { frame: 'EMIT', field: 'data (id 0)', tree: () => [4, 'fz', HOLE, 0, [ROOM], 0] },
    {
      frame: 'EMIT',
      field: 'data (handler)',
      tree: (c) => [4, 'fz', HOLE, c.id, null, 0],
      answersId: true,
    },
    { frame: 'EMIT', field: 'id', tree: () => [4, 'fz', 1, HOLE, [ROOM], 0] },
    { frame: 'EMIT', field: 'rooms', tree: (c) => [4, 'fz', 1, c.id, HOLE, 0], answersId: true },
    {
      frame: 'EMIT',
      field: 'rooms[0]',
      tree: (c) => [4, 'fz', 1, c.id, [HOLE], 0],
      answersId: true,
    },
    {
      frame: 'EMIT',
      field: 'flags',
      tree: (c) => [4, 'fz', 1, c.id, [ROOM], HOLE],
      answersId: true,
    },
    {
      frame: 'EMIT',
      field: 'trailing',
      tree: (c) => [4, 'fz', 1, c.id, [ROOM], 0, HOLE],
      answersId: true,
    },
    { frame: 'ACK', field: 'id', tree: () => [6, HOLE, null] },
    { frame: 'ACK', field: 'data', tree: (c) => [6, c.ackId, HOLE] },
    { frame: 'ACK', field: 'trailing', tree: (c) => [6, c.ackId, null, HOLE] },
    { frame: 'PONG', field: 'trailing', tree: () => [9, HOLE] },
    { frame: 'REFRESH', field: 'id', tree: (c) => [11, HOLE, c.auth] },
    { frame: 'REFRESH', field: 'auth', tree: (c) => [11, c.id, HOLE], answersId: true },
    { frame: 'REFRESH', field: 'trailing', tree: (c) => [11, c.id, c.auth, HOLE], answersId: true },
    {
      frame: 'PONG+EMIT',
      field: 'data',
      tree: (c) => [4, 'fz', HOLE, c.id, [ROOM], 0],
      prefix: encode([9]),
      answersId: true,
    },
  ];
  return t;
}

/** Unknown frame types: each one with one field, the hole. */
export const unknownTypes: ReadonlyArray<{ name: string; type: Raw }> = [
  ...[1, 5, 7, 8, 10, 12, 13, 42, 255, -1].map((n) => ({ name: String(n), type: raw(encode(n)) })),
  { name: '2^32', type: raw([0xcf, 0, 0, 0, 1, 0, 0, 0, 0]) },
  { name: "'x'", type: raw(encode('x')) },
  { name: '1.5', type: float64(1.5) },
  { name: 'nil', type: raw([0xc0]) },
  { name: '[]', type: raw([0x90], 1) },
  { name: '{}', type: raw([0x80], 1) },
];

export function unknownTypeTemplates(): Template[] {
  return unknownTypes.map(({ name, type }) => ({
    frame: `type ${name}`,
    field: '1',
    tree: () => [type, HOLE],
  }));
}

/** One message to send: a template with its hole filled. */
export interface FrameCase {
  frame: string;
  field: string;
  kind: string;
  template: Template;
  value: Raw;
  /** The frame's nesting depth with this value. */
  depth: number;
}

export function caseOf(template: Template, kind: string, value: Raw): FrameCase {
  const probe = template.tree({ id: 1, ackId: 1, auth: null });
  return {
    frame: template.frame,
    field: template.field,
    kind,
    template,
    value,
    depth: holeDepth(probe) + value.depth,
  };
}

/** The case's message bytes, and whether its own id should be answered. */
export function caseBytes(c: FrameCase, ctx: CaseContext): Uint8Array {
  const body = pack(fill(c.template.tree(ctx), c.value));
  return c.template.prefix ? concat([c.template.prefix, body]) : body;
}

// ---------------------------------------------------------------------------------------
// A client that records every value the edge sends, and never throws on any of them.

const looseDecoder = new Decoder();

export class WireClient {
  readonly values: unknown[] = [];
  undecodable = 0;
  closed: { code: number; reason: string } | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      try {
        for (const v of looseDecoder.decodeMulti(data)) this.values.push(v);
      } catch {
        this.undecodable++;
      }
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => undefined);
  }

  /** Opens a WebSocket; with `auth` !== undefined also sends CONNECT and waits for HELLO. */
  static async open(url: string, auth?: unknown, timeoutMs = 3000): Promise<WireClient> {
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const client = new WireClient(ws);
    if (auth !== undefined) {
      client.send(encode([0, 1, auth]));
      if (!(await client.until(() => client.hello() !== undefined || !!client.closed, timeoutMs))) {
        client.terminate();
        throw new Error('WireClient: no HELLO in time');
      }
      if (client.closed)
        throw new Error(`WireClient: closed with ${client.closed.code} at CONNECT`);
    }
    return client;
  }

  send(bytes: Uint8Array | Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  /** The HELLO map, once it came. */
  hello(): Record<string, unknown> | undefined {
    const v = this.values.find((x) => Array.isArray(x) && x[0] === 1) as unknown[] | undefined;
    return v?.[1] as Record<string, unknown> | undefined;
  }

  /** Frames of type `type` from index `from` on. */
  frames(type: number, from = 0): unknown[][] {
    return this.values.slice(from).filter((v): v is unknown[] => Array.isArray(v) && v[0] === type);
  }

  /** Resolves true once `cond` holds, false after `timeoutMs`. Never throws. */
  async until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 20));
        this.waiters.add(done);
      });
    }
    return true;
  }

  /** Joins a room; resolves with the answer frame (ACK or ERROR) or undefined. */
  async join(room: string, id: number, timeoutMs = 3000): Promise<unknown[] | undefined> {
    this.send(encode([2, id, room]));
    await this.until(() => this.answer(id) !== undefined || !!this.closed, timeoutMs);
    return this.answer(id);
  }

  /** The ACK or ERROR frame with this id. */
  answer(id: number, from = 0): unknown[] | undefined {
    return this.values
      .slice(from)
      .find((v): v is unknown[] => Array.isArray(v) && (v[0] === 6 || v[0] === 7) && v[1] === id);
  }

  terminate(): void {
    this.ws.terminate();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

// ---------------------------------------------------------------------------------------
// Sending cases and classifying the answers.

/** What the edge did with one message. */
export interface Answer {
  /** ERROR frames: [7, id, code, message]. */
  errors: unknown[][];
  close: { code: number; reason: string } | undefined;
  hello: boolean;
  /** An ACK for the case's own id. */
  acked: boolean;
  /** Neither an answer nor a close within the bound (or the sync request went unanswered). */
  silent: boolean;
  undecodable: number;
}

/** A short text for the answer: `RF_FRAME_INVALID/1002`, `ack`, `hello`, `-`. */
export function label(a: Answer): string {
  const parts = a.errors.map((e) => String(e[2]));
  let text = parts.join('+');
  if (a.close) text += `${text ? '/' : 'close '}${a.close.code}`;
  if (!text) text = a.hello ? 'hello' : a.acked ? 'ack' : a.silent ? 'NO ANSWER' : '-';
  if (a.undecodable) text += ' (undecodable)';
  return text;
}

const SYNC_ID = 4_000_000_000;

export interface RunOptions {
  url: string;
  /** CONNECT auth the node accepts. */
  auth: unknown;
  /** Before the handshake (the case is the first message) or after HELLO. */
  phase: 'handshake' | 'open';
  /** After HELLO, ask the server (event `ask`) for an EVENT that waits for an ACK. */
  pendingAck?: boolean;
  concurrency?: number;
  /** Called with every finished case (progress, early checks). */
  onResult?: (r: CaseResult) => void;
  /** Checked before each case: true stops the run (the results hold what ran). */
  abort?: () => boolean;
}

export interface CaseResult extends FrameCase {
  phase: 'handshake' | 'open';
  answer: Answer;
}

/** Runs every case on a fresh connection of its own, `concurrency` at a time. */
export async function runCases(cases: FrameCase[], opts: RunOptions): Promise<CaseResult[]> {
  const results: CaseResult[] = new Array<CaseResult>(cases.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      if (opts.abort?.()) return;
      const i = next++;
      if (i >= cases.length) return;
      const c = cases[i]!;
      const answer = await runOne(c, 100_000 + i, opts);
      results[i] = { ...c, phase: opts.phase, answer };
      opts.onResult?.(results[i]);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
  return results.filter((r) => r !== undefined);
}

async function runOne(c: FrameCase, id: number, opts: RunOptions): Promise<Answer> {
  let client: WireClient | undefined;
  try {
    if (opts.phase === 'handshake') {
      client = await WireClient.open(opts.url);
      const bytes = caseBytes(c, { id, ackId: 1, auth: opts.auth });
      client.send(bytes);
      const w = client;
      // Done at a close or HELLO; an ERROR without a close is final once 60 ms pass quietly.
      let quietSince = 0;
      let seen = 0;
      const settled = await w.until(() => {
        if (w.closed || w.hello()) return true;
        if (w.frames(7).length > 0) {
          if (w.values.length !== seen) {
            seen = w.values.length;
            quietSince = Date.now();
          }
          return Date.now() - quietSince > 60;
        }
        return false;
      }, 1500);
      return await finish(w, 0, id, !settled);
    }
    client = await WireClient.open(opts.url, opts.auth);
    const w = client;
    if ((await w.join(ROOM, 1))?.[0] !== 6) throw new Error('fuzz client could not join its room');
    let ackId = 1;
    if (opts.pendingAck) {
      w.send(encode([4, 'ask', null, 0, null, 0]));
      await w.until(() => w.frames(5).some((f) => f[1] === 'q' && f[4] !== 0), 2000);
      const ev = w.frames(5).find((f) => f[1] === 'q');
      if (ev) ackId = ev[4] as number;
    }
    const from = w.values.length;
    w.send(caseBytes(c, { id, ackId, auth: opts.auth }));
    w.send(encode([2, SYNC_ID, 'sync']));
    const expectId = c.template.answersId === true;
    const settled = await w.until(
      () =>
        !!w.closed ||
        w.ws.readyState !== WebSocket.OPEN ||
        (w.answer(SYNC_ID, from) !== undefined && (!expectId || w.answer(id, from) !== undefined)),
      2000,
    );
    return await finish(w, from, id, !settled);
  } catch (err) {
    return {
      errors: [[7, -1, `(test: ${err instanceof Error ? err.message : String(err)})`, '']],
      close: client?.closed,
      hello: false,
      acked: false,
      silent: true,
      undecodable: 0,
    };
  } finally {
    client?.terminate();
  }
}

async function finish(w: WireClient, from: number, id: number, silent: boolean): Promise<Answer> {
  // A close frame arrived (readyState CLOSING): wait for the close itself.
  if (w.ws.readyState !== WebSocket.OPEN) await w.until(() => !!w.closed, 1500);
  await sleep(1);
  return {
    errors: w.frames(7, from).filter((e) => e[1] !== SYNC_ID),
    close: w.closed,
    hello: w.hello() !== undefined && from === 0,
    acked: w.frames(6, from).some((f) => f[1] === id),
    silent,
    undecodable: w.undecodable,
  };
}

/** What is wrong with an answer under the "every rejection documented" rule; [] if nothing. */
export function undocumented(a: Answer): string[] {
  const out: string[] = [];
  for (const e of a.errors) {
    const code = String(e[2]);
    if (!isDocumentedCode(code)) out.push(`undocumented code ${code}`);
    if (code === ErrorCode.INTERNAL) out.push('RF_INTERNAL');
    if (e.length !== 4 || typeof e[3] !== 'string') out.push(`ERROR frame shape ${e.length}`);
  }
  if (a.close) {
    if (!documentedCloses.has(a.close.code)) out.push(`undocumented close ${a.close.code}`);
    const reason = a.close.reason;
    if (reason && !isDocumentedCode(reason)) out.push(`close reason ${reason}`);
    if (reason && !a.errors.some((e) => e[2] === reason)) {
      out.push(`close ${a.close.code} ${reason} without its ERROR frame`);
    }
  }
  if (a.undecodable) out.push('undecodable bytes from the edge');
  if (a.silent) out.push('no answer (the edge went quiet: hung or crashed)');
  return out;
}

/** What is wrong with a refused-too-deep answer; [] when it is ERROR TOO_DEEP id 0, close 1007. */
export function notTooDeep(a: Answer): string[] {
  const first = a.errors[0];
  const out: string[] = [];
  if (!first || first[1] !== 0 || first[2] !== TOO_DEEP || typeof first[3] !== 'string') {
    out.push(`answer ${label(a)} (want ERROR [7, 0, ${TOO_DEEP}, msg] then close 1007)`);
  } else if (a.close?.code !== CloseCode.INVALID_PAYLOAD) {
    out.push(`close ${a.close ? a.close.code : 'none'} after ${TOO_DEEP} (want 1007)`);
  } else if (a.close.reason !== TOO_DEEP) out.push(`close reason ${a.close.reason}`);
  if (a.hello) out.push('got HELLO');
  if (a.acked) out.push('the frame was acked');
  return out;
}

// ---------------------------------------------------------------------------------------
// Tables for the reader.

/** A (frame.field x value kind) grid of answers, with a legend, for the test output. */
export function answerTable(title: string, results: CaseResult[]): string {
  const kinds = [...new Set(results.map((r) => r.kind))];
  const rows = [...new Set(results.map((r) => `${r.frame}.${r.field}`))];
  const labels = new Map<string, number>();
  for (const r of results) {
    const l = label(r.answer);
    labels.set(l, (labels.get(l) ?? 0) + 1);
  }
  const sorted = [...labels.entries()].sort((a, b) => b[1] - a[1]);
  const tag = new Map<string, string>();
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  sorted.forEach(([l], i) => tag.set(l, alphabet[i] ?? '?'));
  const cell = new Map(results.map((r) => [`${r.frame}.${r.field}|${r.kind}`, r]));
  const width = Math.max(...rows.map((r) => r.length));
  const lines = [`${title}: ${results.length} cases`];
  lines.push(
    `${''.padEnd(width)}  ${kinds.map((_, i) => String.fromCharCode(65 + (i % 26))).join(' ')}`,
  );
  for (const row of rows) {
    const cells = kinds.map((k) => {
      const r = cell.get(`${row}|${k}`);
      return r ? tag.get(label(r.answer))! : ' ';
    });
    lines.push(`${row.padEnd(width)}  ${cells.join(' ')}`);
  }
  lines.push(
    'columns: ' + kinds.map((k, i) => `${String.fromCharCode(65 + (i % 26))}=${k}`).join('  '),
  );
  lines.push('answers:');
  for (const [l, n] of sorted) lines.push(`  ${tag.get(l)} ${String(n).padStart(5)}  ${l}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------
// HTTP over raw TCP.

/** What a server sent on one raw connection. */
export interface RawHttp {
  text: string;
  status: number | undefined;
  headers: Record<string, string>;
  /** The server closed (FIN or reset) within the wait. */
  ended: boolean;
  /** ms from the write to the server's close. */
  endedAfterMs: number | undefined;
  error: string | undefined;
}

/** Every raw socket a test opened, destroyed at the end even when the test fails. */
export class SocketPool {
  readonly sockets = new Set<NetSocket>();
  track(s: NetSocket): NetSocket {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    return s;
  }
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
  [Symbol.dispose](): void {
    this.destroyAll();
  }
}

/** A TCP connection to 127.0.0.1:port (half-open allowed), resolved once connected. */
export function tcp(port: number, pool: SocketPool): Promise<NetSocket> {
  return new Promise((resolve, reject) => {
    const s = pool.track(netConnect({ host: '127.0.0.1', port, allowHalfOpen: true }));
    s.on('error', () => undefined);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

export interface ProbeOptions {
  /** How long to wait for the server to close (default 1000 ms). */
  waitMs?: number;
  /** Resolve as soon as a full response header block arrived (for a 101). */
  untilHeaders?: boolean;
  /**
   * What the client does when the wait is over and the server has not closed: `destroy`
   * (default), or `end`: send FIN and keep the socket, as a client that gave up does (the
   * server's side then sits in CLOSE-WAIT until the server closes it). Either way the client
   * ends its side as soon as the server ends its own.
   */
  onTimeout?: 'destroy' | 'end';
}

/** Sends `request` on a fresh connection and reports what came back and whether it ended. */
export async function probeHttp(
  port: number,
  request: string | Buffer,
  pool: SocketPool,
  opts: ProbeOptions = {},
): Promise<RawHttp> {
  let s: NetSocket;
  try {
    s = await tcp(port, pool);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    return { text: '', status: undefined, headers: {}, ended: true, endedAfterMs: 0, error };
  }
  const started = Date.now();
  let text = '';
  let endedAfterMs: number | undefined;
  let error: string | undefined;
  s.on('data', (d: Buffer) => (text += d.toString('latin1')));
  const ended = () => {
    endedAfterMs ??= Date.now() - started;
    s.end();
  };
  s.once('end', ended);
  s.once('close', ended);
  s.on('error', (e: Error) => {
    error = e.message;
    ended();
  });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, opts.waitMs ?? 1000);
    const check = () => {
      if (endedAfterMs !== undefined || (opts.untilHeaders && text.includes('\r\n\r\n'))) {
        clearTimeout(timer);
        resolve();
      }
    };
    s.on('data', check);
    s.once('end', check);
    s.once('close', check);
    s.write(request);
  });
  if (endedAfterMs === undefined) {
    if (opts.onTimeout === 'end') s.end();
    else s.destroy();
  }
  return { text, ...parseHead(text), ended: endedAfterMs !== undefined, endedAfterMs, error };
}

function parseHead(text: string): { status: number | undefined; headers: Record<string, string> } {
  const head = text.split('\r\n\r\n')[0] ?? '';
  const [statusLine = '', ...lines] = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: m ? Number(m[1]) : undefined, headers };
}

/** A WebSocket upgrade request for `path`; `headers` replace or (value null) drop the defaults. */
export function upgradeRequest(
  path: string,
  headers: Record<string, string | null> = {},
  method = 'GET',
): string {
  const base: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  const lines = Object.entries(base)
    .filter((e): e is [string, string] => e[1] !== null)
    .map(([k, v]) => `${k}: ${v}\r\n`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join('')}\r\n`;
}

/** Paths that are not the WebSocket endpoint `/ws`. */
export const otherPaths: readonly string[] = [
  '/',
  '/ws/',
  '/WS',
  '/ws2',
  '/wss',
  '//ws',
  '/healthz',
  '/readyz',
  '/%00',
  '/ws%00',
  '/' + 'a'.repeat(4096),
  '/?x=1',
  '/ws/?x=1',
  '/ws2?a=b',
  '/healthz?ws',
  '/' + 'a'.repeat(4096) + '?q=' + 'b'.repeat(64),
];

/** Upgrades on `/ws` with headers `ws` refuses. */
export const badUpgrades: ReadonlyArray<{ name: string; request: string }> = [
  { name: 'no Sec-WebSocket-Key', request: upgradeRequest('/ws', { 'Sec-WebSocket-Key': null }) },
  { name: 'short Sec-WebSocket-Key', request: upgradeRequest('/ws', { 'Sec-WebSocket-Key': 'x' }) },
  // (`ws` also accepts version 8, the hybi-08 draft; 13 is RFC 6455's.)
  {
    name: 'Sec-WebSocket-Version 99',
    request: upgradeRequest('/ws', { 'Sec-WebSocket-Version': '99' }),
  },
  {
    name: 'Sec-WebSocket-Version abc',
    request: upgradeRequest('/ws', { 'Sec-WebSocket-Version': 'abc' }),
  },
  {
    name: 'no Sec-WebSocket-Version',
    request: upgradeRequest('/ws', { 'Sec-WebSocket-Version': null }),
  },
  { name: 'POST', request: upgradeRequest('/ws', {}, 'POST') },
  { name: 'Upgrade: h2c', request: upgradeRequest('/ws', { Upgrade: 'h2c' }) },
  { name: '20 KB header', request: upgradeRequest('/ws', { 'X-Big': 'y'.repeat(20 * 1024) }) },
  {
    name: '200 headers',
    request: upgradeRequest(
      '/ws',
      Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`X-H${i}`, 'v'.repeat(100)])),
    ),
  },
];

// ---------------------------------------------------------------------------------------
// `roomfabric dev` as a child process.

const cliBin = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url));

export interface DevChild {
  child: ChildProcess;
  port: number;
  wsUrl: string;
  httpUrl: string;
  output(): string;
  /** The process has not exited. */
  alive(): boolean;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then resolves with the ms it took to exit (undefined: not within `withinMs`). */
  stop(withinMs: number): Promise<number | undefined>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts `node packages/cli/dist/bin.js dev --port <free port>` and waits for the URLs it
 * prints. `maxFds` runs it under `ulimit -n` (as the attacked node was).
 */
export async function startDevChild(opts: { maxFds?: number } = {}): Promise<DevChild> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const args = [cliBin, 'dev', '--port', String(port)];
    const env = { ...process.env, RF_LOG_LEVEL: process.env.RF_LOG_LEVEL || 'error' };
    const child = opts.maxFds
      ? spawn(
          '/bin/sh',
          ['-c', `ulimit -n ${opts.maxFds} && exec "$0" "$@"`, process.execPath, ...args],
          { stdio: ['ignore', 'pipe', 'pipe'], env },
        )
      : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    let exited = false;
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => {
        exited = true;
        resolve({ code, signal });
      }),
    );
    const kill = () => {
      if (!exited) child.kill('SIGKILL');
    };
    process.once('exit', kill);
    const ready =
      (await eventually(() => /websocket\s+ws:\/\//.test(out) || exited, {
        timeoutMs: 15_000,
        everyMs: 20,
        soft: true,
      })) !== undefined;
    if (!ready || exited) {
      kill();
      if (attempt === 0 && /EADDRINUSE|port is taken/.test(out)) continue;
      throw new Error(`roomfabric dev did not start:\n${out}`);
    }
    const dev: DevChild = {
      child,
      port,
      wsUrl: /websocket\s+(ws:\/\/\S+)/.exec(out)![1]!,
      httpUrl: `http://127.0.0.1:${port}`,
      output: () => out,
      alive: () => !exited,
      exit,
      async stop(withinMs) {
        if (exited) return 0;
        const t0 = Date.now();
        child.kill('SIGTERM');
        const ok = await Promise.race([exit.then(() => true), sleep(withinMs).then(() => false)]);
        return ok ? Date.now() - t0 : undefined;
      },
      async [Symbol.asyncDispose]() {
        process.off('exit', kill);
        if (!exited) {
          kill();
          await exit;
        }
      },
    };
    return dev;
  }
}

/** A client's binary WebSocket frame (masked, as clients must; the key is zero). */
export function wsClientFrame(payload: Uint8Array): Buffer {
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([0x82, 0x80 | len])
      : Buffer.from([0x82, 0x80 | 126, len >> 8, len & 0xff]);
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}
