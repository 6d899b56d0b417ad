/**
 * Per-socket flood control: two token buckets, frames per second and bytes per second,
 * each holding one second's worth. A frame over budget is refused; a socket that keeps
 * sending at more than twice its allowance for a second is cut off.
 */
export class RateLimiter {
  private frames: number;
  private bytes: number;
  private last: number;
  /** Frames refused in the current one-second window. */
  private refused = 0;
  private windowStart: number;
  private lastNotice = 0;

  constructor(
    private readonly framesPerSecond: number,
    private readonly bytesPerSecond: number,
    now = Date.now(),
  ) {
    this.frames = framesPerSecond;
    this.bytes = bytesPerSecond;
    this.last = now;
    this.windowStart = now;
  }

  /** Takes `n` bytes for one WebSocket message; false when over the byte budget. */
  takeBytes(n: number, now = Date.now()): boolean {
    this.refill(now);
    if (this.bytes < n) return this.refuse(now);
    this.bytes -= n;
    return true;
  }

  /** Takes one frame; false when over the frame budget. */
  takeFrame(now = Date.now()): boolean {
    this.refill(now);
    if (this.frames < 1) return this.refuse(now);
    this.frames -= 1;
    return true;
  }

  /** True when the socket has refused more frames this second than it is allowed in total. */
  get abusive(): boolean {
    return this.refused > this.framesPerSecond;
  }

  /** True at most once a second: whether to tell the client it is being limited. */
  shouldNotify(now = Date.now()): boolean {
    if (now - this.lastNotice < 1000) return false;
    this.lastNotice = now;
    return true;
  }

  private refuse(now: number): false {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.refused = 0;
    }
    this.refused++;
    return false;
  }

  private refill(now: number): void {
    const elapsed = (now - this.last) / 1000;
    if (elapsed <= 0) return;
    this.last = now;
    this.frames = Math.min(this.framesPerSecond, this.frames + elapsed * this.framesPerSecond);
    this.bytes = Math.min(this.bytesPerSecond, this.bytes + elapsed * this.bytesPerSecond);
  }
}
