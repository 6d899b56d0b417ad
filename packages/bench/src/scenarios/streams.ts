import { Decoder, encode } from '@msgpack/msgpack';
import { createEdge, createJsonLogger } from '@roomfabric/edge';
import { BroadcastFlag, FrameType, PROTOCOL_VERSION } from '@roomfabric/protocol';
import WebSocket from 'ws';
import { table, type Progress } from '../report.js';
import type { Check, ScenarioResult } from '../scenario.js';

export interface StreamsOptions {
  /** Players in the room, each sending its position at `hz`. */
  players: number;
  hz: number;
  /** Ticks per second of the batched stream. */
  tickHz: number;
  durationMs: number;
}

interface ModeFigures {
  mode: string;
  updatesSent: number;
  /** WebSocket messages and bytes received per member per second. */
  framesPerMemberPerSec: number;
  /** Events (protocol frames) each member must handle per second. */
  eventsPerMemberPerSec: number;
  bytesPerMemberPerSec: number;
  /** Socket writes by the edge per second (one coalesced write per socket per turn). */
  writesPerSec: number;
  edgeDeliveriesPerSec: number;
  /** Positions a member could not have (players whose latest value never reached it). */
  staleAtEnd: number;
}

/**
 * The 60 fps game case: `players` clients in one room each send their position `hz` times a
 * second. Naive: every update is a volatile room broadcast (each member gets players x hz
 * messages a second). Batched: updates go to the edge's handler, a `TickStream` keeps the
 * latest per player and sends one batch per tick. Same process, same clients, one after the
 * other. Clients count WebSocket frames and bytes without decoding, except the last position
 * of every player, checked at the end.
 */
export async function streams(o: StreamsOptions, progress: Progress): Promise<ScenarioResult> {
  const naive = await runMode('naive', o, progress);
  const batched = await runMode('batched', o, progress);
  progress.end();
  const checks: Check[] = [naive, batched].map((f) => ({
    what: `${f.mode}: players whose last position reached a member`,
    delivered: o.players - f.staleAtEnd,
    expected: o.players,
    ok: f.staleAtEnd === 0,
  }));
  const ratio = {
    eventsPerMember: batched.eventsPerMemberPerSec / naive.eventsPerMemberPerSec,
    framesPerMember: batched.framesPerMemberPerSec / naive.framesPerMemberPerSec,
    bytesPerMember: batched.bytesPerMemberPerSec / naive.bytesPerMemberPerSec,
    deliveries: batched.edgeDeliveriesPerSec / naive.edgeDeliveriesPerSec,
  };
  const row = (f: ModeFigures) => [
    f.mode,
    f.updatesSent,
    Math.round(f.eventsPerMemberPerSec),
    Math.round(f.framesPerMemberPerSec),
    Math.round(f.bytesPerMemberPerSec),
    Math.round(f.edgeDeliveriesPerSec),
    Math.round(f.writesPerSec),
  ];
  const text = table(
    [
      'mode',
      'updates sent',
      'events/s per member',
      'ws msgs/s per member',
      'bytes/s per member',
      'edge deliveries/s',
      'edge writes/s',
    ],
    [row(naive), row(batched)],
  );
  return {
    scenario: 'streams',
    params: { ...o },
    ours: { naive, batched },
    ratio,
    goals: [],
    checks,
    table: `${text}\n\nbatched / naive: events per member ${ratio.eventsPerMember.toFixed(3)}, ws messages per member ${ratio.framesPerMember.toFixed(3)}, bytes per member ${ratio.bytesPerMember.toFixed(3)}, deliveries ${ratio.deliveries.toFixed(3)}`,
  };
}

