import { unwatchFile, watchFile } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { exists, keyFiles, keyFromPem, KeyError, loadKey, type Algorithm, type SigningKey } from './keys.js';
import { deriveSecret } from './secrets.js';

// Every key in token.keyDir, for key rotation without downtime:
//   key.pem, cert.pem, jwks.json   the current (signing) key; cert.pem and jwks.json publish
//                                  every key below too (see rotation.ts, which writes them)
//   next/key.pem, next/cert.pem    the staged key: published, not yet signing
//   retired/<thumbprint>/          a former signing key: key.pem, cert.pem and retired.json,
//                                  published until its last token expired, kept (for refresh
//                                  tokens issued under it) until its last refresh token expired
// The private keys stay because refresh tokens are encrypted under a secret derived from
// the key that was current when they were issued: every kept key can still open its own.

export interface Retirement {
  retiredAt: string;
  /** The last access token it signed has expired by then: it leaves jwks.json and the bundle. */
  publishUntil: string;
  /** The last refresh token issued under it has expired by then: it is deleted. */
  keepUntil: string;
}

export interface RetiredKey extends Retirement {
  key: SigningKey;
  dir: string;
}

export class KeySet {
  constructor(
    readonly keyDir: string,
    readonly current: SigningKey,
    readonly next: SigningKey | null,
    /** Kept retired keys, newest first. */
    readonly retired: readonly RetiredKey[],
  ) {}

  /** What the registry must trust at `now`: current, next, retired keys still publishing. */
  published(now = Date.now()): SigningKey[] {
    const retired = this.retired.filter((r) => Date.parse(r.publishUntil) > now).map((r) => r.key);
    return [this.current, ...(this.next ? [this.next] : []), ...retired];
  }

  jwks(now = Date.now()): { keys: JWK[] } {
    return { keys: this.published(now).flatMap((key) => key.jwks.keys) };
  }

  /** The certificate bundle for auth.token.rootcertbundle, current key first. */
  bundle(now = Date.now()): string {
    return this.published(now)
      .map((key) => key.certificatePem.trimEnd() + '\n')
      .join('');
  }

  /**
   * Secrets that open refresh tokens: the current key's first (it issues), then the staged key
   * (a replica that promoted sooner may have issued under it), then every kept retired key.
   */
  refreshSecrets(): Uint8Array[] {
    return (this.secrets ??= this.deriveRefreshSecrets());
  }

  private secrets: Uint8Array[] | undefined;

  private deriveRefreshSecrets(): Uint8Array[] {
    const keys = [this.current, ...(this.next ? [this.next] : []), ...this.retired.map((r) => r.key)];
    return keys.map((key) => deriveSecret(key.privateKey, 'refresh-token'));
  }
}

export function nextDir(keyDir: string): string {
  return join(keyDir, 'next');
}

export function retiredDir(keyDir: string): string {
  return join(keyDir, 'retired');
}

/**
 * Reads the whole key directory. The current key must load (and match `algorithm`); a broken
 * staged or retired key is an error too, rather than a key silently missing from the bundle.
 * Retired keys past keepUntil are left out (rotation.ts deletes them).
 */
export async function loadKeySet(keyDir: string, algorithm: Algorithm, now = Date.now()): Promise<KeySet> {
  const current = await loadKey(keyDir, algorithm);
  let next: SigningKey | null = null;
  if (await exists(join(nextDir(keyDir), 'key.pem'))) {
    next = await loadDir(nextDir(keyDir));
    if (next.kid === current.kid) next = null; // mid-promote: the staged key is current already
  }
  const retired: RetiredKey[] = [];
  const names = await readdir(retiredDir(keyDir)).catch(() => [] as string[]);
  for (const name of names.sort()) {
    const dir = join(retiredDir(keyDir), name);
    if (!(await exists(join(dir, 'retired.json')))) continue; // mid-promote: not complete yet
    const retirement = JSON.parse(await readFile(join(dir, 'retired.json'), 'utf8')) as Retirement;
    if (Date.parse(retirement.keepUntil) <= now) continue;
    const key = await loadDir(dir);
    if (key.kid !== current.kid && key.kid !== next?.kid) retired.push({ ...retirement, key, dir });
  }
  retired.sort((a, b) => Date.parse(b.retiredAt) - Date.parse(a.retiredAt));
  return new KeySet(keyDir, current, next, retired);
}

async function loadDir(dir: string): Promise<SigningKey> {
  const files = keyFiles(dir);
  const read = (path: string) =>
    readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new KeyError(`cannot read ${path}: ${error.code ?? String(error)}`);
    });
  return keyFromPem(null, await read(files.key), await read(files.certificate), files);
}

/**
 * The key set a running server signs with. `reload` re-reads the directory: it runs when
 * jwks.json or key.pem change (every `keys` command rewrites jwks.json last; the files are
 * polled, which also works on network and Kubernetes volumes where inotify does not) and on
 * SIGHUP. A directory that does not load keeps the previous set.
 */
export class KeyRing {
  private watching: (() => void) | null = null;
  private reloading: Promise<void> = Promise.resolve();

  constructor(
    private set: KeySet,
    private readonly algorithm: Algorithm,
    private readonly onChange: (
      event: { kid: string; previousKid: string; published: string[] } | { error: string },
    ) => void = () => {},
  ) {}

  get keys(): KeySet {
    return this.set;
  }

  get current(): SigningKey {
    return this.set.current;
  }

  jwks(): { keys: JWK[] } {
    return this.set.jwks();
  }

  /** Re-reads the key directory; concurrent calls run one after another. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(async () => {
      try {
        const previousKid = this.set.current.kid;
        this.set = await loadKeySet(this.set.keyDir, this.algorithm);
        this.onChange({ kid: this.set.current.kid, previousKid, published: this.set.published().map((k) => k.kid) });
      } catch (error) {
        this.onChange({ error: (error as Error).message });
      }
    });
    return this.reloading;
  }

  /** Polls key.pem and jwks.json every `intervalMs`; does not keep the process alive. */
  watch(intervalMs = 2000): void {
    const files = keyFiles(this.set.keyDir);
    const paths = [files.key, files.jwks];
    const changed = (now: { mtimeMs: number; ino: number }, before: { mtimeMs: number; ino: number }) => {
      if (now.mtimeMs !== before.mtimeMs || now.ino !== before.ino) void this.reload();
    };
    for (const path of paths) watchFile(path, { interval: intervalMs, persistent: false }, changed);
    this.watching = () => paths.forEach((path) => unwatchFile(path, changed));
  }

  close(): void {
    this.watching?.();
    this.watching = null;
  }
}
