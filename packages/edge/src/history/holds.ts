/** A live entry of a history room, held for a socket that is catching up on the room. */
export interface Held {
  offset: number;
  frame: Uint8Array;
}

interface HoldState {
  /** Rooms whose live entries wait here while the socket catches up on them. */
  holding: Map<string, Held[]> | undefined;
  /**
   * Rooms the socket caught up on, with the last offset it was sent there: live entries up
   * to it are not sent again. Dropped at the first later entry (from there on, a room's
   * order is increasing).
   */
  caughtUpTo: Map<string, number> | undefined;
  /** Until HELLO: hold the live entries of every history room (the connect catch-up). */
  all: boolean;
}

/**
 * Who holds what while sockets catch up on history rooms: the one owner of that state
 * (sockets of this node are the keys). A catch-up holds a room's live entries from before
 * it reads the room's history, sends what it read, then the held entries after it, then
 * stops holding: every event once, in offset order, none lost in the handover. The
 * delivery path asks {@link admit} for every live entry of a history room.
 */
export class HistoryHolds<S extends object> {
  private readonly states = new WeakMap<S, HoldState>();
  /** Sockets with any state here: when none, `admit` costs nothing. */
  private active = 0;

  private state(socket: S): HoldState {
    let s = this.states.get(socket);
    if (!s) {
      s = { holding: undefined, caughtUpTo: undefined, all: false };
      this.states.set(socket, s);
      this.active++;
    }
    return s;
  }

  private tidy(socket: S, s: HoldState): void {
    if (s.all || s.holding?.size || s.caughtUpTo?.size) return;
    this.states.delete(socket);
    this.active--;
  }

  /** Starts holding `room`'s live entries for `socket`; returns the list they go to. */
  hold(socket: S, room: string): Held[] {
    const list: Held[] = [];
    (this.state(socket).holding ??= new Map()).set(room, list);
    return list;
  }

  isHolding(socket: S, room: string): boolean {
    return this.states.get(socket)?.holding?.has(room) ?? false;
  }

  /** What was held for `room` so far. */
  held(socket: S, room: string): readonly Held[] {
    return this.states.get(socket)?.holding?.get(room) ?? [];
  }

  /** Stops holding `room` (what was held is the caller's, from {@link held} or {@link hold}). */
  unhold(socket: S, room: string): void {
    const s = this.states.get(socket);
    if (!s?.holding) return;
    s.holding.delete(room);
    if (s.holding.size === 0) s.holding = undefined;
    this.tidy(socket, s);
  }

  /** From now until {@link releaseAll}: hold the live entries of every history room. */
  holdAll(socket: S): void {
    this.state(socket).all = true;
  }

  holdsAll(socket: S): boolean {
    return this.states.get(socket)?.all ?? false;
  }

  /**
   * Stops holding everything. Returns what was held for rooms `covered` does not name
   * (their catch-up did not send it) that `stillIn` says the socket is still in.
   */
  releaseAll(
    socket: S,
    covered: ReadonlySet<string>,
    stillIn: (room: string) => boolean,
  ): Uint8Array[] {
    const s = this.states.get(socket);
    if (!s?.all) return [];
    s.all = false;
    const rest: Uint8Array[] = [];
    for (const [room, held] of s.holding ?? []) {
      if (covered.has(room) || !stillIn(room)) continue;
      for (const h of held) rest.push(h.frame);
    }
    s.holding = undefined;
    this.tidy(socket, s);
    return rest;
  }

  /** The socket was sent `room` up to `offset`: live entries up to it are not sent again. */
  caughtUp(socket: S, room: string, offset: number): void {
    (this.state(socket).caughtUpTo ??= new Map()).set(room, offset);
  }

  /** The socket left `room`: nothing of it is remembered. */
  forget(socket: S, room: string): void {
    const s = this.states.get(socket);
    if (!s?.caughtUpTo?.delete(room)) return;
    this.tidy(socket, s);
  }

  /**
   * A live entry of history room `room` at `offset` for `socket`: true to send it now;
   * false when it was held (a catch-up is running) or was sent already by a catch-up.
   */
  admit(socket: S, room: string, offset: number, frame: Uint8Array): boolean {
    if (this.active === 0) return true;
    const s = this.states.get(socket);
    if (!s) return true;
    const held = s.holding?.get(room) ?? (s.all ? this.hold(socket, room) : undefined);
    if (held) {
      held.push({ offset, frame });
      return false;
    }
    const caughtUp = s.caughtUpTo?.get(room);
    if (caughtUp === undefined) return true;
    if (offset <= caughtUp) return false;
    s.caughtUpTo!.delete(room); // from here on, the room's order is increasing
    this.tidy(socket, s);
    return true;
  }
}
