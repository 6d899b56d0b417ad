import { Encoder } from '@msgpack/msgpack';

const shared = new Encoder();

/**
 * msgpack bytes of `value`, written by one encoder kept for the process: `encode()` of
 * `@msgpack/msgpack` builds a new encoder (and its 2 KiB buffer) for every call, which
 * showed in the join profile. The bytes returned are the caller's own (a copy out of the
 * shared buffer), and a nested call (from an extension) gets an encoder of its own. Throws
 * what `encode()` throws, and the encoder stays usable afterwards.
 */
export function pack(value: unknown): Uint8Array {
  return shared.encode(value);
}
