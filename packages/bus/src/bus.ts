/** Called for every message on a subscribed subject. Must not throw. */
export type BusHandler = (payload: Uint8Array, subject: string) => void;

/** An active interest in one subject. */
export interface BusSubscription {
  readonly subject: string;
  /**
   * Stops delivery to this subscription's handler at once (no message reaches the handler
   * after this returns); the server forgets the interest shortly after.
   */
  unsubscribe(): void;
}

/**
 * Carries messages between nodes. `MemoryBus` in one process, `NatsBus` across machines.
 * Subjects are dot-separated tokens; `*` matches one token and `>` the rest, as in NATS.
 * Every method that may go remote returns a Promise.
 */
export interface Bus {
  /**
   * Starts delivering messages on `subject` to `handler`. Resolves once the interest is
   * registered with the server, so that a message published after that reaches it.
   */
  subscribe(subject: string, handler: BusHandler): Promise<BusSubscription>;
  /**
   * Publishes `payload` once. Resolves once the bus has accepted it; rejects with
   * `RF_BUS_UNAVAILABLE` when it cannot. Messages from one publisher arrive in order.
   */
  publish(subject: string, payload: Uint8Array): Promise<void>;
  /** Stops every subscription and releases the connection. */
  close(): Promise<void>;
}
