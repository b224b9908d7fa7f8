import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { compactVerify, decodeProtectedHeader, importX509, jwtVerify } from 'jose';
import { generateKey, KeyError, loadKey, loadOrGenerateKey } from '../../src/token/keys.js';
import { InvalidRefreshToken, looksLikeRefreshToken, RefreshTokens } from '../../src/token/refresh.js';
import { deriveSecret } from '../../src/token/secrets.js';
import { TokenSigner } from '../../src/token/signer.js';
import { makeTempDir } from '../support/processes.js';

describe('signing keys', () => {
  for (const algorithm of ['ES256', 'RS256'] as const) {
    test(`${algorithm}: files, modes, certificate and jwks`, async () => {
      const dir = join(await makeTempDir('keys'), 'nested');
      const generated = await generateKey(dir, algorithm);
      assert.equal((await stat(join(dir, 'key.pem'))).mode & 0o777, 0o600);
      const cert = new X509Certificate(await readFile(join(dir, 'cert.pem')));
      assert.ok(cert.checkPrivateKey(generated.privateKey));
      assert.ok(cert.verify(generated.publicKey), 'self-signed');
      assert.match(cert.serialNumber, /^[0-7][0-9A-F]+$/i, 'positive serial');
      const years = (new Date(cert.validTo).getTime() - Date.now()) / (365 * 86400e3);
      assert.ok(years > 9.9, `long validity (${years} years)`);
      assert.ok(new Date(cert.validFrom).getTime() < Date.now() - 30 * 60e3, 'backdated for clock skew');
      const jwks = JSON.parse(await readFile(join(dir, 'jwks.json'), 'utf8'));
      assert.equal(jwks.keys[0].kid, generated.kid);
      assert.equal(jwks.keys[0].alg, algorithm);
      assert.equal(jwks.keys[0].d, undefined, 'no private material in jwks.json');

      const loaded = await loadKey(dir, algorithm);
      assert.equal(loaded.kid, generated.kid);
      assert.equal(loaded.thumbprint, generated.thumbprint);
    });
  }

  test('the certificate is signed with SHA-256', async () => {
    const dir = await makeTempDir('keys');
    await generateKey(dir, 'ES256');
    const { execFileSync } = await import('node:child_process');
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-noout', '-text'], {
      encoding: 'utf8',
    });
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  });

  test('an existing key is kept unless forced', async () => {
    const dir = await makeTempDir('keys');
    const first = await generateKey(dir, 'ES256');
    await assert.rejects(generateKey(dir, 'ES256'), /already exists; pass --force/);
    const second = await generateKey(dir, 'ES256', true);
    assert.notEqual(first.kid, second.kid);
    const again = await loadOrGenerateKey(dir, 'ES256');
    assert.equal(again.generated, false);
    assert.equal(again.key.kid, second.kid);
  });

  test('a key that does not fit the configured algorithm is refused with a fix', async () => {
    const dir = await makeTempDir('keys');
    await generateKey(dir, 'ES256');
    await assert.rejects(
      loadKey(dir, 'RS256'),
      (e: Error) =>
        e instanceof KeyError && /token.algorithm is RS256 but .* holds a ec prime256v1 key/.test(e.message),
    );
  });

  test('a certificate of another key is refused', async () => {
    const a = await makeTempDir('keys');
    const b = await makeTempDir('keys');
    await generateKey(a, 'ES256');
    await generateKey(b, 'ES256');
    await writeFile(join(a, 'cert.pem'), await readFile(join(b, 'cert.pem')));
    await assert.rejects(loadKey(a, 'ES256'), /does not belong to/);
  });

  test('garbage key files are refused clearly', async () => {
    const dir = await makeTempDir('keys');
    await generateKey(dir, 'ES256');
    await writeFile(join(dir, 'key.pem'), 'not a key');
    await assert.rejects(loadKey(dir, 'ES256'), /is not a PEM private key/);
  });
});

