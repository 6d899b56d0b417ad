import { decodeJwt, decodeProtectedHeader, generateKeyPair, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { signTestToken, TEST_JWT_SECRET } from './jwt.js';

describe('signTestToken', () => {
  it('signs sub, rf, exp, iss and aud with the test secret', async () => {
    const token = await signTestToken('ada', {
      rf: { join: ['doc:*'] },
      expSec: 60,
      iss: 'app',
      aud: 'rf',
    });
    const { payload } = await jwtVerify(token, new TextEncoder().encode(TEST_JWT_SECRET));
    expect(payload).toMatchObject({ sub: 'ada', rf: { join: ['doc:*'] }, iss: 'app', aud: 'rf' });
    expect(payload.exp! - Math.floor(Date.now() / 1000)).toBeGreaterThan(55);
  });

  it('omits rf and exp when not given', async () => {
    const payload = decodeJwt(await signTestToken('bob'));
    expect(payload.rf).toBeUndefined();
    expect(payload.exp).toBeUndefined();
  });

  it('signs with another algorithm and key, and names the kid', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const token = await signTestToken('ada', {
      rf: { join: ['*'] },
      alg: 'ES256',
      key: privateKey,
      kid: 'k1',
      expSec: 3600,
    });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: 'k1' });
    const { payload } = await jwtVerify(token, publicKey);
    expect(payload).toMatchObject({ sub: 'ada', rf: { join: ['*'] } });
    expect(decodeProtectedHeader(await signTestToken('bob'))).toEqual({ alg: 'HS256' });
  });
});
