import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';

/** Who may connect how often: caps per node, per client address and per user. */
export interface ConnectionCaps {
  /** Connections this node holds at most (open and opening). Past it: HTTP 503 at the upgrade. */
  maxConnections: number;
  /**
   * Connections from one client address at most (0: no cap). Past it: HTTP 429 at the
   * upgrade. Addresses of trusted proxies are not capped; see `trustedProxies`.
   */
  maxConnectionsPerAddress: number;
  /** Connections of one user (token `sub`, or `socket.data.user`) on this node at most (0: no cap). */
  maxConnectionsPerUser: number;
}

/**
 * The proxies a node believes about the client's address (`X-Forwarded-For`): addresses
 * or CIDR blocks, and the words `loopback` and `private` for those ranges. A connection
 * from a trusted proxy is counted under the last address its `X-Forwarded-For` names
 * that is not itself a trusted proxy; one without that header (a local tool, a health
 * check, a benchmark) is not capped per address.
 */
export type TrustedProxies = readonly string[];

export const DEFAULT_TRUSTED_PROXIES: TrustedProxies = ['loopback', 'private'];

const RANGES: Record<string, Array<[string, number, 'ipv4' | 'ipv6']>> = {
  loopback: [
    ['127.0.0.0', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  private: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    ['100.64.0.0', 10, 'ipv4'],
    ['169.254.0.0', 16, 'ipv4'],
    ['fc00::', 7, 'ipv6'],
    ['fe80::', 10, 'ipv6'],
  ],
};

/** Builds the block list of trusted proxies; throws `RF_INVALID_ARGUMENT` for a bad entry. */
export function trustedProxyList(entries: TrustedProxies): BlockList {
  const list = new BlockList();
  if (!Array.isArray(entries)) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'trustedProxies must be a list');
  }
  for (const entry of entries) {
    const named = typeof entry === 'string' ? RANGES[entry] : undefined;
    if (named) {
      for (const [net, prefix, family] of named) list.addSubnet(net, prefix, family);
      continue;
    }
    const [address, bits, ...extra] = typeof entry === 'string' ? entry.split('/') : [];
    const family = isIP(address ?? '');
    // Decimal digits only: Number('') is 0, and `10.0.0.0/` must not trust every address.
    const prefix =
      bits === undefined ? (family === 6 ? 128 : 32) : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (
      family === 0 ||
      extra.length > 0 ||
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > (family === 6 ? 128 : 32)
    ) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        `trustedProxies: ${JSON.stringify(entry)} is not an address, a CIDR block, "loopback" or "private"`,
      );
    }
    list.addSubnet(address!, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

function trusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
  if (family === 6 && address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) {
    return list.check(address.slice(7), 'ipv4');
  }
  return list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The address a connection is counted under: the peer's own, or, from a trusted proxy,
 * the last untrusted hop of `X-Forwarded-For`; undefined when nothing is to be capped
 * (a trusted peer that names no client).
 */
export function clientAddress(req: IncomingMessage, proxies: BlockList): string | undefined {
  const peer = req.socket.remoteAddress ?? '';
  if (!trusted(proxies, peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h.length > 0);
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!trusted(proxies, hops[i]!)) return hops[i];
  }
  return undefined;
}

/** Counts a node's connections by address and by user against {@link ConnectionCaps}. */
export class ConnectionLimits {
  private total = 0;
  private readonly byAddress = new Map<string, number>();
  private readonly byUser = new Map<string, number>();
  refusedByNode = 0;
  refusedByAddress = 0;
  refusedByUser = 0;

  constructor(private readonly caps: ConnectionCaps) {}

  get connections(): number {
    return this.total;
  }

  /**
   * A new upgrade from `address` (undefined: not capped per address). Returns the HTTP
   * status to refuse it with, or 0 when it is counted in (release it with {@link close}).
   */
  open(address: string | undefined): 0 | 429 | 503 {
    if (this.total >= this.caps.maxConnections) {
      this.refusedByNode++;
      return 503;
    }
    if (address !== undefined && this.caps.maxConnectionsPerAddress > 0) {
      const n = this.byAddress.get(address) ?? 0;
      if (n >= this.caps.maxConnectionsPerAddress) {
        this.refusedByAddress++;
        return 429;
      }
      this.byAddress.set(address, n + 1);
    }
    this.total++;
    return 0;
  }

  close(address: string | undefined): void {
    this.total--;
    if (address === undefined) return;
    const n = (this.byAddress.get(address) ?? 0) - 1;
    if (n > 0) this.byAddress.set(address, n);
    else this.byAddress.delete(address);
  }

  /** Counts a connection under `user`; false (and nothing counted) when the user is at its cap. */
  addUser(user: string): boolean {
    const n = this.byUser.get(user) ?? 0;
    if (this.caps.maxConnectionsPerUser > 0 && n >= this.caps.maxConnectionsPerUser) {
      this.refusedByUser++;
      return false;
    }
    this.byUser.set(user, n + 1);
    return true;
  }

  removeUser(user: string): void {
    const n = (this.byUser.get(user) ?? 0) - 1;
    if (n > 0) this.byUser.set(user, n);
    else this.byUser.delete(user);
  }
}
