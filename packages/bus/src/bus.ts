/** Headers of a message (NATS headers). Names are case-sensitive. */
export interface BusHeaders {
  get(name: string): string | undefined;
}

/**
 * Called for every message on a subscribed subject. `reply` is set when the publisher
 * waits for an answer (see {@link Bus.request}): answer with `bus.publish(reply, ...)`.
 * `headers` is set when the message has some (history messages: see `History`).
 * Must not throw.
 */
export type BusHandler = (
  payload: Uint8Array,
  subject: string,
  reply: string | undefined,
  headers: BusHeaders | undefined,
) => void;

/** An active interest in one subject. */
export interface BusSubscription {
  readonly subject: string;
  /**
   * Stops delivery to this subscription's handler at once (no message reaches the handler
   * after this returns); the server forgets the interest shortly after.
   */
  unsubscribe(): void;
}

export interface SubscribeOptions {
  /**
   * Queue group: each message goes to one member of the group instead of all of them
   * (NATS queue subscriptions). Used by membership service replicas.
   */
  queue?: string;
}

export interface PublishOptions {
  /** Subject the receiver should answer on. */
  reply?: string;
  /** Message headers. */
  headers?: Readonly<Record<string, string>>;
}

export interface RequestOptions {
  /** Default 5000. Past it the request rejects with `RF_REQUEST_TIMEOUT`. */
  timeoutMs?: number;
}

/** `connected`: messages flow. `reconnecting`: the link is down and being restored. */
export type BusStatus = 'connected' | 'reconnecting' | 'closed';

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
  subscribe(
    subject: string,
    handler: BusHandler,
    options?: SubscribeOptions,
  ): Promise<BusSubscription>;
  /**
   * Publishes `payload` once. Resolves once the bus has accepted it; rejects with
   * `RF_BUS_UNAVAILABLE` when it cannot (closed, or disconnected past the buffer bound).
   * Messages from one publisher arrive in order.
   */
  publish(subject: string, payload: Uint8Array, options?: PublishOptions): Promise<void>;
  /**
   * Publishes and waits for one answer. Rejects with `RF_NO_RESPONDERS` when nobody
   * subscribes to `subject`, `RF_REQUEST_TIMEOUT` when no answer comes in time.
   */
  request(subject: string, payload: Uint8Array, options?: RequestOptions): Promise<Uint8Array>;
  /** Resolves once everything published so far has reached the server. */
  flush(): Promise<void>;
  /** The link's state; `onStatus` listeners hear every change. */
  readonly status: BusStatus;
  onStatus(listener: (status: BusStatus) => void): () => void;
  /** Stops every subscription and releases the connection. */
  close(): Promise<void>;
}
