import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createKeyMaterial, exists, keyFiles, KeyError, type Algorithm } from './keys.js';
import { loadKeySet, nextDir, retiredDir, type KeySet, type Retirement } from './keyring.js';

// Key rotation in three commands (docs/key-rotation.md):
//   rotate   stage a next key in next/; publish it (jwks.json, cert.pem bundle). Signs nothing.
//   promote  the next key signs from now on; the former key moves to retired/, still published
//            until every token it signed has expired, and kept until its refresh tokens have.
//   prune    drop retired keys from the bundle and jwks.json once they signed nothing still
//            valid, and delete them once nothing they issued is valid (rotate and promote prune too).
// Every step leaves a directory that loads at any instant (a replica may read mid-step), and
// jwks.json is written last: servers reload when it changes.

export interface Lifetimes {
  /** token.ttl: how long an access token signed by the former key stays valid. */
  ttl: number;
  /** token.refreshTtl: how long a refresh token issued under it stays valid. */
  refreshTtl: number;
}

/** Registries may run a little behind our clock, and clients hold a token a little longer. */
const SKEW_SECONDS = 60;

export async function rotate(keyDir: string, algorithm: Algorithm, now = Date.now()): Promise<KeySet> {
  const set = await loadKeySet(keyDir, algorithm, now);
  if (set.next !== null)
    throw new KeyError(`a next key (kid ${set.next.kid}) is staged already: run "forgegate keys promote" first`);
  const dir = nextDir(keyDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { keyPem, certificatePem } = await createKeyMaterial(algorithm);
  // The certificate first: a key.pem without its certificate would not load.
  await writeAtomic(keyFiles(dir).certificate, certificatePem, 0o644);
  await writeAtomic(keyFiles(dir).key, keyPem, 0o600);
  return publish(keyDir, algorithm, now);
}

export async function promote(
  keyDir: string,
  algorithm: Algorithm,
  lifetimes: Lifetimes,
  now = Date.now(),
): Promise<KeySet> {
  const set = await loadKeySet(keyDir, algorithm, now);
  if (set.next === null)
    throw new KeyError(
      'no next key is staged: run "forgegate keys rotate" first, and give the registries the new bundle',
    );
  const { current } = set;
  const retirement: Retirement = {
    retiredAt: new Date(now).toISOString(),
    publishUntil: new Date(now + (lifetimes.ttl + SKEW_SECONDS) * 1000).toISOString(),
    keepUntil: new Date(now + (Math.max(lifetimes.ttl, lifetimes.refreshTtl) + SKEW_SECONDS) * 1000).toISOString(),
  };
  const dir = join(retiredDir(keyDir), current.thumbprint);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(keyFiles(dir).key, current.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
  await writeAtomic(keyFiles(dir).certificate, current.certificatePem.trimEnd() + '\n', 0o644);
  await writeAtomic(
    join(dir, 'retired.json'),
    JSON.stringify({ kid: current.kid, ...retirement }, null, 2) + '\n',
    0o644,
  );
  // The switch itself is one rename; the bundle already holds the next key's certificate.
  await rename(keyFiles(nextDir(keyDir)).key, keyFiles(keyDir).key);
  await rm(nextDir(keyDir), { recursive: true, force: true });
  if (!(await exists(keyFiles(keyDir).key))) throw new KeyError(`promote lost ${keyFiles(keyDir).key}`);
  return publish(keyDir, algorithm, now);
}

/** Rewrites cert.pem and jwks.json from the directory, and deletes retired keys past keepUntil. */
export async function publish(keyDir: string, algorithm: Algorithm, now = Date.now()): Promise<KeySet> {
  const set = await loadKeySet(keyDir, algorithm, now);
  const files = keyFiles(keyDir);
  await writeAtomic(files.certificate, set.bundle(now), 0o644);
  await writeAtomic(files.jwks, JSON.stringify(set.jwks(now), null, 2) + '\n', 0o644);
  for (const name of await readdir(retiredDir(keyDir)).catch(() => [] as string[])) {
    const dir = join(retiredDir(keyDir), name);
    const retirement = await readFile(join(dir, 'retired.json'), 'utf8').then(
      (text) => JSON.parse(text) as Retirement,
      () => null,
    );
    if (retirement !== null && Date.parse(retirement.keepUntil) <= now) await rm(dir, { recursive: true, force: true });
  }
  return set;
}

// Readers never see half a file: write beside it, then rename over it.
async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode });
  await chmod(temporary, mode);
  await rename(temporary, path);
}
