/**
 * Where the client stands in each room it wants to be in, as centrifuge-js keeps its
 * subscriptions: `subscribing` (asked, or to be rejoined after a reconnect), `subscribed`
 * (the server acknowledged it on this connection), `unsubscribed` (not wanted: never
 * joined, left, refused for good, moved out of by a raid, taken away by the server).
 */
export type RoomState = 'unsubscribed' | 'subscribing' | 'subscribed';

/** One transition of a room's state, with why: a close code (0 for none) and a reason. */
export interface RoomStateChange {
  room: string;
  state: RoomState;
  code: number;
  /** An `RF_` code, or `join`, `leave`, `moved`, `rejoin` for the client's own steps. */
  reason: string;
}

/** The client's rooms and their states; every transition is reported once. */
export class RoomStates {
  private readonly states = new Map<string, 'subscribing' | 'subscribed'>();
  /** The rooms not unsubscribed: the client's `rooms`, rejoined after a reconnect. */
  readonly wanted = new Set<string>();
  /** Rooms whose rejoin is being retried on this connection (refused for now). */
  private readonly retrying = new Set<string>();

  constructor(private readonly notify: (change: RoomStateChange) => void) {}

  state(room: string): RoomState {
    return this.states.get(room) ?? 'unsubscribed';
  }

  has(room: string): boolean {
    return this.states.has(room);
  }

  subscribing(room: string, code: number, reason: string): void {
    this.set(room, 'subscribing', code, reason);
  }

  subscribed(room: string): void {
    this.retrying.delete(room);
    this.set(room, 'subscribed', 0, 'joined');
  }

  /** Out of `room`; false when it was not wanted anyway. */
  unsubscribed(room: string, code: number, reason: string): boolean {
    this.retrying.delete(room);
    if (!this.states.delete(room)) return false;
    this.wanted.delete(room);
    this.notify({ room, state: 'unsubscribed', code, reason });
    return true;
  }

  /** The connection dropped: every subscribed room is to be rejoined. */
  connectionLost(code: number, reason: string): void {
    this.retrying.clear();
    for (const [room, state] of this.states) {
      if (state === 'subscribed') this.set(room, 'subscribing', code, reason);
    }
  }

  /** Nothing will be rejoined: every room is out. */
  clear(code: number, reason: string): void {
    for (const room of [...this.states.keys()]) this.unsubscribed(room, code, reason);
  }

  markRetrying(room: string): void {
    this.retrying.add(room);
  }

  isRetrying(room: string): boolean {
    return this.retrying.has(room);
  }

  stopRetrying(room?: string): void {
    if (room === undefined) this.retrying.clear();
    else this.retrying.delete(room);
  }

  private set(room: string, state: 'subscribing' | 'subscribed', code: number, reason: string) {
    if (this.states.get(room) === state) return;
    this.states.set(room, state);
    this.wanted.add(room);
    this.notify({ room, state, code, reason });
  }
}
