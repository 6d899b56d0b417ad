import { decodeJwt, jwtVerify } from 'jose';
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
});
