import type WebSocket from 'ws';

/** Largest coalesced WebSocket message; bigger batches are split (a single larger frame goes alone). */
const MAX_BATCH_BYTES = 1024 * 1024;

/**
 * The last batch built in one end-of-turn flush. The frames of a broadcast are the same
 * objects for every member, so consecutive members of a room usually queued identical
 * lists; they then send the same bytes (ws does not copy or mask server frames).
 */
export class SharedBatch {
  private frames: Uint8Array[] | undefined;
  private bytes: Buffer | undefined;

  concat(out: Uint8Array[], size: number): Buffer {
    const last = this.frames;
    if (last !== undefined && last.length === out.length) {
      let same = true;
      for (let i = 0; i < out.length; i++) {
        if (last[i] !== out[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.bytes!;
    }
    const bytes = Buffer.concat(out, size);
    this.frames = out;
    this.bytes = bytes;
    return bytes;
  }
}

/**
 * Writes one socket's frames of a turn: one WebSocket message holding all of them (several
 * when they pass {@link MAX_BATCH_BYTES}; a single larger frame goes alone).
 */
export function writeFrames(
  ws: WebSocket,
  out: Uint8Array[],
  bytes: number,
  shared?: SharedBatch,
): void {
  if (out.length === 1) {
    ws.send(out[0]!);
    return;
  }
  if (bytes <= MAX_BATCH_BYTES) {
    ws.send(shared ? shared.concat(out, bytes) : Buffer.concat(out, bytes));
    return;
  }
  let batch: Uint8Array[] = [];
  let size = 0;
  for (const frame of out) {
    if (size > 0 && size + frame.length > MAX_BATCH_BYTES) {
      ws.send(Buffer.concat(batch, size));
      batch = [];
      size = 0;
    }
    batch.push(frame);
    size += frame.length;
  }
  ws.send(Buffer.concat(batch, size));
}

/** One socket's frames of the current turn, waiting for the end-of-turn write. */
export class Outbox {
  frames: Uint8Array[] = [];
  bytes = 0;
  /** True while the outbox is in the sender's list for this turn. */
  scheduled = false;

  push(frame: Uint8Array): void {
    this.frames.push(frame);
    this.bytes += frame.length;
  }

  /** Empties the outbox, returning what it held. */
  take(): { frames: Uint8Array[]; bytes: number } {
    const taken = { frames: this.frames, bytes: this.bytes };
    this.frames = [];
    this.bytes = 0;
    return taken;
  }
}

/** What the sender flushes at the end of a turn: a socket. */
export interface Flushable {
  readonly outbox: Outbox;
  /** Writes what its outbox holds; `shared` lets sockets with the same frames share bytes. */
  flush(shared: SharedBatch): void;
}

/**
 * The node's end-of-turn write: every frame a socket is given within one event-loop turn
 * goes out as one WebSocket message, one `write()`, when the turn ends (`setImmediate`).
 * Members of a room that queued the same frames share one concatenated buffer.
 */
export class Sender {
  private dirty: Flushable[] = [];
  private pending = false;

  /** Queues `socket` for this turn's write (once per turn, however many frames it gets). */
  schedule(socket: Flushable): void {
    if (socket.outbox.scheduled) return;
    socket.outbox.scheduled = true;
    this.dirty.push(socket);
    if (!this.pending) {
      this.pending = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.pending = false;
    const dirty = this.dirty;
    this.dirty = [];
    const shared = new SharedBatch();
    for (const socket of dirty) {
      socket.outbox.scheduled = false;
      socket.flush(shared);
    }
  };
}
