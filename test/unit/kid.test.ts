import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { test } from 'node:test';
import { jwkThumbprint, libtrustKeyId } from '../../src/token/kid.js';

// The example key of distribution's docs/spec/auth/jwt.md and the kid the spec gives for it.
const SPEC_KEY = {
  kty: 'EC',
  crv: 'P-256',
  x: 'm7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q',
  y: 'dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc',
};

test('libtrust key id of the distribution spec example key', () => {
  const key = createPublicKey({ key: SPEC_KEY, format: 'jwk' });
  assert.equal(libtrustKeyId(key), 'PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6');
});

test('libtrust key id shape: 12 groups of 4 base32 characters', () => {
  const key = createPublicKey({ key: SPEC_KEY, format: 'jwk' });
  assert.match(libtrustKeyId(key), /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
});

test('RFC 7638 thumbprint of the spec key', async () => {
  // Computed independently: base64url(SHA-256('{"crv":"P-256","kty":"EC","x":"...","y":"..."}')).
  const { createHash } = await import('node:crypto');
  const canonical = JSON.stringify({ crv: SPEC_KEY.crv, kty: SPEC_KEY.kty, x: SPEC_KEY.x, y: SPEC_KEY.y });
  const expected = createHash('sha256').update(canonical).digest('base64url');
  assert.equal(await jwkThumbprint(createPublicKey({ key: SPEC_KEY, format: 'jwk' })), expected);
});
