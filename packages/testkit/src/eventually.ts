/** Options of {@link eventually}. */
export interface EventuallyOptions {
  /** Give up after this long, ms. Default 3000. */
  timeoutMs?: number;
  /** What is waited for, in the error. */
  what?: string;
  /** Pause between checks, ms. Default 10. */
  everyMs?: number;
  /** Resolve with undefined after the timeout instead of throwing (the caller asserts). */
  soft?: boolean;
}

/**
 * Checks `check` until it holds, every `everyMs`; a check that throws counts as "not
 * yet" (a server that is down answers nothing). Resolves with the ms it took; after
 * `timeoutMs` throws `timed out waiting for <what>` (with the check's last error, if it
 * threw), or with `soft` resolves undefined.
 * The one way the tests wait for something.
 *
 * @example
 * await eventually(() => got.length === 3, { what: 'three events' });
 * const ms = await eventually(async () => (await index.count('r')) === 0, { timeoutMs: 5000, soft: true });
 */
export function eventually(
  check: () => boolean | Promise<boolean>,
  options: EventuallyOptions & { soft: true },
): Promise<number | undefined>;
export function eventually(
  check: () => boolean | Promise<boolean>,
  options?: EventuallyOptions,
): Promise<number>;
export async function eventually(
  check: () => boolean | Promise<boolean>,
  options: EventuallyOptions = {},
): Promise<number | undefined> {
  const { timeoutMs = 3000, what = 'condition', everyMs = 10, soft = false } = options;
  const started = performance.now();
  let lastError: unknown;
  for (;;) {
    const ok = await Promise.resolve()
      .then(check)
      .catch((err: unknown) => {
        lastError = err;
        return false;
      });
    const elapsed = performance.now() - started;
    if (ok) return Math.round(elapsed);
    if (elapsed > timeoutMs) {
      if (soft) return undefined;
      const why = lastError === undefined ? '' : `; the check last threw: ${String(lastError)}`;
      throw new Error(`timed out waiting for ${what} (${timeoutMs} ms)${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
