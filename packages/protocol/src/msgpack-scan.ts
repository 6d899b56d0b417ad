/**
 * A msgpack skip-parser: walks the bytes of msgpack values without decoding them, to
 * check their structure (complete, no reserved byte) and how deep arrays and maps nest.
 * It allocates nothing per value, so the edge can afford it on every client message and
 * on every payload it splices from the bus into client frames.
 */

/** {@link scanValue}'s answer for bytes that end inside a value, or hold byte 0xc1. */
export const SCAN_MALFORMED = -1;
/** {@link scanValue}'s answer for a value that nests deeper than allowed. */
export const SCAN_TOO_DEEP = -2;

/**
 * The offset just past the msgpack value that starts at `start`, or {@link SCAN_MALFORMED}
 * / {@link SCAN_TOO_DEEP}. Depth counts arrays and maps: `1` and `"a"` are depth 0, `[1]`
 * is depth 1, `[[1]]` depth 2, and an empty container counts like a full one.
 */
export function scanValue(bytes: Uint8Array, start: number, maxDepth: number): number {
  const end = bytes.length;
  // Items still to read in each open container; `remaining` is the innermost one's.
  const stack: number[] = [];
  let remaining = 1;
  let pos = start;
  for (;;) {
    while (remaining === 0) {
      if (stack.length === 0) return pos;
      remaining = stack.pop()!;
    }
    if (pos >= end) return SCAN_MALFORMED;
    const b = bytes[pos++]!;
    remaining--;
    let items = -1; // items of a container opened here
    let skip = 0; // payload bytes of a scalar
    if (b <= 0x7f || b >= 0xe0) {
      // positive and negative fixint
    } else if (b <= 0x8f) items = (b & 0x0f) * 2;
    else if (b <= 0x9f) items = b & 0x0f;
    else if (b <= 0xbf) skip = b & 0x1f;
    else {
      switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break;
        case 0xc1:
          return SCAN_MALFORMED; // never used
        case 0xc4:
        case 0xd9:
          skip = readLength(bytes, pos, 1);
          pos += 1;
          break;
        case 0xc5:
        case 0xda:
          skip = readLength(bytes, pos, 2);
          pos += 2;
          break;
        case 0xc6:
        case 0xdb:
          skip = readLength(bytes, pos, 4);
          pos += 4;
          break;
        case 0xc7:
          skip = readLength(bytes, pos, 1) + 1;
          pos += 1;
          break;
        case 0xc8:
          skip = readLength(bytes, pos, 2) + 1;
          pos += 2;
          break;
        case 0xc9:
          skip = readLength(bytes, pos, 4) + 1;
          pos += 4;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xd4:
          skip = 2;
          break;
        case 0xd5:
          skip = 3;
          break;
        case 0xd6:
          skip = 5;
          break;
        case 0xd7:
          skip = 9;
          break;
        case 0xd8:
          skip = 17;
          break;
        case 0xdc:
          items = readLength(bytes, pos, 2);
          pos += 2;
          break;
        case 0xdd:
          items = readLength(bytes, pos, 4);
          pos += 4;
          break;
        case 0xde:
          items = readLength(bytes, pos, 2) * 2;
          pos += 2;
          break;
        case 0xdf:
          items = readLength(bytes, pos, 4) * 2;
          pos += 4;
          break;
      }
    }
    if (pos > end) return SCAN_MALFORMED;
    if (items >= 0) {
      if (stack.length + 1 > maxDepth) return SCAN_TOO_DEEP;
      // Every item takes at least one byte: a count past the end is a lie, not a value.
      if (items > end - pos) return SCAN_MALFORMED;
      stack.push(remaining);
      remaining = items;
      continue;
    }
    pos += skip;
    if (pos > end) return SCAN_MALFORMED;
  }
}

function readLength(bytes: Uint8Array, pos: number, size: 1 | 2 | 4): number {
  if (pos + size > bytes.length) return bytes.length; // past the end: caught by the caller
  if (size === 1) return bytes[pos]!;
  if (size === 2) return (bytes[pos]! << 8) | bytes[pos + 1]!;
  return (
    bytes[pos]! * 0x1000000 + ((bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!)
  );
}

/**
 * True when `bytes` hold exactly one complete msgpack value nesting at most `maxDepth`
 * arrays and maps: what may be spliced into a frame as a field.
 */
export function isOneValue(bytes: Uint8Array, maxDepth: number): boolean {
  return bytes.length > 0 && scanValue(bytes, 0, maxDepth) === bytes.length;
}
