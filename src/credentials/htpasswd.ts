import { readFile, stat } from 'node:fs/promises';
import bcrypt from 'bcryptjs';

// An htpasswd file of bcrypt lines (`htpasswd -nbB user pass`). Other hash types (MD5,
// SHA-1, crypt, plain) are refused at load: they are too weak to guard a registry.

export class HtpasswdError extends Error {
  override name = 'HtpasswdError';
}

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
/** How often a changed file is noticed; lookups in between cost nothing. */
const RECHECK_MS = 1000;

export function parseHtpasswd(text: string, path: string): Map<string, string> {
  const users = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `users.htpasswd ${path} line ${index + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HtpasswdError(`${where}: expected user:hash`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!BCRYPT.test(hash))
      throw new HtpasswdError(
        `${where} (user ${user}): unsupported hash ${hashType(hash)}; only bcrypt ($2y$, $2a$, $2b$) is accepted`,
      );
    if (users.has(user)) throw new HtpasswdError(`${where}: user ${user} is listed twice`);
    users.set(user, hash);
  });
  return users;
}

function hashType(hash: string): string {
  if (hash.startsWith('$apr1$')) return 'type $apr1$ (MD5)';
  if (hash.startsWith('{SHA}')) return 'type {SHA} (SHA-1)';
  const prefix = /^\$[^$]{1,8}\$/.exec(hash)?.[0];
  return prefix ? `type ${prefix}` : 'type (crypt or plain text)';
}

/** The file, re-read when it changes so that removing a user takes effect without a restart. */
export class HtpasswdFile {
  private users: Map<string, string>;
  private version: string;
  private checkedAt = Date.now();

  private constructor(
    readonly path: string,
    users: Map<string, string>,
    version: string,
    private readonly onReloadError: (error: Error) => void,
  ) {
    this.users = users;
    this.version = version;
  }

  static async load(path: string, onReloadError: (error: Error) => void = () => {}): Promise<HtpasswdFile> {
    const [text, version] = await read(path);
    return new HtpasswdFile(path, parseHtpasswd(text, path), version, onReloadError);
  }

  /** The bcrypt hash of `user`, or undefined. */
  async hashOf(user: string): Promise<string | undefined> {
    if (Date.now() - this.checkedAt >= RECHECK_MS) await this.refresh(); // the warm path skips an await
    return this.users.get(user);
  }

  async has(user: string): Promise<boolean> {
    return (await this.hashOf(user)) !== undefined;
  }

  // A broken edit keeps the last good content: an operator's typo must not lock out robots.
  private async refresh(): Promise<void> {
    if (Date.now() - this.checkedAt < RECHECK_MS) return;
    this.checkedAt = Date.now();
    try {
      const info = await stat(this.path);
      if (versionOf(info) === this.version) return;
      const [text, version] = await read(this.path);
      this.users = parseHtpasswd(text, this.path);
      this.version = version;
    } catch (error) {
      this.onReloadError(error as Error);
    }
  }
}

export function verifyPassword(password: string, hash: string): Promise<boolean> {
  return bcrypt.compare(password, hash);
}

async function read(path: string): Promise<[string, string]> {
  try {
    const info = await stat(path);
    return [await readFile(path, 'utf8'), versionOf(info)];
  } catch (error) {
    throw new HtpasswdError(
      `users.htpasswd ${path}: cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
}

function versionOf(info: { mtimeMs: number; size: number; ino: number }): string {
  return `${info.ino}:${info.size}:${info.mtimeMs}`;
}
