import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto';
import { MemoryCache } from '../cache/memory.js';
import { SingleFlight } from '../cache/single-flight.js';
import { AuthenticationFailed } from '../errors.js';
import type { Identity } from '../policy/types.js';
import { fingerprint } from '../cache/fingerprint.js';
import { verifyPassword, type HtpasswdFile } from './htpasswd.js';

// Static robot and admin accounts from htpasswd. bcrypt is slow by design (cost 10 is about
// a dozen checks a second per core), so a verified credential is remembered for
// cache.identityTtl seconds under an HMAC of it: a busy CI robot is not throttled by it.

export const STATIC_SOURCE = 'static';

export class StaticAccounts {
  private readonly verified = new MemoryCache<string>(10_000);
  private readonly checking = new SingleFlight<boolean>();

  constructor(
    private readonly file: HtpasswdFile | null,
    private readonly secret: KeyObject,
    private readonly ttl: number,
  ) {}

  /** Static accounts answer for their names: such a name never falls through to a forge. */
  async has(username: string): Promise<boolean> {
    return this.file !== null && (await this.file.has(username));
  }

  async authenticate(
    username: string,
    password: string,
  ): Promise<{ identity: Identity; cached: boolean; proof: string }> {
    const hash = await this.file?.hashOf(username);
    if (hash === undefined)
      throw new AuthenticationFailed('invalid username or password', `no static account "${username}"`);
    const proof = hashProof(hash);
    const key = fingerprint(this.secret, username, password);
    // The remembered proof must match the current hash: a changed password invalidates at once.
    const cached = this.verified.get(key) === proof;
    if (!cached) {
      // Keyed by credential and hash: concurrent requests with one credential share one bcrypt check.
      if (!(await this.checking.run(`${key}:${proof}`, () => verifyPassword(password, hash)))) {
        throw new AuthenticationFailed(
          'invalid username or password',
          `wrong password for static account "${username}"`,
        );
      }
      this.verified.set(key, proof, this.ttl);
    }
    return { identity: staticIdentity(username), cached, proof };
  }

  /** Re-checks a refresh token's subject: the account must exist with the same password. */
  async recheck(username: string, proof: string): Promise<Identity> {
    const hash = await this.file?.hashOf(username);
    if (hash === undefined)
      throw new AuthenticationFailed(
        'refresh token is no longer valid',
        `static account "${username}" no longer exists`,
      );
    if (!sameText(hashProof(hash), proof)) {
      throw new AuthenticationFailed(
        'refresh token is no longer valid',
        `the password of static account "${username}" has changed`,
      );
    }
    return staticIdentity(username);
  }
}

function staticIdentity(username: string): Identity {
  return { subject: username, kind: 'static', source: STATIC_SOURCE };
}

/** Constant-time equality: how much of a proof matched must not show in the response time. */
function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// A digest of the bcrypt hash, not the hash itself: the refresh token is encrypted, but
// there is no reason to carry offline-crackable material in it. Remembered per hash (one per
// account, changed only by editing htpasswd), since every request of a robot needs it.
const proofs = new Map<string, string>();
const MAX_PROOFS = 10_000;

function hashProof(hash: string): string {
  let proof = proofs.get(hash);
  if (proof === undefined) {
    proof = createHash('sha256').update(hash).digest('base64url').slice(0, 22);
    if (proofs.size >= MAX_PROOFS) proofs.clear();
    proofs.set(hash, proof);
  }
  return proof;
}
