import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type StateChange } from '@roomfabric/client';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { eventually, signTestToken, TEST_JWT_SECRET as SECRET } from '@roomfabric/testkit';
import { startTestEdge } from '../support/edge.js';

const key = new TextEncoder().encode(SECRET);

function token(
  sub: string,
  rf: { join?: string[]; publish?: string[] } = {},
  opts: { expSec?: number; iss?: string; aud?: string } = {},
) {
  return signTestToken(sub, { rf, ...opts });
}

/** Connects and waits for the first settled state: connected, or the terminal change. */
async function attempt(url: string, auth: unknown) {
  const client = connect(url, {
    auth,
    reconnect: { minDelayMs: 20, maxDelayMs: 50, maxAttempts: 3 },
  });
  const closed: StateChange[] = [];
  client.on('disconnected', (c) => closed.push(c));
  const outcome = await client.ready().then(
    () => 'connected' as const,
    (err: { code: string }) => err.code,
  );
  return { client, outcome, closed };
}

describe('JWT auth on connect', () => {
  it('HS256: the token names the user and the rooms it may join and publish to', async () => {
    await using t = await startTestEdge({ auth: { secret: SECRET } });
    const users: unknown[] = [];
    t.edge.on('connection', (s) => users.push(s.data.user));
    const { client, outcome } = await attempt(t.url, {
      token: await token('ada', { join: ['doc:*', 'lobby'], publish: ['doc:*'] }),
    });
    expect(outcome).toBe('connected');
    expect(users).toEqual(['ada']);
    await client.join('doc:1');
    await client.join('lobby');
    await expect(client.join('admin')).rejects.toMatchObject({ code: 'RF_FORBIDDEN' });
    await expect(client.join('doc')).rejects.toMatchObject({ code: 'RF_FORBIDDEN' });
    await expect(client.join('$user:bob')).rejects.toMatchObject({ code: 'RF_ROOM_RESERVED' });
    await client.to('doc:1').emitWithAck('edit', 1);
    await expect(client.to('lobby').emitWithAck('chat', 1)).rejects.toMatchObject({
      code: 'RF_FORBIDDEN',
    });
    await expect(client.to('doc:1').to('lobby').emitWithAck('x', 1)).rejects.toMatchObject({
      code: 'RF_FORBIDDEN',
    });
    await expect(client.to('doc:2').emitWithAck('x', 1)).rejects.toMatchObject({
      code: 'RF_NOT_IN_ROOM',
    });
    client.close();
  });

  it('refuses missing, forged, wrong-issuer and wrong-audience tokens with RF_UNAUTHORIZED (4500, no reconnect)', async () => {
    await using t = await startTestEdge({
      auth: { secret: SECRET, issuer: 'rf-test', audience: 'edges' },
    });
    let connections = 0;
    t.edge.on('connection', () => connections++);
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('eve')
      .setIssuer('rf-test')
      .setAudience('edges')
      .sign(new TextEncoder().encode('x'.repeat(40)));
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"eve"}').toString('base64url')}.`;
    const cases: Array<[string, unknown]> = [
      ['no auth', null],
      ['empty token', { token: '' }],
      ['garbage', { token: 'not.a.jwt' }],
      ['alg none', { token: none }],
      ['forged signature', { token: forged }],
      ['wrong issuer', { token: await token('eve', {}, { iss: 'other', aud: 'edges' }) }],
      ['wrong audience', { token: await token('eve', {}, { iss: 'rf-test', aud: 'other' }) }],
      [
        'no subject',
        {
          token: await new SignJWT({})
            .setProtectedHeader({ alg: 'HS256' })
            .setIssuer('rf-test')
            .setAudience('edges')
            .sign(key),
        },
      ],
    ];
    for (const [name, auth] of cases) {
      const { client, outcome, closed } = await attempt(t.url, auth);
      expect(outcome, name).toBe('RF_UNAUTHORIZED');
      expect(closed, name).toEqual([{ code: 4500, reason: 'RF_UNAUTHORIZED' }]);
      client.close();
    }
    expect(connections).toBe(0);
    const ok = await attempt(t.url, {
      token: await token('ada', {}, { iss: 'rf-test', aud: 'edges' }),
    });
    expect(ok.outcome).toBe('connected');
    ok.client.close();
  });

  it('RS256 with a PEM public key, ES256 with a JWKS file and with a JWKS URL', async () => {
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    const dir = mkdtempSync(join(tmpdir(), 'rf-jwks-'));
    const jwk = { ...(await exportJWK(ec.publicKey)), kid: 'k1', alg: 'ES256' };
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    const jwksServer = createServer((_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keys: [jwk] })),
    );
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks.json`;
    const sign = (alg: string, k: CryptoKey, kid?: string) =>
      signTestToken(alg, { rf: { join: ['*'] }, alg, key: k, kid, expSec: 3600 });
    try {
      for (const [auth, good, bad] of [
        [
          { publicKey: await exportSPKI(rsa.publicKey) },
          await sign('RS256', rsa.privateKey),
          await sign('ES256', ec.privateKey),
        ],
        [
          { jwksFile: join(dir, 'jwks.json') },
          await sign('ES256', ec.privateKey, 'k1'),
          await sign('RS256', rsa.privateKey, 'k1'),
        ],
        [{ jwksUrl }, await sign('ES256', ec.privateKey, 'k1'), await token('x')],
      ] as const) {
        await using t = await startTestEdge({ auth });
        const yes = await attempt(t.url, { token: good });
        expect(yes.outcome, JSON.stringify(Object.keys(auth))).toBe('connected');
        await yes.client.join('any');
        yes.client.close();
        const no = await attempt(t.url, bad);
        expect(no.outcome).toBe('RF_UNAUTHORIZED');
        no.client.close();
      }
    } finally {
      jwksServer.close();
    }
  });

  it('rejects a bad key setup with RF_INVALID_ARGUMENT', async () => {
    const { createEdge } = await import('@roomfabric/edge');
    expect(() => createEdge({ auth: { secret: 'short' } })).toThrow(
      expect.objectContaining({ code: 'RF_INVALID_ARGUMENT' }),
    );
    expect(() => createEdge({ auth: {} })).toThrow(
      expect.objectContaining({ code: 'RF_INVALID_ARGUMENT' }),
    );
    expect(() => createEdge({ auth: { secret: SECRET, jwksUrl: 'http://x' } })).toThrow(
      expect.objectContaining({ code: 'RF_INVALID_ARGUMENT' }),
    );
  });

  it('an expired token is refused with 4002; expiry while connected disconnects with 4002', async () => {
    await using t = await startTestEdge({ auth: { secret: SECRET, clockToleranceSec: 0 } });
    const stale = await attempt(t.url, { token: await token('ada', {}, { expSec: -10 }) });
    expect(stale.outcome).toBe('RF_TOKEN_EXPIRED');
    expect(stale.closed).toEqual([{ code: 4002, reason: 'RF_TOKEN_EXPIRED' }]);
    stale.client.close();

    // A static token cannot be renewed: the client stops after the expiry close.
    const short = await attempt(t.url, {
      token: await token('ada', { join: ['a'] }, { expSec: 1 }),
    });
    expect(short.outcome).toBe('connected');
    await eventually(() => short.closed.length === 1, { timeoutMs: 3000, what: 'expiry close' });
    expect(short.closed[0]).toEqual({ code: 4002, reason: 'RF_TOKEN_EXPIRED' });

    // With an auth function, the client gets a fresh token and reconnects on its own.
    let issued = 0;
    const renewing = connect(t.url, {
      auth: async () => ({
        token: await token('bo', { join: ['a'] }, { expSec: issued++ === 0 ? 1 : 3600 }),
      }),
      reconnect: { minDelayMs: 10, maxDelayMs: 20 },
    });
    await renewing.ready();
    await renewing.join('a');
    const reasons: string[] = [];
    renewing.on('connecting', (c) => reasons.push(c.reason));
    await eventually(() => issued === 2 && renewing.state === 'connected', {
      timeoutMs: 4000,
      what: 'reconnected with a fresh token',
    });
    expect(reasons).toContain('RF_TOKEN_EXPIRED');
    expect([...renewing.rooms]).toEqual(['a']);
    renewing.close();
  });

  it("refreshes credentials without reconnecting; another user's token is refused", async () => {
    await using t = await startTestEdge({ auth: { secret: SECRET, clockToleranceSec: 0 } });
    const client = connect(t.url, {
      auth: { token: await token('ada', { join: ['a'] }, { expSec: 1 }) },
    });
    await client.ready();
    const id = client.id;
    await client.refresh({ token: await token('ada', { join: ['a', 'b'] }, { expSec: 3600 }) });
    await client.join('b'); // the refreshed grant applies at once
    await expect(
      client.refresh({ token: await token('mallory', { join: ['*'] }, { expSec: 3600 }) }),
    ).rejects.toMatchObject({ code: 'RF_UNAUTHORIZED' });
    await expect(client.refresh({ token: 'garbage' })).rejects.toMatchObject({
      code: 'RF_UNAUTHORIZED',
    });
    await new Promise((r) => setTimeout(r, 1500)); // past the first token's expiry
    expect(client.state).toBe('connected');
    expect(client.id).toBe(id);
    await expect(client.join('c')).rejects.toMatchObject({ code: 'RF_FORBIDDEN' });
    client.close();
  });
});
