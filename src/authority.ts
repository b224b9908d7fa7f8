import type { Credential, PasswordCredential } from './credentials/credential.js';
import { decodeProof, encodeProof, type RefreshProof } from './credentials/proof.js';
import { withForgeCallBudget, type ForgeCallBudget } from './forges/budget.js';
import type { CacheOutcome, Forge, ForgeSession } from './forges/forge.js';
import type { ForgeRouter } from './forges/router.js';
import { STATIC_SOURCE, type StaticAccounts } from './credentials/static.js';
import { AuthenticationFailed, BadRequest } from './errors.js';
import type { Acl } from './policy/acl.js';
import type { OidcAuthenticator, OidcSession } from './oidc/authenticator.js';
import { decide, denying, replay, toGrants } from './policy/grant.js';
import { ANONYMOUS, type Decision, type Identity, type Scope } from './policy/types.js';
import { InvalidRefreshToken, looksLikeRefreshToken, type RefreshClaims, type RefreshTokens } from './token/refresh.js';
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
  /**
   * Charged for the forge calls made to judge scopes as for anyone (the caller holds no
   * credential of the image's forge): those run on the service token, whose quota all share.
   */
  anonymousBudget?: ForgeCallBudget | undefined;
}

/**
 * Who a verified caller is, as far as deciding scopes goes: each kind is decided by its own
 * rules (Authority.decideOne), and nothing else about the caller changes a decision.
 */
export type Caller =
  /** No credential: the ACL's anonymous rules, else what each image's forge allows anyone. */
  | { kind: 'anonymous' }
  /** A static account: the ACL only. */
  | { kind: 'static' }
  /** A forge's user, job or installation: its own forge's judgement, anonymous elsewhere. */
  | { kind: 'forge'; session: ForgeSession }
  /** A CI ID token: its issuer's rules on its own project, anonymous elsewhere. */
  | { kind: 'oidc'; session: OidcSession };

export interface Authentication {
  identity: Identity;
  caller: Caller;
  /** How the caller authenticated this time: a refresh token stands in for the original credential. */
  via: Credential['kind'];
  /** Whether the credential was verified from cache (for logs and metrics). */
  cached: boolean;
  /** What a refresh token would carry to re-verify this identity; null for anonymous and ID tokens. */
  refresh: RefreshBasis | null;
  /** The refresh token presented, when that is how the caller authenticated. */
  presentedRefreshToken?: string;
}

/**
 * Who a refresh token would be issued to and what it would carry; sealed (`encodeProof`) only
 * when one is issued, so that a request without offline_token builds no string holding a
 * forge credential.
 */
export type RefreshBasis = Omit<RefreshClaims, 'proof'> & { proof: RefreshProof };

export interface TokenResult {
  authentication: Authentication;
  decisions: Decision[];
  /** How the forge answers were found: all from cache, any stale, or some asked anew. */
  cache: 'hit' | 'miss' | 'stale' | 'none';
  token: SignedToken;
  refreshToken?: string;
}

export interface AuthorityOptions {
  service: string;
  staticAccounts: StaticAccounts;
  acl: Acl;
  router: ForgeRouter;
  signer: TokenSigner;
  refreshTokens: RefreshTokens;
  /** Trusted CI ID token issuers; absent or empty: no password is taken for an ID token. */
  oidc?: OidcAuthenticator;
}

/** One scope's decision, and how the forge's judgement behind it was found (null: no forge judged it). */
interface Decided {
  decision: Decision;
  cache: CacheOutcome | null;
}

export class Authority {
  constructor(private readonly options: AuthorityOptions) {}

