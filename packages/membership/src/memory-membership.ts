import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type { MemberInfo, Membership } from './membership.js';

interface Entry {
  info: MemberInfo;
  rooms: Set<string>;
}

/**
 * The in-process index of embedded mode. Several edges in one process may share one
 * instance. Each method changes its maps synchronously, so every change is atomic with
 * respect to every reader; it still answers through Promises so that it passes the same
 * contract suite as `RedisMembership`.
 */
export class MemoryMembership implements Membership {
  private readonly sockets = new Map<string, Entry>();
  private readonly rooms = new Map<string, Set<string>>();
  private closed = false;

  addSocket(member: MemberInfo): Promise<void> {
    return this.run(() => {
      const existing = this.sockets.get(member.socketId);
      if (existing) existing.info = { ...member };
      else this.sockets.set(member.socketId, { info: { ...member }, rooms: new Set() });
    });
  }

  removeSocket(socketId: string): Promise<string[]> {
    return this.run(() => {
      const entry = this.sockets.get(socketId);
      if (!entry) return [];
      this.sockets.delete(socketId);
      const left = [...entry.rooms];
      for (const room of left) this.removeMember(room, socketId);
      return left;
    });
  }

  join(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.run(() => {
      const entry = this.sockets.get(socketId);
      if (!entry) {
        throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `unknown socket ${socketId}`);
      }
      const added: string[] = [];
      for (const room of rooms) {
        if (entry.rooms.has(room)) continue;
        entry.rooms.add(room);
        let members = this.rooms.get(room);
        if (!members) this.rooms.set(room, (members = new Set()));
        members.add(socketId);
        added.push(room);
      }
      return added;
    });
  }

  leave(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.run(() => {
      const entry = this.sockets.get(socketId);
      if (!entry) return [];
      const left: string[] = [];
      for (const room of rooms) {
        if (!entry.rooms.delete(room)) continue;
        this.removeMember(room, socketId);
        left.push(room);
      }
      return left;
    });
  }

  members(room: string): Promise<MemberInfo[]> {
    return this.run(() => {
      const out: MemberInfo[] = [];
      for (const id of this.rooms.get(room) ?? []) {
        const entry = this.sockets.get(id);
        if (entry) out.push({ ...entry.info });
      }
      return out;
    });
  }

  count(room: string): Promise<number> {
    return this.run(() => this.rooms.get(room)?.size ?? 0);
  }

  roomsOf(socketId: string): Promise<string[]> {
    return this.run(() => [...(this.sockets.get(socketId)?.rooms ?? [])]);
  }

  socket(socketId: string): Promise<MemberInfo | undefined> {
    return this.run(() => {
      const entry = this.sockets.get(socketId);
      return entry ? { ...entry.info } : undefined;
    });
  }

  close(): Promise<void> {
    this.closed = true;
    this.sockets.clear();
    this.rooms.clear();
    return Promise.resolve();
  }

  private removeMember(room: string, socketId: string): void {
    const members = this.rooms.get(room);
    if (!members) return;
    members.delete(socketId);
    if (members.size === 0) this.rooms.delete(room);
  }

  private run<T>(fn: () => T): Promise<T> {
    if (this.closed) {
      return Promise.reject(
        new RoomfabricError(ErrorCode.MEMBERSHIP_UNAVAILABLE, 'the membership index is closed'),
      );
    }
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
