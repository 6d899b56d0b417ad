import type {
  RoomEvent,
  PresenceEvent,
  PresenceMember,
  PresenceStats,
  MemberInfo,
  Membership,
  NodeSnapshotSocket,
  ReassertOptions,
  PurgedSocket,
  RaidResult,
} from '@roomfabric/membership';
import type { IndexCallObserver } from '@roomfabric/fabric';
import { callAsync } from '@roomfabric/membership';

/**
 * A `Membership` that times every call of the one it wraps and reports it to an observer
 * (`EdgeMetrics` or `ServiceMetrics`): on Redis each call is one Lua script or command, so
 * this is the script latency as the caller sees it. The index itself stays metric-free.
 */
export class TimedMembership implements Membership {
  constructor(
    private readonly inner: Membership,
    private readonly observer: IndexCallObserver,
  ) {}

  private time<T>(op: string, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    // then(), not async/await: each join passes here, and an await costs a promise more.
    return callAsync(call).then(
      (result) => {
        this.observer.observeIndexCall(op, (performance.now() - started) / 1000, true, result);
        return result;
      },
      (err: unknown) => {
        this.observer.observeIndexCall(op, (performance.now() - started) / 1000, false);
        throw err;
      },
    );
  }

  addSocket(member: MemberInfo): Promise<void> {
    return this.time('addSocket', () => this.inner.addSocket(member));
  }
  removeSocket(socketId: string): Promise<string[]> {
    return this.time('removeSocket', () => this.inner.removeSocket(socketId));
  }
  join(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.time('join', () => this.inner.join(socketId, rooms));
  }
  leave(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.time('leave', () => this.inner.leave(socketId, rooms));
  }
  members(room: string): Promise<MemberInfo[]> {
    return this.time('members', () => this.inner.members(room));
  }
  presence(room: string): Promise<PresenceMember[]> {
    return this.time('presence', () => this.inner.presence(room));
  }
  presenceStats(room: string): Promise<PresenceStats> {
    return this.time('presenceStats', () => this.inner.presenceStats(room));
  }
  count(room: string): Promise<number> {
    return this.time('count', () => this.inner.count(room));
  }
  nodesOf(room: string): Promise<string[]> {
    return this.time('nodesOf', () => this.inner.nodesOf(room));
  }
  roomsOf(socketId: string): Promise<string[]> {
    return this.time('roomsOf', () => this.inner.roomsOf(socketId));
  }
  socket(socketId: string): Promise<MemberInfo | undefined> {
    return this.time('socket', () => this.inner.socket(socketId));
  }
  socketsOf(nodeId: string): Promise<string[]> {
    return this.time('socketsOf', () => this.inner.socketsOf(nodeId));
  }
  nodes(): Promise<string[]> {
    return this.time('nodes', () => this.inner.nodes());
  }
  totals(): Promise<{ sockets: number; nodes: number }> {
    return this.time('totals', () => this.inner.totals());
  }
  renewLease(nodeId: string, ttlMs: number): Promise<boolean> {
    return this.time('renewLease', () => this.inner.renewLease(nodeId, ttlMs));
  }
  dropLease(nodeId: string): Promise<void> {
    return this.time('dropLease', () => this.inner.dropLease(nodeId));
  }
  expiredNodes(): Promise<string[]> {
    return this.time('expiredNodes', () => this.inner.expiredNodes());
  }
  purgeNode(nodeId: string, batch?: number): Promise<PurgedSocket[]> {
    return this.time('purgeNode', () => this.inner.purgeNode(nodeId, batch));
  }
  reassert(
    nodeId: string,
    sockets: readonly NodeSnapshotSocket[],
    options?: ReassertOptions,
  ): Promise<void> {
    return this.time('reassert', () => this.inner.reassert(nodeId, sockets, options));
  }
  raid(raidId: string, from: string, to: string): Promise<RaidResult> {
    return this.time('raid', () => this.inner.raid(raidId, from, to));
  }
  onPresence(listener: (event: PresenceEvent) => void): () => void {
    return this.inner.onPresence(listener);
  }
  onRoomEvent(listener: (event: RoomEvent) => void): () => void {
    return this.inner.onRoomEvent(listener);
  }

  /** Closes the wrapped index (not timed). */
  close(): Promise<void> {
    return this.inner.close();
  }
}
