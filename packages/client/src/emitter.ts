type Listener = (...args: never[]) => void;

/** A tiny event emitter that works in browsers and Node alike. */
export class Emitter<Events extends Record<string, Listener>> {
  private readonly listeners = new Map<string, Set<Listener>>();

  /** @internal */
  protected addListener(event: string, fn: Listener): void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
  }

  /** @internal */
  protected removeListener(event: string, fn: Listener): void {
    this.listeners.get(event)?.delete(fn);
  }

  /** @internal Calls every listener; a throwing listener does not stop the others. */
  protected fire(event: string, ...args: unknown[]): boolean {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return false;
    for (const fn of [...set]) {
      try {
        (fn as (...a: unknown[]) => void)(...args);
      } catch (err) {
        // Report on a later tick so that one bad listener cannot break the client.
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
    return true;
  }

  /** @internal */
  protected has(event: keyof Events & string): boolean {
    return (this.listeners.get(event)?.size ?? 0) > 0;
  }
}
