/** Reconnect timing: exponential backoff with jitter. */
export interface ReconnectOptions {
  /** First delay, ms. Default 250. */
  minDelayMs?: number;
  /** Largest delay, ms. Default 10000. */
  maxDelayMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Fraction of each delay that is random, 0..1. Default 0.5. */
  jitter?: number;
  /** Give up after this many attempts in a row. Default: never. */
  maxAttempts?: number;
}

export type ResolvedReconnect = Required<ReconnectOptions>;

export function resolveReconnect(
  option: boolean | ReconnectOptions | undefined,
): ResolvedReconnect | null {
  if (option === false) return null;
  const o = option === true || option === undefined ? {} : option;
  return {
    minDelayMs: o.minDelayMs ?? 250,
    maxDelayMs: o.maxDelayMs ?? 10_000,
    factor: o.factor ?? 2,
    jitter: Math.min(1, Math.max(0, o.jitter ?? 0.5)),
    maxAttempts: o.maxAttempts ?? Infinity,
  };
}

/** Delay before reconnect attempt number `attempt` (0-based). */
export function backoffDelay(r: ResolvedReconnect, attempt: number, random = Math.random): number {
  const base = Math.min(r.maxDelayMs, r.minDelayMs * r.factor ** attempt);
  return Math.round(base * (1 - r.jitter * random()));
}
