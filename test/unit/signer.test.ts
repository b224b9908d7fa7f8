import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createLocalJWKSet, decodeProtectedHeader, importX509, jwtVerify } from 'jose';
import { generateKey, type SigningKey } from '../../src/token/keys.js';
import { TokenSigner } from '../../src/token/signer.js';
import { makeTempDir } from '../support/processes.js';

// The token signer writes the compact JWS itself (node:crypto), so jose, an independent
// implementation, checks every token it signs: by the certificate (x5c), by the JWKS (kid),
// across a change of signing key, and for claims of any content.

const keys: Record<'ES256' | 'RS256', SigningKey> = {
  ES256: await generateKey(await makeTempDir('signer'), 'ES256'),
  RS256: await generateKey(await makeTempDir('signer'), 'RS256'),
};

for (const algorithm of ['ES256', 'RS256'] as const) {
  describe(`${algorithm} tokens`, () => {
    const key = keys[algorithm];

    test('verify against the published JWKS by kid, and against the certificate', async () => {
      for (const header of ['kid', 'x5c'] as const) {
        const { token } = await new TokenSigner(key, { issuer: 'forgegate', ttl: 300, header }).sign(
          'alice',
          'registry',
          [{ type: 'repository', name: 'a/b', actions: ['pull'] }],
        );
        const byKid = await jwtVerify(token, createLocalJWKSet(key.jwks), {
          issuer: 'forgegate',
          audience: 'registry',
          algorithms: [algorithm],
        });
        assert.equal(byKid.payload.sub, 'alice');
        assert.equal(byKid.protectedHeader.kid, key.kid);
        const byCertificate = await jwtVerify(token, await importX509(key.certificatePem, algorithm));
        assert.deepEqual(byCertificate.payload, byKid.payload);
      }
    });

    test('any subject and repository names survive signing (property)', async () => {
      const verifyKey = await importX509(key.certificatePem, algorithm);
      const signer = new TokenSigner(key, { issuer: 'forgegate', ttl: 60, header: 'x5c' });
      const grant = fc.record({
        type: fc.constantFrom('repository', 'registry'),
        name: fc.string({ unit: 'grapheme', maxLength: 40 }),
        actions: fc.subarray(['pull', 'push', 'delete', '*'] as const),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.string({ unit: 'grapheme', maxLength: 60 }),
          fc.array(grant, { maxLength: 4 }),
          async (subject, access) => {
            const { token } = await signer.sign(subject, 'svc', access);
            const { payload } = await jwtVerify(token, verifyKey);
            assert.equal(payload.sub, subject);
            assert.deepEqual(payload.access, JSON.parse(JSON.stringify(access)));
          },
        ),
        { numRuns: algorithm === 'RS256' ? 40 : 150 },
      );
    });
  });
}

test('tokens asked for in one turn, signed together, each carry their own claims and a valid signature', async () => {
  const verifyKey = await importX509(keys.ES256.certificatePem, 'ES256');
  const signer = new TokenSigner(keys.ES256, { issuer: 'i', ttl: 60, header: 'x5c' });
  const subjects = Array.from({ length: 50 }, (_, i) => `user-${i}`);
  const tokens = await Promise.all(subjects.map((subject) => signer.sign(subject, 'svc', [])));
  for (const [i, { token }] of tokens.entries())
    assert.equal((await jwtVerify(token, verifyKey)).payload.sub, subjects[i]);
});

test('a new signing key (promote) signs the next token, with its own header', async () => {
  const ring = { current: keys.ES256 };
  const signer = new TokenSigner(ring, { issuer: 'i', ttl: 60, header: 'x5c' });
  const first = await signer.sign('s', 'svc', []);
  ring.current = keys.RS256;
  const second = await signer.sign('s', 'svc', []);
  assert.equal(decodeProtectedHeader(first.token).kid, keys.ES256.kid);
  assert.deepEqual(decodeProtectedHeader(second.token), {
    typ: 'JWT',
    alg: 'RS256',
    kid: keys.RS256.kid,
    x5c: [keys.RS256.certificateBase64],
  });
  await jwtVerify(second.token, await importX509(keys.RS256.certificatePem, 'RS256'));
  await assert.rejects(jwtVerify(second.token, await importX509(keys.ES256.certificatePem, 'ES256')));
});

test('token ids are unique, also across refills of their random pool', async () => {
  const signer = new TokenSigner(keys.ES256, { issuer: 'i', ttl: 60, header: 'kid' });
  const ids = new Set<string>();
  // 4 KiB of pool is 256 ids: 1,000 tokens refill it several times.
  for (let i = 0; i < 1000; i++) {
    const { token } = await signer.sign('s', 'svc', []);
    const { jti } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string };
    assert.match(jti, /^[A-Za-z0-9_-]{22}$/);
    ids.add(jti);
  }
  assert.equal(ids.size, 1000);
});
