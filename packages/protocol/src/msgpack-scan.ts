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
/** {@link scanValue}'s answer, with `utf8`, for a str that is not valid UTF-8. */
export const SCAN_BAD_UTF8 = -3;

/**
 * The offset just past the msgpack value that starts at `start`, or {@link SCAN_MALFORMED}
 * / {@link SCAN_TOO_DEEP} / {@link SCAN_BAD_UTF8}. Depth counts arrays and maps: `1` and
 * `"a"` are depth 0, `[1]` is depth 1, `[[1]]` depth 2, and an empty container counts like
 * a full one. With `utf8`, every str must be valid UTF-8 (msgpack's decoder would turn an
 * invalid one into other characters without a word, so a room id could change on the way).
 */
export function scanValue(
  bytes: Uint8Array,
  start: number,
  maxDepth: number,
  utf8 = false,
): number {
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
    let text = false; // the payload is a str
    if (b <= 0x7f || b >= 0xe0) {
      // positive and negative fixint
    } else if (b <= 0x8f) items = (b & 0x0f) * 2;
    else if (b <= 0x9f) items = b & 0x0f;
    else if (b <= 0xbf) {
      skip = b & 0x1f;
      text = true;
    } else {
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
          text = b === 0xd9;
          break;
        case 0xc5:
        case 0xda:
          skip = readLength(bytes, pos, 2);
          pos += 2;
          text = b === 0xda;
          break;
        case 0xc6:
        case 0xdb:
          skip = readLength(bytes, pos, 4);
          pos += 4;
          text = b === 0xdb;
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
    if (pos + skip > end) return SCAN_MALFORMED;
    if (text && utf8 && !isUtf8(bytes, pos, pos + skip)) return SCAN_BAD_UTF8;
    pos += skip;
  }
}

/**
 * True when `bytes[from..to)` is well-formed UTF-8 (RFC 3629: shortest forms only, no
 * surrogates, nothing past U+10FFFF). Pure JavaScript, so browsers can run it too.
 */
export function isUtf8(bytes: Uint8Array, from = 0, to = bytes.length): boolean {
  let i = from;
  while (i < to) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
      cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
      cp = b & 0x07;
    } else {
      return false;
    }
    if (i + need >= to) return false; // the sequence runs past the string
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k]!;
      if ((c & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += need + 1;
  }
  return true;
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
export function isOneValue(bytes: Uint8Array, maxDepth: number, utf8 = false): boolean {
  return bytes.length > 0 && scanValue(bytes, 0, maxDepth, utf8) === bytes.length;
}
