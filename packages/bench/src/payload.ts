import { encode } from '@msgpack/msgpack';
import { encodeEventFrame } from '@roomfabric/protocol';

/*
 * The benchmark message: event "m" with a string of DATA_BYTES ASCII characters whose first
 * 16 are the publish time in microseconds of the machine's monotonic clock (CLOCK_MONOTONIC,
 * shared by every process on the host). For a given room every frame of a system has the
 * same length, so a load client counts frames as bytes / length and reads a timestamp at a
 * fixed offset, without decoding anything.
 */

/** Event name of every benchmark message. */
export const EVENT = 'm';
/** Default size of a message's data, in bytes. */
export const DATA_BYTES = 100;
/** Digits of the embedded timestamp. */
export const TS_DIGITS = 16;

const PAD = 'x'.repeat(64 * 1024);

/** Microseconds of the monotonic clock (the same clock in every process of the machine). */
export function nowMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** One message's data: the publish time, then padding up to `size` characters. */
export function makeData(size = DATA_BYTES): string {
  return String(nowMicros()).padStart(TS_DIGITS, '0') + PAD.slice(0, size - TS_DIGITS);
}

/** Reads the 16-digit timestamp at `offset`. */
export function readMicros(buf: Uint8Array, offset: number): number {
  let v = 0;
  for (let i = offset; i < offset + TS_DIGITS; i++) v = v * 10 + (buf[i]! - 48);
  return v;
}

/** Length of every frame of one stream and where its timestamp sits. */
export interface FrameShape {
  length: number;
  tsOffset: number;
}

/** A Roomfabric EVENT frame for a broadcast to `room` (the bytes every member gets). */
export function rfFrame(room: string, size = DATA_BYTES): Uint8Array {
  return encodeEventFrame(EVENT, encode(makeData(size)), room, 0);
}

/** Shape of Roomfabric EVENT frames for `room` (also what the ws ceiling writes). */
export function rfShape(room: string, size = DATA_BYTES): FrameShape {
  const frame = rfFrame(room, size);
  // [0x95, 5, str "m", str header of the data, data...]
  const strHeader = size < 32 ? 1 : size < 0x100 ? 2 : size < 0x10000 ? 3 : 5;
  return { length: frame.length, tsOffset: 2 + 1 + EVENT.length + strHeader };
}

/** Shape of Socket.IO text packets `42["m","<data>"]`, whatever the room. */
export function sioShape(size = DATA_BYTES): FrameShape {
  const prefix = `42${JSON.stringify([EVENT, ''])}`.length - 2; // up to the opening quote
  return { length: `42${JSON.stringify([EVENT, makeData(size)])}`.length, tsOffset: prefix };
}
