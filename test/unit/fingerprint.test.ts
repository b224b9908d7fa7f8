import assert from 'node:assert/strict';
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { fingerprint } from '../../src/cache/fingerprint.js';

// Fingerprints are cache keys that Redis keeps across restarts and replicas share: remembered
// or computed, each must be the HMAC every version wrote, under its own secret only.

/** The HMAC as written part by part: each part, then a NUL. */
function reference(secret: KeyObject, parts: readonly string[]): string {
  const hmac = createHmac('sha256', secret);
  for (const part of parts) hmac.update(part).update('\u0000');
  return hmac.digest('base64url');
}

const secret = createSecretKey(randomBytes(32));

test('a fingerprint is the HMAC of each part followed by a NUL, computed or remembered', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'grapheme' }), { maxLength: 4 }), (parts) => {
      const expected = reference(secret, parts);
      assert.equal(fingerprint(secret, ...parts), expected);
      assert.equal(fingerprint(secret, ...parts), expected);
    }),
  );
});

test('what one secret remembers never answers for another', () => {
  const other = createSecretKey(randomBytes(32));
  const first = fingerprint(secret, 'gitlab', 'glpat-shared');
  assert.notEqual(fingerprint(other, 'gitlab', 'glpat-shared'), first);
  assert.equal(fingerprint(other, 'gitlab', 'glpat-shared'), reference(other, ['gitlab', 'glpat-shared']));
});

test('parts are told apart by where they split', () => {
  assert.notEqual(fingerprint(secret, 'ab', 'c'), fingerprint(secret, 'a', 'bc'));
  assert.notEqual(fingerprint(secret, 'abc'), fingerprint(secret, 'abc', ''));
});

test('fingerprints stay right past the number remembered', () => {
  const parts = Array.from({ length: 3000 }, (_, i) => ['guard', `token-${i}`]);
  for (const p of parts) fingerprint(secret, ...p);
  for (const p of parts) assert.equal(fingerprint(secret, ...p), reference(secret, p));
});

test('long inputs are fingerprinted alike, and not kept', () => {
  const long = 'x'.repeat(8192);
  assert.equal(fingerprint(secret, 'guard', long), reference(secret, ['guard', long]));
  assert.equal(fingerprint(secret, 'guard', long), reference(secret, ['guard', long]));
});