  async issue(request: TokenRequest): Promise<TokenResult> {
    const service = this.checkService(request.service);
    const authentication = await this.authenticate(request.credential, service, request.scopes);
    const { caller } = authentication;
    const verified = caller.kind === 'forge' ? [caller.session.cacheOutcome ?? 'miss'] : [];
    const decided = await this.decideAll(authentication, request.scopes, request.anonymousBudget);
    const decisions = decided.map((d) => d.decision);
    const judged = decided.flatMap((d) => d.cache ?? []);
    const token = await this.options.signer.sign(authentication.identity.subject, service, toGrants(decisions));
    const result: TokenResult = { authentication, decisions, token, cache: summarize([...verified, ...judged]) };
    if (request.offline && authentication.refresh) {
      // Never rotated: docker keeps the first identity token it was given for good.
      const { refresh } = authentication;
      result.refreshToken =
        authentication.presentedRefreshToken ??
        (await this.options.refreshTokens.issue({ ...refresh, proof: encodeProof(refresh.proof) }, service));
    }
    return result;
  }

  checkService(service: string | undefined): string {
    if (service === undefined || service === '') return this.options.service;
    if (service !== this.options.service)
      throw new BadRequest(
        `unknown service "${service.slice(0, 100)}": this server issues tokens for "${this.options.service}"`,
      );
    return service;
  }

  /** `scopes` only steer which forge may see an unrecognisable credential. */
  async authenticate(credential: Credential, service: string, scopes: readonly Scope[] = []): Promise<Authentication> {
    switch (credential.kind) {
      case 'anonymous':
        return ANONYMOUS_AUTHENTICATION;
      case 'password':
        return this.authenticatePassword(credential, scopes);
      case 'refresh':
        return this.authenticateRefresh(credential.token, service, scopes);
    }
  }

  /** Decides every scope; forge lookups for different scopes run concurrently. */
  async decide(
    authentication: Authentication,
    scopes: readonly Scope[],
    anonymousBudget?: ForgeCallBudget,
  ): Promise<Decision[]> {
    return (await this.decideAll(authentication, scopes, anonymousBudget)).map((d) => d.decision);
  }

  private decideAll(
    authentication: Authentication,
    scopes: readonly Scope[],
    anonymousBudget: ForgeCallBudget | undefined,
  ): Promise<Decided[]> {
    const lookups = new ForgeLookups(anonymousBudget);
    return Promise.all(scopes.map((scope) => this.decideOne(authentication, scope, lookups)));
  }

  // Static accounts answer to the ACL only. Anonymous callers get the ACL's anonymous rules,
  // else what the image's forge allows anyone. Forge callers count on their own forge only:
  // elsewhere they are anonymous. The ACL never speaks for a forge caller, whatever its name:
  // a forge login that equals an ACL account is not that account. A CI job decides its own
  // project by its issuer's rules, and is anonymous elsewhere.
  private decideOne(authentication: Authentication, scope: Scope, lookups: ForgeLookups): Promise<Decided> {
    const { identity, caller } = authentication;
    switch (caller.kind) {
      case 'static':
        return Promise.resolve(unjudged(this.options.acl.decide(identity.subject, scope)));
      case 'anonymous':
        return this.decideAnonymous(scope, lookups);
      case 'forge':
        return this.decideForgeCaller(caller.session, identity, scope, lookups);
      case 'oidc':
        return this.decideJob(caller.session, scope, lookups);
    }
  }

  private decideAnonymous(scope: Scope, lookups: ForgeLookups): Promise<Decided> {
    const { acl } = this.options;
    const catalog = scope.type === 'registry' && scope.name === 'catalog';
    if (catalog || acl.match('', scope)) return Promise.resolve(unjudged(acl.decide('', scope)));
    return this.judgeImage(scope, lookups, null);
  }

  private decideForgeCaller(
    session: ForgeSession,
    identity: Identity,
    scope: Scope,
    lookups: ForgeLookups,
  ): Promise<Decided> {
    if (scope.type === 'registry' && scope.name === 'catalog') {
      // The session's own forge judges it: admins, through a token whose scopes reach the registry.
      const forge = this.options.router.byName(identity.source);
      if (forge === undefined) {
        const because = `no forge "${identity.source}" vouches for ${identity.subject} any more`;
        return Promise.resolve(unjudged(decide(scope, denying('catalog', because))));
      }
      return Promise.resolve(unjudged(decide(scope, replay(forge.judgeCatalog(session)))));
    }
    return this.judgeImage(scope, lookups, { session, forge: identity.source });
  }

