import { ErrorCode, RoomfabricError, type ClientFrame } from '@roomfabric/protocol';

/** A call waiting for the server's answer, or for a connection to be sent on. */
export interface Request {
  resolve: (data: unknown) => void;
  reject: (err: RoomfabricError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  kind: 'join' | 'leave' | 'emit';
  room?: string;
  /** A join the client sent itself after a reconnect. */
  rejoin?: true;
}

/** A frame kept while offline, sent in order once the rooms are rejoined. */
export interface Queued {
  frame: (id: number) => ClientFrame;
  request?: Request;
}

/** Resolves or rejects a request (a `RoomfabricError` rejects), and stops its timer. */
export function settle(request: Request, result: RoomfabricError | unknown): void {
  clearTimeout(request.timer);
  if (result instanceof RoomfabricError) request.reject(result);
  else request.resolve(result);
}

/**
 * Where a client's requests wait: in flight on the current connection (by request id),
 * joins waiting for the next connection, and the offline queue. Each request has a timer
 * from the call on; when it fires, `onTimeout` decides what the call's failure means.
 */
export class Requests {
  readonly inFlight = new Map<number, Request>();
  /** Join calls waiting for the room's (re)join on the next connection. */
  readonly joinWaiters = new Map<string, Request[]>();
  queue: Queued[] = [];
  private nextId = 1;

  constructor(private readonly onTimeout: (request: Request, timeout: number) => void) {}

  create(
    kind: Request['kind'],
    resolve: (d: unknown) => void,
    reject: (e: RoomfabricError) => void,
    timeout: number,
    room?: string,
  ): Request {
    const request: Request = { resolve, reject, timer: undefined, kind, room };
    request.timer = setTimeout(() => this.onTimeout(request, timeout), timeout);
    return request;
  }

  /** A request id, unique among those in flight (wraps at 2^32). */
  takeId(): number {
    const id = this.nextId++;
    if (this.nextId > 0xffffffff) this.nextId = 1;
    return id;
  }

  /** Gives `request` an id and writes its frame. */
  send(
    request: Request,
    frame: (id: number) => ClientFrame,
    write: (frame: ClientFrame) => void,
  ): void {
    const id = this.takeId();
    this.inFlight.set(id, request);
    write(frame(id));
  }

  /** The request answered by the frame with this id, taken out of the table. */
  take(id: number): Request | undefined {
    const request = this.inFlight.get(id);
    if (request) this.inFlight.delete(id);
    return request;
  }

  waitForJoin(room: string, request: Request): void {
    const list = this.joinWaiters.get(room);
    if (list) list.push(request);
    else this.joinWaiters.set(room, [request]);
  }

  /** Takes a request out of wherever it waits (its timer fired). */
  forget(request: Request): void {
    for (const [id, r] of this.inFlight) if (r === request) this.inFlight.delete(id);
    this.queue = this.queue.filter((q) => q.request !== request);
    if (request.room === undefined) return;
    const waiters = this.joinWaiters.get(request.room)?.filter((w) => w !== request);
    if (waiters?.length) this.joinWaiters.set(request.room, waiters);
    else this.joinWaiters.delete(request.room);
  }

  /**
   * The connection dropped: settles what was in flight on it. Joins of rooms the client
   * still wants wait for the rejoin; leaves are done (a closed connection holds no rooms);
   * emits reject with `RF_DISCONNECTED` (the server may or may not have handled them).
   */
  failInFlight(wanted: ReadonlySet<string>): void {
    for (const [id, request] of this.inFlight) {
      this.inFlight.delete(id);
      if (request.kind === 'join' && request.room !== undefined && wanted.has(request.room)) {
        this.waitForJoin(request.room, request);
      } else if (request.kind === 'leave') {
        settle(request, null);
      } else if (request.kind === 'emit') {
        settle(
          request,
          new RoomfabricError(ErrorCode.DISCONNECTED, 'disconnected before the ack', {
            temporary: true,
          }),
        );
      }
    }
  }

  /** Nothing more will be sent: rejects everything in flight, waiting and queued. */
  failAll(err: RoomfabricError): void {
    for (const request of this.inFlight.values()) settle(request, err);
    this.inFlight.clear();
    for (const waiters of this.joinWaiters.values()) for (const w of waiters) settle(w, err);
    this.joinWaiters.clear();
    for (const item of this.queue) if (item.request) settle(item.request, err);
    this.queue = [];
  }
}
