import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Grant } from '../policy/types.js';
import type { SigningKey } from './keys.js';

// The registry bearer token (docs/protocol.md section 6): aud is a plain string, every time
// claim an integer, and the header carries what the registry needs to find our key.

export type HeaderMode = 'x5c' | 'kid';

export interface SignerOptions {
  issuer: string;
  ttl: number; // seconds
  header: HeaderMode;
}

export interface SignedToken {
  token: string;
  issuedAt: Date;
  expiresIn: number;
}

/** Tolerates registries whose clocks run a little behind ours. */
const NOT_BEFORE_SKEW = 5;

/** A fixed key, or a key ring whose current key may change (promote) while the server runs. */
export type KeySource = SigningKey | { readonly current: SigningKey };

export class TokenSigner {
  private headerKey: SigningKey | undefined;
  private header: Record<string, unknown> = {};

  constructor(
    private readonly keys: KeySource,
    private readonly options: SignerOptions,
  ) {}

  /** The key that signs now. */
  get key(): SigningKey {
    return 'current' in this.keys ? this.keys.current : this.keys;
  }

  async sign(subject: string, audience: string, access: Grant[], now = Date.now()): Promise<SignedToken> {
    const key = this.key;
    if (key !== this.headerKey) {
      this.header = { typ: 'JWT', alg: key.algorithm, kid: key.kid };
      if (this.options.header === 'x5c') this.header.x5c = [key.certificateBase64];
      this.headerKey = key;
    }
    const iat = Math.floor(now / 1000);
    const token = await new SignJWT({
      iss: this.options.issuer,
      sub: subject,
      aud: audience,
      exp: iat + this.options.ttl,
      nbf: iat - NOT_BEFORE_SKEW,
      iat,
      jti: randomBytes(16).toString('base64url'),
      access,
    })
      .setProtectedHeader(this.header as { alg: string })
      .sign(key.signingKey);
    return { token, issuedAt: new Date(iat * 1000), expiresIn: this.options.ttl };
  }
}
