import type { Credential } from './credentials/credential.js';
import { STATIC_SOURCE, type StaticAccounts } from './credentials/static.js';
import { AuthenticationFailed, BadRequest } from './errors.js';
import type { Acl } from './policy/acl.js';
import { toGrants } from './policy/grant.js';
import { ANONYMOUS, type Decision, type Identity, type Scope } from './policy/types.js';
import { InvalidRefreshToken, type RefreshClaims, type RefreshTokens } from './token/refresh.js';
import type { SignedToken, TokenSigner } from './token/signer.js';

// The authority answers one token request: who is calling (credentials), what they may do
// (policy), and the signed answer (token). It holds no HTTP concerns, so `explain` and the
// token endpoint share it and cannot drift apart.

export interface TokenRequest {
  /** The `service` parameter; absent means the configured one. */
  service: string | undefined;
  scopes: Scope[];
  credential: Credential;
  /** offline_token=true / access_type=offline: the client wants a refresh token. */
  offline: boolean;
}

export interface Authentication {
  identity: Identity;
  /** How the caller authenticated this time: a refresh token stands in for the original credential. */
  via: Credential['kind'];
  /** Whether the credential was verified from cache (for logs and metrics). */
  cached: boolean;
  /** What a refresh token must carry to re-verify this identity; null for anonymous. */
  refresh: RefreshClaims | null;
  /** The refresh token presented, when that is how the caller authenticated. */
  presentedRefreshToken?: string;
}

export interface TokenResult {
  authentication: Authentication;
  decisions: Decision[];
  token: SignedToken;
  refreshToken?: string;
}

export interface AuthorityOptions {
  service: string;
  staticAccounts: StaticAccounts;
  acl: Acl;
  signer: TokenSigner;
  refreshTokens: RefreshTokens;
}

export class Authority {
  constructor(private readonly options: AuthorityOptions) {}

  async issue(request: TokenRequest): Promise<TokenResult> {
    const service = this.checkService(request.service);
    const authentication = await this.authenticate(request.credential, service);
    const decisions = await this.decide(authentication.identity, request.scopes);
    const token = await this.options.signer.sign(authentication.identity.subject, service, toGrants(decisions));
    const result: TokenResult = { authentication, decisions, token };
    if (request.offline && authentication.refresh) {
      // Never rotated: docker keeps the first identity token it was given for good.
      result.refreshToken = authentication.presentedRefreshToken ?? (await this.options.refreshTokens.issue(authentication.refresh, service));
    }
    return result;
  }

  checkService(service: string | undefined): string {
    if (service === undefined || service === '') return this.options.service;
    if (service !== this.options.service) throw new BadRequest(`unknown service "${service.slice(0, 100)}": this server issues tokens for "${this.options.service}"`);
    return service;
  }

  async authenticate(credential: Credential, service: string): Promise<Authentication> {
    switch (credential.kind) {
      case 'anonymous':
        return { identity: ANONYMOUS, via: 'anonymous', cached: false, refresh: null };
      case 'password':
        return this.authenticatePassword(credential.username, credential.password);
      case 'refresh':
        return this.authenticateRefresh(credential.token, service);
    }
  }

  async decide(identity: Identity, scopes: readonly Scope[]): Promise<Decision[]> {
    return scopes.map((scope) => this.options.acl.decide(identity.subject, scope));
  }

  private async authenticatePassword(username: string, password: string): Promise<Authentication> {
    const { staticAccounts } = this.options;
    if (await staticAccounts.has(username)) {
      const { identity, cached, proof } = await staticAccounts.authenticate(username, password);
      return { identity, via: 'password', cached, refresh: { sub: identity.subject, source: STATIC_SOURCE, proof } };
    }
    throw new AuthenticationFailed('invalid username or password', `no static account "${username}" and no forge recognised the credential`);
  }

  private async authenticateRefresh(token: string, service: string): Promise<Authentication> {
    let claims: RefreshClaims;
    try {
      claims = await this.options.refreshTokens.open(token, service);
    } catch (error) {
      if (error instanceof InvalidRefreshToken) throw new AuthenticationFailed('refresh token is not valid', error.message);
      throw error;
    }
    if (claims.source !== STATIC_SOURCE) {
      throw new AuthenticationFailed('refresh token is no longer valid', `refresh token names unknown source "${claims.source}"`);
    }
    const identity = await this.options.staticAccounts.recheck(claims.sub, claims.proof);
    return { identity, via: 'refresh', cached: false, refresh: { sub: claims.sub, source: claims.source, proof: claims.proof }, presentedRefreshToken: token };
  }
}
