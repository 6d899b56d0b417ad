import type { KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

/** An HS256 secret of the length edges accept (32 bytes or more), for tests. */
export const TEST_JWT_SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';

/** What {@link signTestToken} puts in a token besides its `sub`. */
export interface TestTokenOptions {
  /** The `rf` claim: `{ join, publish, info }` (omitted when undefined). */
  rf?: Record<string, unknown>;
  /** Seconds until `exp` (negative: already expired); no `exp` when undefined. */
  expSec?: number;
  iss?: string;
  aud?: string;
  /** Default {@link TEST_JWT_SECRET}. */
  secret?: string;
  /** The header's `alg`. Default HS256; another algorithm needs its private `key`. */
  alg?: string;
  /** The signing key, instead of `secret` (e.g. an RS256 or ES256 private key). */
  key?: CryptoKey | KeyObject | Uint8Array;
  /** The header's `kid` (omitted when undefined). */
  kid?: string;
}

/**
 * Signs a token for `sub`, as an issuer of the application would (HS256 with the test
 * secret unless told otherwise): the one way the tests make tokens.
 *
 * @example
 * const token = await signTestToken('ada', { rf: { join: ['doc:*'] }, expSec: 60 });
 * const rs = await signTestToken('ada', { alg: 'RS256', key: privateKey, kid: 'k1' });
 */
export function signTestToken(sub: string, options: TestTokenOptions = {}): Promise<string> {
  const alg = options.alg ?? 'HS256';
  const jwt = new SignJWT(options.rf === undefined ? {} : { rf: options.rf })
    .setProtectedHeader(options.kid === undefined ? { alg } : { alg, kid: options.kid })
    .setSubject(sub)
    .setIssuedAt();
  if (options.expSec !== undefined) {
    jwt.setExpirationTime(Math.floor(Date.now() / 1000) + options.expSec);
  }
  if (options.iss) jwt.setIssuer(options.iss);
  if (options.aud) jwt.setAudience(options.aud);
  return jwt.sign(options.key ?? new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}
