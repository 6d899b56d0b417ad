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
}

/**
 * Signs an HS256 token for `sub`, as an issuer of the application would: the one way the
 * tests make tokens.
 *
 * @example
 * const token = await signTestToken('ada', { rf: { join: ['doc:*'] }, expSec: 60 });
 */
export function signTestToken(sub: string, options: TestTokenOptions = {}): Promise<string> {
  const jwt = new SignJWT(options.rf === undefined ? {} : { rf: options.rf })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt();
  if (options.expSec !== undefined) {
    jwt.setExpirationTime(Math.floor(Date.now() / 1000) + options.expSec);
  }
  if (options.iss) jwt.setIssuer(options.iss);
  if (options.aud) jwt.setAudience(options.aud);
  return jwt.sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}
