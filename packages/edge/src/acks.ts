import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';

interface PendingAck {
  resolve: (data: unknown) => void;
  reject: (err: RoomfabricError) => void;
  timer: NodeJS.Timeout;
}

/**
 * The acks a socket waits for (`socket.emitWithAck`): ids from 1, wrapping at 2^32, each
 * with its timeout; settled by the client's ACK, or rejected when the socket closes.
 */
export class PendingAcks {
  private readonly byId = new Map<number, PendingAck>();
  private nextId = 1;

  /** A new id, and the Promise that settles with its answer (or `RF_ACK_TIMEOUT`). */
  create(event: string, timeoutMs: number): { id: number; answer: Promise<unknown> } {
    const id = this.nextId++;
    if (this.nextId > 0xffffffff) this.nextId = 1;
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.byId.delete(id);
        reject(
          new RoomfabricError(
            ErrorCode.ACK_TIMEOUT,
            `no ack for "${event}" within ${timeoutMs} ms`,
            { temporary: true },
          ),
        );
      }, timeoutMs);
      this.byId.set(id, { resolve, reject, timer });
    });
    return { id, answer };
  }

  /** Resolves the ack `id` with `data`; false for an id nobody waits for. */
  settle(id: number, data: unknown): boolean {
    const pending = this.byId.get(id);
    if (!pending) return false;
    this.byId.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(data);
    return true;
  }

  /** Rejects every pending ack with `RF_DISCONNECTED`. */
  disconnected(): void {
    for (const pending of this.byId.values()) {
      clearTimeout(pending.timer);
      pending.reject(new RoomfabricError(ErrorCode.DISCONNECTED, 'the socket disconnected'));
    }
    this.byId.clear();
  }
}