  private async decideJob(session: OidcSession, scope: Scope, lookups: ForgeLookups): Promise<Decided> {
    const own = await this.options.oidc!.decide(session, scope, this.options.router);
    return own === null ? this.decideAnonymous(scope, lookups) : unjudged(own);
  }

  /** An image judged by its forge: for `own`'s session on its own forge, else as for anyone. */
  private async judgeImage(
    scope: Scope,
    lookups: ForgeLookups,
    own: { session: ForgeSession; forge: string } | null,
  ): Promise<Decided> {
    const route = scope.type === 'repository' ? this.options.router.forImage(scope.name) : null;
    if (route === null) {
      return unjudged(decide(scope, denying('no-forge', `no forge serves ${scope.type} ${scope.name}`)));
    }
    // Scopes are admitted in request order (decideOne runs synchronously up to here): the same
    // ones are judged whatever the forges answer, and whatever is cached.
    if (!lookups.admit(route.forge.name, route.path)) {
      const because =
        `not judged: one request may name at most ${MAX_FORGE_IMAGES} images served by forges; ` +
        `ask for ${scope.name} in another request`;
      return unjudged(decide(scope, denying('too-many-images', because)));
    }
    const session = own !== null && route.forge.name === own.forge ? own.session : null;
    const judged =
      session !== null
        ? await route.forge.judge(session, route.path)
        : await withForgeCallBudget(lookups.anonymousBudget, () => route.forge.judge(null, route.path));
    const decision = decide(scope, replay(judged.judgements));
    if (session === null) decision.asAnonymous = true;
    return { decision, cache: judged.cacheOutcome ?? 'miss' };
  }

  private async authenticatePassword(
    credential: PasswordCredential,
    scopes: readonly Scope[],
  ): Promise<Authentication> {
    const { staticAccounts, router, oidc } = this.options;
    const { username, password } = credential;
    if (await staticAccounts.has(username)) {
      const { identity, cached, proof } = await staticAccounts.authenticate(username, password);
      const refresh = {
        sub: identity.subject,
        source: STATIC_SOURCE,
        proof: { kind: 'static', digest: proof },
      } as const;
      return { identity, caller: { kind: 'static' }, via: 'password', cached, refresh };
    }
    if (oidc?.recognises(password)) {
      // No refresh token: it would outlive the ID token, whose `exp` bounds what the job may do.
      const { cached, ...session } = await oidc.authenticate(password);
      return { identity: session.identity, caller: { kind: 'oidc', session }, via: 'password', cached, refresh: null };
    }
    // One of our own refresh tokens typed with a username: it is no forge's token, and sent to
    // one it would hand that forge a credential for forgegate (and for another forge, maybe).
    if (looksLikeRefreshToken(password)) {
      const reason =
        'the password is a forgegate refresh token: present it with an empty username, or as refresh_token';
      throw new AuthenticationFailed('invalid username or token', reason);
    }
    const imageForges = scopes.flatMap((scope) => router.forImage(scope.name)?.forge ?? []);
    const forge = router.forCredential(credential, imageForges);
    if (forge === null) {
      throw new AuthenticationFailed(
        'invalid username or password',
        `no static account "${username}", and no single forge could be told apart for the credential`,
      );
    }
    return this.authenticateWithForge(forge, credential, 'password', scopes);
  }

  private async authenticateWithForge(
    forge: Forge,
    credential: PasswordCredential,
    via: Credential['kind'],
    scopes: readonly Scope[],
  ): Promise<Authentication> {
    // Forge tokens are printable ASCII. Anything else cannot travel in a header: the HTTP
    // client would fail (a 503 naming a character of the secret) instead of a plain 401.
    if (!FORGE_TOKEN_TEXT.test(credential.password)) {
      throw new AuthenticationFailed(
        'invalid username or token',
        `the password is not a ${forge.type} token: it holds characters outside printable ASCII`,
      );
    }
    // The images this forge will judge: their lookups may start beside the verification.
    const images = scopes
      .flatMap((scope) => {
        const route = scope.type === 'repository' ? this.options.router.forImage(scope.name) : null;
        return route?.forge === forge ? [route.path] : [];
      })
      .slice(0, MAX_FORGE_IMAGES);
    const session = await forge.authenticate(credential, images);
    // The refresh token is a JWE only forgegate can open: it may carry the forge credential,
    // which every use re-verifies, so a revoked forge token stops its refresh tokens too.
    const refresh = {
      sub: session.identity.subject,
      source: forge.name,
      proof: { kind: 'forge', credential },
    } as const;
    const cached = session.cacheOutcome === 'hit';
    return { identity: session.identity, caller: { kind: 'forge', session }, via, cached, refresh };
  }