describe('token signer', () => {
  for (const [algorithm, header] of [
    ['ES256', 'x5c'],
    ['RS256', 'x5c'],
    ['ES256', 'kid'],
    ['RS256', 'kid'],
  ] as const) {
    test(`${algorithm} ${header}: header and claims as docs/protocol.md section 6`, async () => {
      const key = await generateKey(await makeTempDir('keys'), algorithm);
      const signer = new TokenSigner(key, { issuer: 'iss', ttl: 300, header });
      const now = Date.UTC(2026, 0, 1, 0, 0, 0, 500);
      const { token, issuedAt, expiresIn } = await signer.sign(
        'alice',
        'svc',
        [{ type: 'repository', name: 'a/b', actions: ['pull'] }],
        now,
      );
      const protectedHeader = decodeProtectedHeader(token);
      assert.equal(protectedHeader.typ, 'JWT');
      assert.equal(protectedHeader.alg, algorithm);
      assert.equal(protectedHeader.kid, key.kid);
      assert.equal(protectedHeader.jwk, undefined, 'never a jwk header');
      if (header === 'x5c') assert.deepEqual(protectedHeader.x5c, [key.certificateBase64]);
      else assert.equal(protectedHeader.x5c, undefined);

      const verifyKey = await importX509(key.certificatePem, algorithm);
      const { payload } = await jwtVerify(token, verifyKey, { currentDate: new Date(now) });
      assert.equal(payload.iss, 'iss');
      assert.equal(payload.sub, 'alice');
      assert.equal(payload.aud, 'svc', 'aud is a plain string');
      assert.equal(payload.iat, Date.UTC(2026, 0, 1) / 1000);
      assert.equal(payload.exp, payload.iat! + 300);
      assert.ok(payload.nbf! < payload.iat! && payload.iat! - payload.nbf! <= 10);
      for (const claim of ['iat', 'nbf', 'exp'] as const) assert.ok(Number.isInteger(payload[claim]));
      assert.ok(typeof payload.jti === 'string' && payload.jti.length >= 16);
      assert.deepEqual(payload.access, [{ type: 'repository', name: 'a/b', actions: ['pull'] }]);
      assert.equal(issuedAt.getTime(), Date.UTC(2026, 0, 1));
      assert.equal(expiresIn, 300);
      if (algorithm === 'ES256') {
        // Raw R||S (64 bytes), not DER, is what registries verify.
        const signature = Buffer.from(token.split('.')[2]!, 'base64url');
        assert.equal(signature.length, 64);
        await compactVerify(token, verifyKey);
      }
    });
  }

  test('tokens stay far below proxy header limits', async () => {
    const key = await generateKey(await makeTempDir('keys'), 'RS256');
    const signer = new TokenSigner(key, { issuer: 'forgegate', ttl: 900, header: 'x5c' });
    const access = Array.from({ length: 5 }, (_, i) => ({
      type: 'repository',
      name: `group/project/app${i}`,
      actions: ['pull', 'push'] as ('pull' | 'push')[],
    }));
    const { token } = await signer.sign('someone', 'container-registry', access);
    assert.ok(token.length < 4096, `${token.length} bytes`);
  });

  test('anonymous tokens carry sub ""', async () => {
    const key = await generateKey(await makeTempDir('keys'), 'ES256');
    const { token } = await new TokenSigner(key, { issuer: 'i', ttl: 60, header: 'x5c' }).sign('', 's', []);
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    assert.equal(payload.sub, '');
    assert.deepEqual(payload.access, []);
  });
});

describe('refresh tokens', () => {
  const secret = new Uint8Array(32).fill(1);
  const tokens = new RefreshTokens(secret, 3600);
  const claims = { sub: 'alice', source: 'static', proof: 'p' };

  test('round trip, bound to the service', async () => {
    const token = await tokens.issue(claims, 'svc');
    assert.ok(looksLikeRefreshToken(token));
    assert.ok(
      !token.includes('alice') && !Buffer.from(token.split('.')[0]!, 'base64url').toString().includes('alice'),
      'opaque',
    );
    const opened = await tokens.open(token, 'svc');
    assert.equal(opened.sub, 'alice');
    assert.equal(opened.proof, 'p');
    await assert.rejects(tokens.open(token, 'other-svc'), InvalidRefreshToken);
  });

  test('reusable: opening does not consume it', async () => {
    const token = await tokens.issue(claims, 'svc');
    for (let i = 0; i < 3; i++) assert.equal((await tokens.open(token, 'svc')).sub, 'alice');
  });

  test('expired, tampered and foreign tokens are refused', async () => {
    const expired = await tokens.issue(claims, 'svc', Date.now() - 7200_000);
    await assert.rejects(tokens.open(expired, 'svc'), /expired/);
    const token = await tokens.issue(claims, 'svc');
    const parts = token.split('.');
    const flipped = parts[3]!.slice(0, -2) + (parts[3]!.endsWith('AA') ? 'BB' : 'AA');
    await assert.rejects(tokens.open([...parts.slice(0, 3), flipped, parts[4]].join('.'), 'svc'), InvalidRefreshToken);
    const other = new RefreshTokens(new Uint8Array(32).fill(2), 3600);
    await assert.rejects(other.open(token, 'svc'), InvalidRefreshToken);
    await assert.rejects(tokens.open('a.b.c.d.e', 'svc'), InvalidRefreshToken);
  });

  test('secrets derived from one key agree across replicas and differ by purpose', async () => {
    const key = await generateKey(await makeTempDir('keys'), 'ES256');
    const again = await loadKey(key.files.key.replace(/\/key\.pem$/, ''), 'ES256');
    assert.deepEqual(deriveSecret(key.privateKey, 'refresh-token'), deriveSecret(again.privateKey, 'refresh-token'));
    assert.notDeepEqual(deriveSecret(key.privateKey, 'refresh-token'), deriveSecret(key.privateKey, 'credential-hmac'));
  });
});
