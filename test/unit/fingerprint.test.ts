import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { fingerprint, passwordFingerprint } from '../../src/cache/fingerprint.js';

// Cache keys and the brute-force guard's counters hold HMACs of credentials. A password's is
// made once per credential object, however many keys a request makes from it.

test('fingerprint is HMAC-SHA256 of the parts, each ended by a NUL', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.array(fc.string()), (secret, parts) => {
      const hmac = createHmac('sha256', secret);
      for (const part of parts) hmac.update(`${part}\u0000`);
      assert.equal(fingerprint(secret, ...parts), hmac.digest('base64url'));
    }),
  );
});

test("a password's fingerprint is its own HMAC, whichever credential object carries it", () => {
  const secret = randomBytes(32);
  const credential = { kind: 'password', username: 'oauth2', password: 'glpat-abc' } as const;
  const value = passwordFingerprint(secret, credential);
  assert.equal(value, fingerprint(secret, 'password', 'glpat-abc'));
  assert.deepStrictEqual(
    credential,
    { kind: 'password', username: 'oauth2', password: 'glpat-abc' },
    'nothing visible',
  );
  assert.equal(passwordFingerprint(secret, { ...credential, username: 'someone else' }), value);
  assert.notEqual(passwordFingerprint(secret, { ...credential, password: 'glpat-abd' }), value);
});

test('a copy of a credential with another password gets its own fingerprint, not the one remembered', () => {
  const secret = randomBytes(32);
  fc.assert(
    fc.property(fc.string(), fc.string(), (first, second) => {
      const credential = { kind: 'password', username: 'oauth2', password: first };
      assert.equal(passwordFingerprint(secret, credential), fingerprint(secret, 'password', first));
      const copy = { ...credential, password: second };
      assert.equal(passwordFingerprint(secret, copy), fingerprint(secret, 'password', second));
      assert.equal(passwordFingerprint(secret, credential), fingerprint(secret, 'password', first));
      const changed: { password: string } = { password: first };
      passwordFingerprint(secret, changed);
      changed.password = second;
      assert.equal(passwordFingerprint(secret, changed), fingerprint(secret, 'password', second), 'changed in place');
    }),
  );
});

test('a remembered fingerprint is used only under the secret it was made with', () => {
  const [first, second] = [randomBytes(32), randomBytes(32)];
  const credential = { password: 'ghp_token' };
  const underFirst = passwordFingerprint(first, credential);
  assert.equal(passwordFingerprint(first, credential), underFirst);
  assert.equal(passwordFingerprint(second, credential), fingerprint(second, 'password', 'ghp_token'));
  assert.notEqual(passwordFingerprint(second, credential), underFirst);
  assert.equal(passwordFingerprint(first, credential), underFirst);
});
