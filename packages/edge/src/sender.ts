import type WebSocket from 'ws';

/** Largest coalesced WebSocket message; bigger batches are split (a single larger frame goes alone). */
const MAX_BATCH_BYTES = 1024 * 1024;

/**
 * @internal The last batch built in one end-of-turn flush. The frames of a broadcast are
 * the same objects for every member, so consecutive members of a room usually queued
 * identical lists; they then send the same bytes (ws does not copy or mask server frames).
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