  private async authenticateRefresh(token: string, service: string, scopes: readonly Scope[]): Promise<Authentication> {
    let claims: RefreshClaims;
    try {
      claims = await this.options.refreshTokens.open(token, service);
    } catch (error) {
      if (error instanceof InvalidRefreshToken)
        throw new AuthenticationFailed('refresh token is not valid', error.message);
      throw error;
    }
    const proof = decodeProof(claims.proof);
    // A static account's proof names no forge, and a forge's names no static account.
    const expected = claims.source === STATIC_SOURCE ? 'static' : 'forge';
    if (proof?.kind !== expected) {
      const reason = `refresh token carries no ${expected} proof for "${claims.source}"`;
      throw new AuthenticationFailed('refresh token is not valid', reason);
    }
    switch (proof.kind) {
      case 'static': {
        const identity = await this.options.staticAccounts.recheck(claims.sub, proof.digest);
        const refresh = { sub: claims.sub, source: claims.source, proof };
        const caller = { kind: 'static' } as const;
        return { identity, caller, via: 'refresh', cached: false, refresh, presentedRefreshToken: token };
      }
      case 'forge': {
        const forge = this.options.router.byName(claims.source);
        if (forge === undefined)
          throw new AuthenticationFailed(
            'refresh token is no longer valid',
            `refresh token names unknown source "${claims.source}"`,
          );
        const authentication = await this.authenticateWithForge(forge, proof.credential, 'refresh', scopes);
        // Bound to its subject: a credential that now names another account (renamed, reassigned) does not carry it over.
        if (authentication.identity.subject !== claims.sub) {
          throw new AuthenticationFailed(
            'refresh token is no longer valid',
            `refresh token was issued to "${claims.sub}"; its credential now names "${authentication.identity.subject}"`,
          );
        }
        return { ...authentication, presentedRefreshToken: token };
      }
    }
  }
}

const ANONYMOUS_AUTHENTICATION: Authentication = {
  identity: ANONYMOUS,
  caller: { kind: 'anonymous' },
  via: 'anonymous',
  cached: false,
  refresh: null,
};

function unjudged(decision: Decision): Decided {
  return { decision, cache: null };
}

/**
 * The images one request may have judged by forges. Each costs a forge up to one repository's
 * lookups (cache misses), on the service token for callers without credentials; docker asks
 * for one to three. Past this, scopes are denied without a forge call.
 */
export const MAX_FORGE_IMAGES = 16;

/** The distinct images (per forge, case-insensitive) one request has sent to forges so far, and its budget. */
class ForgeLookups {
  private readonly images = new Set<string>();

  constructor(readonly anonymousBudget: ForgeCallBudget | undefined) {}

  /** Whether the image may be judged: already counted, or within MAX_FORGE_IMAGES. */
  admit(forge: string, path: string): boolean {
    const key = `${forge}\u0000${path.toLowerCase()}`;
    if (this.images.has(key)) return true;
    if (this.images.size >= MAX_FORGE_IMAGES) return false;
    this.images.add(key);
    return true;
  }
}
const FORGE_TOKEN_TEXT = /^[\x21-\x7e]+$/;

function summarize(outcomes: readonly CacheOutcome[]): TokenResult['cache'] {
  if (outcomes.length === 0) return 'none';
  if (outcomes.includes('stale')) return 'stale';
  return outcomes.every((o) => o === 'hit') ? 'hit' : 'miss';
}
