import { randomBytes } from 'node:crypto';
import { EncryptJWT, jwtDecrypt } from 'jose';

// Refresh tokens (docs/protocol.md section 7): docker stores one as its identity token and
// reuses it for every later login, so it is long-lived, never rotated, and opaque: a JWE
// only forgegate can open. It is bound to (subject, service) and names what must be
// re-checked on each use, so a deleted account or revoked forge token stops working.

const ISSUER = 'forgegate/refresh';

export interface RefreshClaims {
  /** The JWT subject the refresh token was issued to. */
  sub: string;
  /** "static", or the forge name, that vouched for the subject. */
  source: string;
  /** What the source needs to re-verify the subject: a hash fingerprint, a forge credential. */
  proof: string;
}

export class InvalidRefreshToken extends Error {
  override name = 'InvalidRefreshToken';
}

export class RefreshTokens {
  /**
   * `secrets`: one secret, or (key rotation) a list read at each use whose first member issues
   * and every member opens, so tokens issued under a former signing key keep working.
   */
  constructor(
    private readonly secrets: Uint8Array | (() => readonly Uint8Array[]),
    private readonly ttl: number,
  ) {}

  private get all(): readonly Uint8Array[] {
    return typeof this.secrets === 'function' ? this.secrets() : [this.secrets];
  }

  async issue(claims: RefreshClaims, service: string, now = Date.now()): Promise<string> {
    const iat = Math.floor(now / 1000);
    return new EncryptJWT({ ...claims })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', typ: 'forgegate-refresh' })
      .setIssuer(ISSUER)
      .setAudience(service)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.ttl)
      .setJti(randomBytes(16).toString('base64url'))
      .encrypt(this.all[0]!);
  }

  /** The claims of a token issued for `service`; anything else is an InvalidRefreshToken. */
  async open(token: string, service: string): Promise<RefreshClaims & { jti: string }> {
    const secrets = this.all;
    for (let i = 0; ; i++) {
      try {
        return await this.openWith(secrets[i]!, token, service);
      } catch (error) {
        // Only a failed decryption may mean "another key": a valid token that fails a claim check fails.
        const undecryptable = (error as { cause?: { code?: string } }).cause?.code === 'ERR_JWE_DECRYPTION_FAILED';
        if (!undecryptable || i === secrets.length - 1) throw error;
      }
    }
  }

  private async openWith(secret: Uint8Array, token: string, service: string): Promise<RefreshClaims & { jti: string }> {
    try {
      const { payload } = await jwtDecrypt(token, secret, {
        issuer: ISSUER,
        audience: service,
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
        typ: 'forgegate-refresh',
      });
      const { sub, source, proof, jti } = payload;
      if (
        typeof sub !== 'string' ||
        typeof source !== 'string' ||
        typeof proof !== 'string' ||
        typeof jti !== 'string'
      ) {
        throw new InvalidRefreshToken('refresh token is missing claims');
      }
      return { sub, source, proof, jti };
    } catch (error) {
      if (error instanceof InvalidRefreshToken) throw error;
      throw new InvalidRefreshToken(describe(error), { cause: error });
    }
  }
}

/** Looks like a compact JWE (five dot-separated parts): how a refresh token is told apart. */
export function looksLikeRefreshToken(text: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(text);
}

// jose's messages are safe to log (they never include the token); its codes are stable.
function describe(error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code === 'ERR_JWT_EXPIRED') return 'refresh token has expired';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') return `refresh token ${(error as Error).message}`;
  return 'refresh token is not valid';
}
