import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';

// A token is one or more characters other than '.', '*', '>' and whitespace (NATS subject
// rules). One regex per call keeps validation off the allocation path of every publish.
const TOKEN = '[^.*>\\s]+';
const PUBLISH_SUBJECT = new RegExp(`^${TOKEN}(?:\\.${TOKEN})*$`);
const SUBSCRIBE_SUBJECT = new RegExp(`^(?:(?:${TOKEN}|\\*)(?:\\.(?:${TOKEN}|\\*))*(?:\\.>)?|>)$`);
const QUEUE_NAME = /^[^\s]+$/;

/** True when a subscription pattern (with `*` and `>`) matches a subject, both as tokens. */
export function subjectMatches(pattern: readonly string[], subject: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '>') return subject.length > i;
    if (i >= subject.length) return false;
    if (p !== '*' && p !== subject[i]) return false;
  }
  return pattern.length === subject.length;
}

/**
 * Throws `RF_INVALID_ARGUMENT` unless `subject` is a valid NATS subject: non-empty
 * dot-separated tokens without whitespace; with `wildcards`, a token may be `*` and the
 * last one `>`.
 */
export function checkSubject(subject: string, wildcards: boolean): void {
  if (subject.length > MAX_SUBJECT_BYTES / 4 && Buffer.byteLength(subject) > MAX_SUBJECT_BYTES) {
    // NATS closes a connection whose protocol line passes max_control_line (4 KiB by
    // default): one long subject would cut the whole process off the bus.
    throw new RoomfabricError(
      ErrorCode.INVALID_ARGUMENT,
      `subject of ${Buffer.byteLength(subject)} bytes is over the limit of ${MAX_SUBJECT_BYTES}: ${subject.slice(0, 64)}...`,
    );
  }
  if (!(wildcards ? SUBSCRIBE_SUBJECT : PUBLISH_SUBJECT).test(subject)) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `invalid subject: ${subject}`);
  }
}

/**
 * Longest subject the bus takes, in bytes: a SUB or HPUB line holding it (with a reply
 * subject, a queue group and sizes) stays within NATS's default 4 KiB control line.
 */
export const MAX_SUBJECT_BYTES = 3072;

/** Throws `RF_INVALID_ARGUMENT` unless `queue` is a valid queue group name. */
export function checkQueue(queue: string): void {
  if (!QUEUE_NAME.test(queue)) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `invalid queue group: ${queue}`);
  }
}

/** Throws `RF_INVALID_ARGUMENT` unless `timeoutMs` is a positive finite number. */
export function checkTimeout(timeoutMs: number): void {
  if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `invalid timeout: ${timeoutMs}`);
  }
}

/** The error every call on a closed bus rejects with. */
export function closedError(): RoomfabricError {
  return new RoomfabricError(ErrorCode.BUS_UNAVAILABLE, 'the bus is closed');
}
