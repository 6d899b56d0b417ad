import type { IncomingMessage } from 'node:http';
import { ErrorCode, isRoomfabricError } from '@roomfabric/protocol';
import { describe, expect, it } from 'vitest';
import {
  clientAddress,
  ConnectionLimits,
  DEFAULT_TRUSTED_PROXIES,
  trustedProxyList,
  type TrustedProxies,
} from './connection-limits.js';

/** An upgrade request as `clientAddress` reads it: the peer's address and the headers. */
function request(peer: string | undefined, forwardedFor?: string | string[]): IncomingMessage {
  const headers = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
  return { socket: { remoteAddress: peer }, headers } as unknown as IncomingMessage;
}

function invalidEntry(entries: unknown): unknown {
  try {
    trustedProxyList(entries as TrustedProxies);
  } catch (err) {
    return isRoomfabricError(err) ? err.code : err;
  }
  return 'accepted';
}

describe('trustedProxyList', () => {
  it('loopback and private name their ranges, both families', () => {
    const list = trustedProxyList(DEFAULT_TRUSTED_PROXIES);
    const yes = [
      '127.0.0.1',
      '127.255.255.254',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '100.64.0.1',
      '169.254.1.1',
    ];
    for (const a of yes) expect(list.check(a, 'ipv4'), a).toBe(true);
    for (const a of ['8.8.8.8', '172.32.0.1', '172.15.255.255', '100.128.0.1', '11.0.0.1']) {
      expect(list.check(a, 'ipv4'), a).toBe(false);
    }
    for (const a of ['::1', 'fd00::1', 'fc00::1', 'fe80::1']) {
      expect(list.check(a, 'ipv6'), a).toBe(true);
    }
    expect(list.check('2001:db8::1', 'ipv6')).toBe(false);
  });

  it('takes single addresses and CIDR blocks of either family', () => {
    const list = trustedProxyList(['203.0.113.7', '198.51.100.0/24', '2001:db8::/32', '::2']);
    expect(list.check('203.0.113.7', 'ipv4')).toBe(true);
    expect(list.check('203.0.113.8', 'ipv4')).toBe(false); // a bare address is a /32
    expect(list.check('198.51.100.255', 'ipv4')).toBe(true);
    expect(list.check('198.51.101.0', 'ipv4')).toBe(false);
    expect(list.check('2001:db8:ffff::1', 'ipv6')).toBe(true);
    expect(list.check('::2', 'ipv6')).toBe(true);
    expect(list.check('::3', 'ipv6')).toBe(false); // a bare address is a /128
    // Nothing named: loopback is not implied.
    expect(list.check('127.0.0.1', 'ipv4')).toBe(false);
  });

  it('an empty list trusts nobody', () => {
    const list = trustedProxyList([]);
    expect(list.check('127.0.0.1', 'ipv4')).toBe(false);
    expect(list.check('::1', 'ipv6')).toBe(false);
  });

  it('refuses what is not an address, a CIDR block or a range name', () => {
    for (const entry of [
      'localhost',
      'Private',
      '',
      '10.0.0.256',
      '10.0.0.0/33',
      '::/129',
      '10.0.0.0/-1',
      '10.0.0.0/8.5',
      '10.0.0.0/x',
      '/8',
    ]) {
      expect(invalidEntry([entry]), entry).toBe(ErrorCode.INVALID_ARGUMENT);
    }
    expect(invalidEntry([42])).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(invalidEntry([null])).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(invalidEntry('loopback')).toBe(ErrorCode.INVALID_ARGUMENT); // not a list
    expect(invalidEntry(undefined)).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  it('refuses a block with an empty prefix instead of reading it as /0 (all addresses)', () => {
    // Number('') is 0: `10.0.0.0/` used to trust every IPv4 peer, so any client could
    // name itself in X-Forwarded-For and escape the per-address cap.
    expect(invalidEntry(['10.0.0.0/'])).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(invalidEntry(['::1/'])).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  it('refuses prefixes that are not plain decimal digits, and a second slash', () => {
    for (const entry of ['10.0.0.0/ 8', '10.0.0.0/0x8', '10.0.0.0/1e1', '10.0.0.0/8/16']) {
      expect(invalidEntry([entry]), entry).toBe(ErrorCode.INVALID_ARGUMENT);
    }
    expect(trustedProxyList(['10.0.0.0/08']).check('10.255.0.1', 'ipv4')).toBe(true);
  });

  it('accepts the widest and narrowest blocks', () => {
    expect(trustedProxyList(['0.0.0.0/0']).check('8.8.8.8', 'ipv4')).toBe(true);
    expect(trustedProxyList(['::/0']).check('2001:db8::1', 'ipv6')).toBe(true);
    expect(trustedProxyList(['10.0.0.1/32']).check('10.0.0.2', 'ipv4')).toBe(false);
  });
});

describe('clientAddress', () => {
  const proxies = trustedProxyList(DEFAULT_TRUSTED_PROXIES);

  it('an untrusted peer is counted under its own address, whatever it claims', () => {
    expect(clientAddress(request('203.0.113.9'), proxies)).toBe('203.0.113.9');
    expect(clientAddress(request('203.0.113.9', '198.51.100.1'), proxies)).toBe('203.0.113.9');
    expect(clientAddress(request('2001:db8::9', '198.51.100.1'), proxies)).toBe('2001:db8::9');
  });

  it('a trusted proxy is believed: the client it names', () => {
    expect(clientAddress(request('10.0.0.2', '198.51.100.1'), proxies)).toBe('198.51.100.1');
    expect(clientAddress(request('::1', '2001:db8::5'), proxies)).toBe('2001:db8::5');
  });

  it('a trusted peer that names no client is not capped per address', () => {
    expect(clientAddress(request('127.0.0.1'), proxies)).toBeUndefined();
    expect(clientAddress(request('127.0.0.1', ''), proxies)).toBeUndefined();
    expect(clientAddress(request('127.0.0.1', ' , ,'), proxies)).toBeUndefined();
  });

  it('takes the last hop that is not itself a trusted proxy (the ones before it are the client’s word)', () => {
    const xff = '1.1.1.1, 198.51.100.1, 10.0.0.7, 192.168.0.3';
    expect(clientAddress(request('10.0.0.2', xff), proxies)).toBe('198.51.100.1');
  });

  it('a chain of trusted proxies only names no client', () => {
    expect(clientAddress(request('10.0.0.2', '10.0.0.3, 127.0.0.1'), proxies)).toBeUndefined();
  });

  it('trims hops and skips empty ones', () => {
    expect(clientAddress(request('10.0.0.2', '  198.51.100.1  ,, '), proxies)).toBe('198.51.100.1');
  });

  it('reads several X-Forwarded-For headers as one list, in order', () => {
    const two = ['198.51.100.1, 10.0.0.4', '198.51.100.2'];
    expect(clientAddress(request('10.0.0.2', two), proxies)).toBe('198.51.100.2');
    const lastTrusted = ['198.51.100.1', '10.0.0.4'];
    expect(clientAddress(request('10.0.0.2', lastTrusted), proxies)).toBe('198.51.100.1');
  });

  it('a peer on a dual-stack socket (::ffff:a.b.c.d) is matched as IPv4', () => {
    expect(clientAddress(request('::ffff:127.0.0.1', '198.51.100.1'), proxies)).toBe(
      '198.51.100.1',
    );
    expect(clientAddress(request('::ffff:203.0.113.9', '198.51.100.1'), proxies)).toBe(
      '::ffff:203.0.113.9',
    );
    const v4Only = trustedProxyList(['203.0.113.0/24']);
    expect(clientAddress(request('::ffff:203.0.113.9', '198.51.100.1'), v4Only)).toBe(
      '198.51.100.1',
    );
  });

  it('a hop that is not an address is never trusted: it is what the client is counted under', () => {
    expect(clientAddress(request('10.0.0.2', 'unknown'), proxies)).toBe('unknown');
    expect(clientAddress(request('10.0.0.2', '198.51.100.1, 10.0.0.9:443'), proxies)).toBe(
      '10.0.0.9:443',
    );
  });

  it('with no trusted proxies every peer counts as itself', () => {
    const none = trustedProxyList([]);
    expect(clientAddress(request('127.0.0.1', '198.51.100.1'), none)).toBe('127.0.0.1');
  });
});

describe('ConnectionLimits', () => {
  const caps = (maxConnections: number, perAddress: number, perUser: number) =>
    new ConnectionLimits({
      maxConnections,
      maxConnectionsPerAddress: perAddress,
      maxConnectionsPerUser: perUser,
    });

  it('refuses with 503 past the node cap, and counts the refusal', () => {
    const limits = caps(2, 0, 0);
    expect(limits.open('a')).toBe(0);
    expect(limits.open('b')).toBe(0);
    expect(limits.connections).toBe(2);
    expect(limits.open('c')).toBe(503);
    expect(limits.open(undefined)).toBe(503);
    expect(limits.refusedByNode).toBe(2);
    expect(limits.connections).toBe(2);
    limits.close('a');
    expect(limits.connections).toBe(1);
    expect(limits.open('c')).toBe(0);
  });

  it('refuses with 429 past the per-address cap, other addresses unaffected', () => {
    const limits = caps(100, 2, 0);
    expect(limits.open('198.51.100.1')).toBe(0);
    expect(limits.open('198.51.100.1')).toBe(0);
    expect(limits.open('198.51.100.1')).toBe(429);
    expect(limits.refusedByAddress).toBe(1);
    expect(limits.connections).toBe(2); // a refused one is not counted
    expect(limits.open('198.51.100.2')).toBe(0);
    limits.close('198.51.100.1');
    expect(limits.open('198.51.100.1')).toBe(0);
    expect(limits.open('198.51.100.1')).toBe(429);
  });

  it('an address closed to zero is forgotten and starts again from its full cap', () => {
    const limits = caps(100, 1, 0);
    expect(limits.open('x')).toBe(0);
    limits.close('x');
    limits.close('x'); // a stray second close must not give the address credit
    expect(limits.open('x')).toBe(0);
    expect(limits.open('x')).toBe(429);
  });

  it('does not cap undefined addresses (trusted peers naming no client), or any with cap 0', () => {
    const limits = caps(100, 1, 0);
    for (let i = 0; i < 5; i++) expect(limits.open(undefined)).toBe(0);
    limits.close(undefined);
    expect(limits.connections).toBe(4);
    const uncapped = caps(100, 0, 0);
    for (let i = 0; i < 5; i++) expect(uncapped.open('x')).toBe(0);
    for (let i = 0; i < 5; i++) uncapped.close('x');
    expect(uncapped.connections).toBe(0);
  });

  it('the node cap comes first: a full node answers 503 and counts nothing for the address', () => {
    const limits = caps(1, 1, 0);
    expect(limits.open('x')).toBe(0);
    expect(limits.open('x')).toBe(503);
    expect(limits.refusedByAddress).toBe(0);
    limits.close('x');
    expect(limits.open('x')).toBe(0);
  });

  it('caps connections per user; 0 is no cap', () => {
    const limits = caps(100, 0, 2);
    expect(limits.addUser('alice')).toBe(true);
    expect(limits.addUser('alice')).toBe(true);
    expect(limits.addUser('alice')).toBe(false);
    expect(limits.refusedByUser).toBe(1);
    expect(limits.addUser('bob')).toBe(true);
    limits.removeUser('alice');
    expect(limits.addUser('alice')).toBe(true);
    expect(limits.addUser('alice')).toBe(false);
    // A refused add counted nothing: two removes free both places.
    limits.removeUser('alice');
    limits.removeUser('alice');
    expect(limits.addUser('alice')).toBe(true);
    expect(limits.addUser('alice')).toBe(true);

    const uncapped = caps(100, 0, 0);
    for (let i = 0; i < 500; i++) expect(uncapped.addUser('alice')).toBe(true);
    expect(uncapped.refusedByUser).toBe(0);
  });

  it('a user removed more often than added gets no extra places', () => {
    const limits = caps(100, 0, 1);
    limits.removeUser('alice');
    expect(limits.addUser('alice')).toBe(true);
    expect(limits.addUser('alice')).toBe(false);
  });
});
