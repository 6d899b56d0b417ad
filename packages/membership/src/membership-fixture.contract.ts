import type { MemberInfo, Membership } from './membership.js';

/** One fresh, empty index for one test. */
export interface ContractFixture {
  membership: Membership;
  /**
   * A second handle on the same index (for Redis: another connection), used by the
   * concurrency tests; `dispose` closes it. Defaults to `membership`.
   */
  peer?: Membership;
  /**
   * Two rooms that one atomic step can raid between (for Redis: rooms of one hash slot, by a
   * shared `{tag}`). Default `['from', 'to']` (any two rooms, for MemoryMembership).
   */
  sameSlotRooms?: [string, string];
  dispose(): Promise<void>;
}

/** Makes a {@link ContractFixture}. */
export type MakeFixture = () => Promise<ContractFixture>;

/** A member with default node and data. */
export const member = (
  socketId: string,
  nodeId = 'n1',
  data: unknown = { user: socketId },
): MemberInfo => ({ socketId, nodeId, data });

/** A sorted copy. */
export const sorted = (xs: readonly string[]): string[] => [...xs].sort();

/** Runs `fn` on a fresh fixture and disposes of it afterwards. */
export async function withFixture(
  make: MakeFixture,
  fn: (m: Membership, peer: Membership, fixture: ContractFixture) => Promise<void>,
): Promise<void> {
  const fixture = await make();
  try {
    await fn(fixture.membership, fixture.peer ?? fixture.membership, fixture);
  } finally {
    await fixture.dispose();
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Registers `count` sockets `${prefix}${i}` on `nodeId` and joins each to `rooms`, many
 * calls in flight at once (a Redis connection pipelines them). Anonymous, unless `users`:
 * then each socket is a user of its own (its id).
 */
export async function fill(
  m: Membership,
  options: {
    prefix: string;
    count: number;
    nodeId?: string;
    rooms: readonly string[];
    users?: boolean;
  },
): Promise<string[]> {
  const ids = Array.from({ length: options.count }, (_, i) => `${options.prefix}${i}`);
  for (let i = 0; i < ids.length; i += 1000) {
    await Promise.all(
      ids.slice(i, i + 1000).map(async (id) => {
        const info = member(id, options.nodeId ?? 'n1');
        await m.addSocket(options.users ? { ...info, user: id } : info);
        await m.join(id, options.rooms);
      }),
    );
  }
  return ids;
}
