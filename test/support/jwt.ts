import { SignJWT } from 'jose';

/** The HS256 secret the tests' token edges use. */
export const TEST_SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';

/** Signs an HS256 token for `sub` with the given `rf` claim and options. */
export function signToken(
  sub: string,
  rf: Record<string, unknown> = {},
  opts: { expSec?: number; secret?: string } = {},
): Promise<string> {
  const jwt = new SignJWT({ rf })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt();
  if (opts.expSec !== undefined) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + opts.expSec);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? TEST_SECRET));
}
