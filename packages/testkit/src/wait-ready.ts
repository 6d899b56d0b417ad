import { describeExit, type ExitInfo } from './service-handle.js';

/** What {@link waitReady} polls and watches. */
export interface WaitReadyOptions {
  /** Service name for messages. */
  name: string;
  /** What is being waited for, e.g. `GET /healthz -> 200`. */
  what: string;
  /**
   * One readiness probe; a rejection counts as "not yet", except a {@link NotOursError},
   * which fails the wait at once. Should time out on its own.
   */
  check: () => Promise<boolean>;
  /** Settles when the process exits; never settles for services without a process. */
  exited: Promise<ExitInfo>;
  /** Captured output, quoted in errors. */
  output: () => string;
  timeoutMs: number;
  intervalMs?: number;
}

/** How much captured output an error message quotes. */
const QUOTED_OUTPUT = 8 * 1024;

const EXITED = Symbol('exited');

/**
 * Thrown by a readiness probe when what answers is another process than the one started
 * (another server holds its port): waiting longer cannot help, so {@link waitReady} fails
 * at once with this message.
 */
export class NotOursError extends Error {
  override readonly name = 'NotOursError';
}

/**
 * Polls `check` every `intervalMs` (~50 ms) until it answers true. Fails fast, quoting the
 * output, when the process exits first or `check` throws a {@link NotOursError}, and fails
 * after `timeoutMs`.
 */
export async function waitReady(options: WaitReadyOptions): Promise<void> {
  const { name, what, check, exited, output, timeoutMs, intervalMs = 50 } = options;
  const exitedMark = exited.then(() => EXITED);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await Promise.race([
      check().catch((err: unknown) => {
        if (err instanceof NotOursError) throw new Error(`${name}: ${err.message}`);
        return false;
      }),
      exitedMark,
    ]);
    if (result === EXITED) {
      const exit = await exited;
      throw new Error(
        `${name} exited before it was ready (${describeExit(exit)}) while waiting for ${what}${quote(output())}`,
      );
    }
    if (result) return;
    if (Date.now() >= deadline) {
      throw new Error(`${name} was not ready after ${timeoutMs} ms (${what})${quote(output())}`);
    }
    await Promise.race([sleep(intervalMs), exitedMark]);
  }
}

function quote(text: string): string {
  const tail = text.length > QUOTED_OUTPUT ? `...${text.slice(-QUOTED_OUTPUT)}` : text;
  return tail.trim() === '' ? '; no output' : `; output:\n${tail.trimEnd()}`;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
