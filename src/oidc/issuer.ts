import { createRemoteJWKSet, jwtVerify, type JWTPayload, type RemoteJWKSet } from 'jose';
import { AuthenticationFailed, Unavailable } from '../errors.js';
import type { OidcIssuerConfig } from '../config/oidc.js';

// One trusted issuer's keys and the offline verification of its tokens. The JWKS location
// comes from the configuration only (jwksUrl, or the issuer's own discovery document),
// never from a token, so a request cannot make forgegate fetch anything (no SSRF).

/** Unknown `kid`s refetch the JWKS at most this often; a failed discovery is retried no sooner. */
export const REFRESH_COOLDOWN_MS = 60_000;
/** Keys are refetched this long after the last fetch even when every kid is known. */
const KEYS_MAX_AGE_MS = 10 * 60_000;

export class OidcIssuer {
  readonly name: string;
  private keys: RemoteJWKSet | undefined;
  private keysUrl: URL | undefined;
  private discovery: Promise<URL> | undefined;
  private discoveryFailedAt = -Infinity;

  constructor(readonly config: OidcIssuerConfig) {
    this.name = config.name;
  }

  /** Verifies signature, iss, aud, exp, nbf and the algorithm; AuthenticationFailed with a reason otherwise. */
  async verify(token: string): Promise<JWTPayload> {
    const keys = await this.keySet();
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms: [...this.config.algorithms],
        clockTolerance: this.config.clockSkew,
        requiredClaims: ['exp'],
      });
      return payload;
    } catch (error) {
      throw this.describe(error);
    }
  }

  /** The JWKS resolver, created on first use (after discovery when no jwksUrl is set). */
  async keySet(): Promise<RemoteJWKSet> {
    if (this.keys !== undefined) return this.keys;
    const url = this.config.jwksUrl === null ? await this.discover() : new URL(this.config.jwksUrl);
    this.keysUrl = url;
    this.keys ??= createRemoteJWKSet(url, {
      timeoutDuration: this.config.timeout * 1000,
      cooldownDuration: REFRESH_COOLDOWN_MS,
      cacheMaxAge: KEYS_MAX_AGE_MS,
      headers: { 'user-agent': 'forgegate' },
    });
    return this.keys;
  }

  /** For `forgegate check`: fetches the keys now; where from, and how many there are. */
  async probe(): Promise<{ url: string; keys: number }> {
    const keys = await this.keySet();
    try {
      await keys.reload();
    } catch (error) {
      throw new Unavailable(
        `OIDC issuer ${this.name}: JWKS at ${this.keysUrl} could not be fetched: ${causeOf(error)}`,
        `oidc:${this.name}`,
      );
    }
    return { url: String(this.keysUrl), keys: keys.jwks()?.keys.length ?? 0 };
  }

  /** `<issuer>/.well-known/openid-configuration`'s jwks_uri; its `issuer` must be ours (OIDC Discovery 4.3). */
  private discover(): Promise<URL> {
    if (this.discovery !== undefined) return this.discovery;
    if (Date.now() - this.discoveryFailedAt < REFRESH_COOLDOWN_MS) {
      return Promise.reject(
        new Unavailable(`OIDC issuer ${this.name}: discovery failed less than a minute ago`, `oidc:${this.name}`),
      );
    }
    const where = `${this.config.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    this.discovery = (async () => {
      let document: { issuer?: unknown; jwks_uri?: unknown };
      try {
        const response = await fetch(where, {
          signal: AbortSignal.timeout(this.config.timeout * 1000),
          redirect: 'error',
          headers: { accept: 'application/json' },
        });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        document = (await response.json()) as typeof document;
      } catch (error) {
        throw new Unavailable(
          `OIDC issuer ${this.name}: discovery at ${where} failed: ${causeOf(error)}`,
          `oidc:${this.name}`,
        );
      }
      if (document.issuer !== this.config.issuer)
        throw new Unavailable(
          `OIDC issuer ${this.name}: discovery names issuer ${JSON.stringify(document.issuer)}, not ${this.config.issuer}`,
          `oidc:${this.name}`,
        );
      if (typeof document.jwks_uri !== 'string' || !/^https?:\/\//.test(document.jwks_uri)) {
        throw new Unavailable(`OIDC issuer ${this.name}: discovery has no http(s) jwks_uri`, `oidc:${this.name}`);
      }
      return new URL(document.jwks_uri);
    })();
    this.discovery.catch(() => {
      this.discovery = undefined;
      this.discoveryFailedAt = Date.now();
    });
    return this.discovery;
  }

  // jose's codes are stable and its messages never include the token. The issuer's key
  // server being down is not the client's fault: 503, never a grant.
  private describe(error: unknown): Error {
    const code = (error as { code?: string }).code;
    const message = (error as Error).message;
    const fail = (reason: string) =>
      new AuthenticationFailed('invalid OIDC ID token', `OIDC issuer ${this.name}: ${reason}`);
    switch (code) {
      case 'ERR_JWT_EXPIRED':
        return fail('token has expired');
      case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
        return fail(`claim check failed: ${message}`);
      case 'ERR_JWKS_NO_MATCHING_KEY':
        return fail('no key of the issuer matches the token (unknown kid)');
      case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
        return fail('the token matches more than one key of the issuer');
      case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
        return fail('signature verification failed');
      case 'ERR_JOSE_ALG_NOT_ALLOWED':
        return fail(`algorithm not allowed: ${message}`);
      case 'ERR_JWT_INVALID':
      case 'ERR_JWS_INVALID':
        return fail(`malformed token: ${message}`);
      case 'ERR_JWKS_TIMEOUT':
        return new Unavailable(`OIDC issuer ${this.name}: JWKS request timed out`, `oidc:${this.name}`);
      case 'ERR_JWKS_INVALID':
      case 'ERR_JOSE_GENERIC':
        return new Unavailable(`OIDC issuer ${this.name}: JWKS could not be read: ${message}`, `oidc:${this.name}`);
      default:
        if (error instanceof TypeError || (error as Error).name === 'AbortError')
          return new Unavailable(`OIDC issuer ${this.name}: JWKS unreachable: ${causeOf(error)}`, `oidc:${this.name}`);
        return fail(`token rejected: ${code ?? message}`);
    }
  }
}

function causeOf(error: unknown): string {
  return (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
}
