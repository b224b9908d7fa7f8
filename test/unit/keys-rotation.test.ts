import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { KeyRing, loadKeySet } from '../../src/token/keyring.js';
import { createKeyMaterial, generateKey, KeyError, keyFiles, loadKey } from '../../src/token/keys.js';
import { RefreshTokens } from '../../src/token/refresh.js';
import { promote, publish, rotate } from '../../src/token/rotation.js';
import { TokenSigner } from '../../src/token/signer.js';
import { makeTempDir } from '../support/processes.js';

// The key directory through rotate, promote and prune (src/token/rotation.ts, keyring.ts).

const LIFETIMES = { ttl: 900, refreshTtl: 86400 };
const count = (pem: string) => (pem.match(/BEGIN CERTIFICATE/g) ?? []).length;

async function freshDir(): Promise<string> {
  const dir = join(await makeTempDir('rotation'), 'keys');
  await generateKey(dir, 'ES256');
  return dir;
}

describe('key rotation', () => {
  test('rotate stages and publishes a next key without changing the current one', async () => {
    const dir = await freshDir();
    const before = await loadKey(dir, 'ES256');
    const set = await rotate(dir, 'ES256');
    assert.equal(set.current.kid, before.kid);
    assert.ok(set.next && set.next.kid !== before.kid, 'a next key');
    assert.equal((await stat(join(dir, 'next', 'key.pem'))).mode & 0o777, 0o600);
    const bundle = await readFile(join(dir, 'cert.pem'), 'utf8');
    assert.equal(count(bundle), 2);
    assert.ok(bundle.startsWith(before.certificatePem.trimEnd()), 'the current certificate comes first');
    const jwks = JSON.parse(await readFile(join(dir, 'jwks.json'), 'utf8'));
    assert.deepEqual(
      jwks.keys.map((k: { kid: string }) => k.kid),
      [before.kid, set.next.kid],
    );
    assert.ok(
      jwks.keys.every((k: { d?: string }) => k.d === undefined),
      'no private material',
    );
    assert.equal((await loadKey(dir, 'ES256')).kid, before.kid, 'key.pem loads from the bundle as before');
    await assert.rejects(rotate(dir, 'ES256'), (e: Error) => e instanceof KeyError && /keys promote/.test(e.message));
  });

  test('promote switches signing, retires the former key with its dates, and refuses without a next key', async () => {
    const dir = await freshDir();
    await assert.rejects(promote(dir, 'ES256', LIFETIMES), /keys rotate/);
    const old = await loadKey(dir, 'ES256');
    const staged = (await rotate(dir, 'ES256')).next!;
    const now = Date.parse('2030-01-01T00:00:00Z');
    const set = await promote(dir, 'ES256', LIFETIMES, now);
    assert.equal(set.current.kid, staged.kid);
    assert.equal(set.next, null);
    assert.deepEqual(await readdir(dir).then((names) => names.includes('next')), false);
    const [retired] = set.retired;
    assert.equal(retired!.key.kid, old.kid);
    assert.equal(retired!.retiredAt, '2030-01-01T00:00:00.000Z');
    assert.equal(retired!.publishUntil, new Date(now + (900 + 60) * 1000).toISOString());
    assert.equal(retired!.keepUntil, new Date(now + (86400 + 60) * 1000).toISOString());
    assert.deepEqual(
      set.jwks(now).keys.map((k) => k.kid),
      [staged.kid, old.kid],
    );
    assert.equal(count(await readFile(join(dir, 'cert.pem'), 'utf8')), 2);
  });

  test('publish drops a retired key at publishUntil and deletes it at keepUntil', async () => {
    const dir = await freshDir();
    await rotate(dir, 'ES256');
    const now = Date.now();
    const promoted = await promote(dir, 'ES256', LIFETIMES, now);
    const published = await publish(dir, 'ES256', now + 961_000);
    assert.equal(published.retired.length, 1, 'kept');
    assert.deepEqual(
      JSON.parse(await readFile(join(dir, 'jwks.json'), 'utf8')).keys.map((k: { kid: string }) => k.kid),
      [promoted.current.kid],
    );
    assert.equal(count(await readFile(join(dir, 'cert.pem'), 'utf8')), 1);
    await publish(dir, 'ES256', now + 86_461_000);
    assert.deepEqual(await readdir(join(dir, 'retired')), [], 'deleted after keepUntil');
  });

  test('every state promote passes through loads with one current key', async () => {
    const dir = await freshDir();
    const set = await rotate(dir, 'ES256');
    // A half-written retirement (no retired.json yet) is ignored.
    await mkdir(join(dir, 'retired', 'partial'), { recursive: true });
    await writeFile(join(dir, 'retired', 'partial', 'key.pem'), 'not yet');
    assert.equal((await loadKeySet(dir, 'ES256')).retired.length, 0);
    // key.pem renamed, next/ not yet removed: the staged key is the current one, not twice.
    await rename(keyFiles(join(dir, 'next')).key, keyFiles(dir).key);
    await writeFile(keyFiles(join(dir, 'next')).key, await readFile(keyFiles(dir).key));
    const mid = await loadKeySet(dir, 'ES256');
    assert.equal(mid.current.kid, set.next!.kid);
    assert.equal(mid.next, null);
  });

  test('refresh tokens issued under the former key open after promote, on every replica', async () => {
    const dir = await freshDir();
    await rotate(dir, 'ES256');
    const before = await loadKeySet(dir, 'ES256');
    const issuedBefore = await new RefreshTokens(() => before.refreshSecrets(), 3600).issue(
      { sub: 'alice', source: 'static', proof: 'p' },
      'svc',
    );
    await promote(dir, 'ES256', LIFETIMES);
    const [a, b] = await Promise.all([loadKeySet(dir, 'ES256'), loadKeySet(dir, 'ES256')]);
    assert.deepEqual(a.refreshSecrets(), b.refreshSecrets(), 'replicas agree');
    const after = new RefreshTokens(() => a.refreshSecrets(), 3600);
    assert.equal((await after.open(issuedBefore, 'svc')).sub, 'alice');
    // A replica that has not reloaded yet opens tokens issued after promote: it knew the next key.
    const issuedAfter = await after.issue({ sub: 'bob', source: 'static', proof: 'p' }, 'svc');
    assert.equal((await new RefreshTokens(() => before.refreshSecrets(), 3600).open(issuedAfter, 'svc')).sub, 'bob');
    await assert.rejects(
      after.open(issuedBefore, 'other-service'),
      /refresh token/,
      'a claim failure does not try other keys into success',
    );
    const stranger = await new RefreshTokens(new Uint8Array(32).fill(7), 3600).issue(
      { sub: 'eve', source: 'static', proof: 'p' },
      'svc',
    );
    await assert.rejects(after.open(stranger, 'svc'), /not valid/);
  });

  test('a running signer follows the key ring when it reloads', async () => {
    const dir = await freshDir();
    const ring = new KeyRing(await loadKeySet(dir, 'ES256'), 'ES256');
    const signer = new TokenSigner(ring, { issuer: 'i', ttl: 60, header: 'x5c' });
    const first = decodeProtectedHeader((await signer.sign('a', 's', [])).token);
    await rotate(dir, 'ES256');
    const promoted = await promote(dir, 'ES256', LIFETIMES);
    assert.equal(decodeProtectedHeader((await signer.sign('a', 's', [])).token).kid, first.kid, 'until reload');
    await ring.reload();
    const second = decodeProtectedHeader((await signer.sign('a', 's', [])).token);
    assert.equal(second.kid, promoted.current.kid);
    assert.deepEqual(second.x5c, [promoted.current.certificateBase64]);
  });

  test('a directory that stops loading keeps the previous keys and reports why', async () => {
    const dir = await freshDir();
    const events: unknown[] = [];
    const ring = new KeyRing(await loadKeySet(dir, 'ES256'), 'ES256', (e) => events.push(e));
    const kid = ring.current.kid;
    await writeFile(join(dir, 'cert.pem'), (await createKeyMaterial('ES256')).certificatePem);
    await ring.reload();
    assert.equal(ring.current.kid, kid);
    assert.match(JSON.stringify(events), /does not belong/);
  });

  test('keys generate --force drops staged and retired keys', async () => {
    const dir = await freshDir();
    await rotate(dir, 'ES256');
    await promote(dir, 'ES256', LIFETIMES);
    await rotate(dir, 'ES256');
    const fresh = await generateKey(dir, 'ES256', true);
    const set = await loadKeySet(dir, 'ES256');
    assert.equal(set.current.kid, fresh.kid);
    assert.equal(set.next, null);
    assert.equal(set.retired.length, 0);
    assert.equal(set.jwks().keys.length, 1);
  });
});
