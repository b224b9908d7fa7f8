import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Grant } from '../policy/types.js';
import type { SigningKey } from './keys.js';

// The registry bearer token (protocol.md section 6): aud is a plain string, every time
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

export class TokenSigner {
  private readonly header: Record<string, unknown>;

  constructor(
    private readonly key: SigningKey,
    private readonly options: SignerOptions,
  ) {
    this.header = { typ: 'JWT', alg: key.algorithm, kid: key.kid };
    if (options.header === 'x5c') this.header.x5c = [key.certificateBase64];
  }

  async sign(subject: string, audience: string, access: Grant[], now = Date.now()): Promise<SignedToken> {
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
      .sign(this.key.signingKey);
    return { token, issuedAt: new Date(iat * 1000), expiresIn: this.options.ttl };
  }
}