async function runMode(
  mode: 'naive' | 'batched',
  o: StreamsOptions,
  progress: Progress,
): Promise<ModeFigures> {
  progress.step(`${mode}: ${o.players} players at ${o.hz} Hz`);
  const edge = createEdge({
    policy: 'open',
    logger: createJsonLogger({ level: 'error' }),
    limits: { maxFramesPerSecond: o.hz * 4 },
  });
  const stream = edge.stream('arena', { event: 'positions', hz: o.tickHz });
  edge.on('connection', (socket) => {
    socket.on('pos', (p) => stream.set(socket.id, p));
  });
  const { port } = await edge.listen(0);
  const clients: Member[] = [];
  try {
    for (let i = 0; i < o.players; i++) clients.push(await open(`ws://127.0.0.1:${port}/ws`));
    await Promise.all(clients.map((c, i) => join(c.ws, i)));
    for (const c of clients) {
      c.frames = 0;
      c.bytes = 0;
      c.ws.on('message', (data: Buffer) => {
        c.frames++;
        c.bytes += data.length;
      });
    }
    const before = edge.stats();
    const started = performance.now();
    let updates = 0;
    let tick = 0;
    const lastSent = new Array<number>(o.players).fill(-1);
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        tick++;
        clients.forEach((c, i) => {
          const data = { p: i, t: tick, x: tick % 800, y: i };
          const frame =
            mode === 'naive'
              ? encode([FrameType.EMIT, 'pos', data, 0, ['arena'], BroadcastFlag.VOLATILE])
              : encode([FrameType.EMIT, 'pos', data, 0, null, 0]);
          c.ws.send(frame);
          lastSent[i] = tick;
          updates++;
        });
        if (performance.now() - started >= o.durationMs) {
          clearInterval(timer);
          resolve();
        }
      }, 1000 / o.hz);
    });
    await new Promise((r) => setTimeout(r, 300 + 1000 / o.tickHz));
    const seconds = (performance.now() - started) / 1000;
    const after = edge.stats();
    // The last position of every player must have reached member 0 (naive: except its own).
    const seen = lastPositions(collected.get(clients[0]!.ws) ?? []);
    let stale = 0;
    for (let i = 0; i < o.players; i++) {
      if (mode === 'naive' && i === 0) continue;
      if (seen.get(i) !== lastSent[i]) stale++;
    }
    const members = clients.length;
    return {
      mode,
      updatesSent: updates,
      framesPerMemberPerSec: clients.reduce((n, c) => n + c.frames, 0) / members / seconds,
      eventsPerMemberPerSec: (after.deliveries - before.deliveries) / members / seconds,
      bytesPerMemberPerSec: clients.reduce((n, c) => n + c.bytes, 0) / members / seconds,
      writesPerSec: (after.writes - before.writes) / seconds,
      edgeDeliveriesPerSec: (after.deliveries - before.deliveries) / seconds,
      staleAtEnd: stale,
    };
  } finally {
    for (const c of clients) c.ws.terminate();
    await edge.close();
  }
}

/** Member 0 keeps every message, to check the final positions. */
const collected = new WeakMap<WebSocket, Buffer[]>();

function lastPositions(messages: Buffer[]): Map<number, number> {
  const latest = new Map<number, number>();
  for (const message of messages) {
    for (const value of decodeAll(message)) {
      const frame = value as unknown[];
      if (frame[0] !== FrameType.EVENT) continue;
      // Naive: one position per event; batched: a map of socket id -> latest position.
      const data = frame[2] as Record<string, unknown>;
      const entries = (typeof data.p === 'number' ? [data] : Object.values(data)) as Array<{
        p: number;
        t: number;
      } | null>;
      for (const e of entries) if (e && (latest.get(e.p) ?? -1) < e.t) latest.set(e.p, e.t);
    }
  }
  return latest;
}

function decodeAll(bytes: Buffer): unknown[] {
  return [...decoder.decodeMulti(bytes)];
}

const decoder = new Decoder();

interface Member {
  ws: WebSocket;
  frames: number;
  bytes: number;
}

function open(url: string): Promise<Member> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('error', reject);
    ws.once('open', () => ws.send(encode([FrameType.CONNECT, PROTOCOL_VERSION, null])));
    ws.once('message', () => resolve({ ws, frames: 0, bytes: 0 }));
  });
}

function join(ws: WebSocket, i: number): Promise<void> {
  if (i === 0) {
    const kept: Buffer[] = [];
    collected.set(ws, kept);
    ws.on('message', (data: Buffer) => kept.push(data));
  }
  return new Promise((resolve) => {
    ws.once('message', () => resolve());
    ws.send(encode([FrameType.JOIN, 1, 'arena']));
  });
}
