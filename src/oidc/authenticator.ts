import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import { AuthenticationFailed } from '../errors.js';
import type { ForgeRouter } from '../forges/router.js';
import { decide } from '../policy/grant.js';
import {
  compileRule,
  findRule,
  judgeAlsoPull,
  judgeOwnProject,
  ownsImage,
  protectedCaller,
  type ImageStyle,
  type OidcCaller,
  type OidcRule,
} from '../policy/oidc.js';
import type { Decision, Identity, Scope } from '../policy/types.js';
import type { OidcIssuerConfig } from '../config/oidc.js';
import { OidcIssuer } from './issuer.js';

// CI ID tokens as docker-login passwords: told apart by their shape (a compact JWS), routed
// to the trusted issuer their `iss` names, verified offline, and then judged by that
// issuer's rules on the job's own project. Every other image is left to the caller (the
// authority), which treats the job as anonymous there.

/**
 * A compact JWS: three base64url parts, the header a JSON object ("eyJ" is `{"`). The
 * signature may be empty so that an `alg: none` token is taken for one, and refused.
 */
const JWS_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** A configured issuer ready to use: keys, compiled rules, where its projects' images live. */
interface TrustedIssuer {
  issuer: OidcIssuer;
  config: OidcIssuerConfig;
  rules: OidcRule[];
  /** The forge whose image prefix (and anonymous rules) the jobs' projects are under, or null. */
  forge: string | null;
  prefix: string;
  style: ImageStyle;
}

/** A verified ID token: what the authority keeps for deciding scopes and for the audit line. */
export interface OidcSession {
  identity: Identity;
  caller: OidcCaller;
  /** The first rule naming the job's project; null: the job is anonymous everywhere. */
  rule: OidcRule | null;
  /** The token's `exp`, in seconds since the epoch. */
  expiresAt: number;
  issuer: TrustedIssuer;
}

export interface ForgeLayout {
  name: string;
  type: 'gitlab' | 'github';
  prefix: string;
}

export class OidcAuthenticator {
  private readonly issuers = new Map<string, TrustedIssuer>();
  private readonly algorithms: Set<string>;
  /** Verified tokens by digest, each kept until its own `exp`: replays cost no crypto. Bounded by size, as 10,000 sessions. */
  private readonly verified = new LRUCache<string, OidcSession>({ maxSize: 10_000, sizeCalculation: () => 1 });

  constructor(configs: readonly OidcIssuerConfig[], forges: readonly ForgeLayout[]) {
    for (const config of configs) {
      // The configuration refuses this too; an issuer without a forge beside forges would let
      // its jobs' projects own those paths on every forge.
      if (config.forge === null && forges.length > 0) {
        throw new Error(`OIDC issuer ${config.name} names no forge (oidc[].forge) while forges are configured`);
      }
      const forge = config.forge === null ? undefined : forges.find((f) => f.name === config.forge);
      if (config.forge !== null && forge === undefined) {
        throw new Error(`OIDC issuer ${config.name} names forge "${config.forge}", which is not configured`);
      }
      const style: ImageStyle = forge?.type ?? (config.preset === 'gitlab' ? 'gitlab' : 'github');
      this.issuers.set(config.issuer, {
        issuer: new OidcIssuer(config),
        config,
        rules: config.rules.map(compileRule),
        forge: forge?.name ?? null,
        prefix: forge?.prefix ?? '',
        style,
      });
    }
    this.algorithms = new Set(configs.flatMap((c) => c.algorithms));
  }

  get enabled(): boolean {
    return this.issuers.size > 0;
  }

  /** The issuers, for `forgegate check`. */
  list(): OidcIssuer[] {
    return [...this.issuers.values()].map((t) => t.issuer);
  }

  /** Whether a password is meant for us: any username, a JWS-shaped password, an issuer configured. */
  recognises(password: string): boolean {
    return this.enabled && JWS_SHAPE.test(password);
  }

  async authenticate(token: string, now = Date.now()): Promise<OidcSession & { cached: boolean }> {
    const key = createHash('sha256').update(token).digest('base64url');
    const known = this.verified.get(key);
    if (known !== undefined && known.expiresAt * 1000 > now) return { ...known, cached: true };

    // Before anything else, and before any key is looked for: no `none`, no HS* (a public
    // key taken as an HMAC secret), nothing no issuer allows.
    let alg: unknown;
    let unverified: JWTPayload;
    try {
      alg = decodeProtectedHeader(token).alg;
      unverified = decodeJwt(token);
    } catch {
      throw new AuthenticationFailed('invalid OIDC ID token', 'password looks like a JWT but does not decode');
    }
    if (typeof alg !== 'string' || !this.algorithms.has(alg)) {
      throw new AuthenticationFailed(
        'invalid OIDC ID token',
        `ID token algorithm ${JSON.stringify(alg)} is not allowed (allowed: ${[...this.algorithms].join(', ')})`,
      );
    }
    // `iss` only picks which configured issuer verifies it; nothing is fetched for an unknown one.
    const trusted = typeof unverified.iss === 'string' ? this.issuers.get(unverified.iss) : undefined;
    if (trusted === undefined) {
      throw new AuthenticationFailed(
        'invalid OIDC ID token',
        `ID token issuer ${JSON.stringify(String(unverified.iss).slice(0, 200))} is not a trusted oidc[].issuer`,
      );
    }

    const payload = await trusted.issuer.verify(token);
    const session = this.sessionOf(trusted, payload);
    const ttl = session.expiresAt * 1000 - now;
    if (ttl > 0) this.verified.set(key, session, { ttl });
    return { ...session, cached: false };
  }

  /**
   * The decision on a scope of the job's own project, or one its rule's alsoPull names;
   * null when the scope is neither and the caller must judge it as an anonymous request.
   * On its own project, the rule's grant is held to what the image's forge restricts beyond
   * roles (GitLab's protected container repositories, judged on `user_access_level`).
   */
  async decide(session: OidcSession, scope: Scope, router: ForgeRouter): Promise<Decision | null> {
    const { rule, caller, issuer } = session;
    if (rule === null || scope.type !== 'repository') return null;
    const path = this.imagePath(issuer, scope.name, router);
    if (path === null) return null;
    if (ownsImage(caller.project, path, issuer.style)) {
      const forge = router.forImage(scope.name)?.forge;
      const judge = judgeOwnProject(rule, caller);
      if (forge?.restrict === undefined) return decide(scope, judge);
      return decide(scope, await forge.restrict(judge, caller.project, path, protectedCaller(caller)));
    }
    const also = judgeAlsoPull(rule, caller, path);
    return also === null ? null : decide(scope, also);
  }

  /** The image's path under the issuer's prefix, lower-cased; null when the image is routed elsewhere. */
  private imagePath(issuer: TrustedIssuer, name: string, router: ForgeRouter): string | null {
    // Without a forge (only where none is configured) no image is routed anywhere else.
    const routed = router.forImage(name)?.forge.name ?? null;
    if (routed !== issuer.forge) return null;
    if (!name.startsWith(issuer.prefix)) return null;
    return name.slice(issuer.prefix.length).toLowerCase();
  }

  private sessionOf(trusted: TrustedIssuer, payload: JWTPayload): OidcSession {
    const { config } = trusted;
    const claims: Record<string, string> = {};
    for (const [name, value] of Object.entries(payload)) {
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
        claims[name] = String(value);
    }
    const project = claims[config.claims.project!];
    if (project === undefined || project === '') {
      throw new AuthenticationFailed(
        'invalid OIDC ID token',
        `OIDC issuer ${config.name}: the token has no "${config.claims.project}" claim naming its project`,
      );
    }
    const pick = (claim: string | null) => (claim === null ? null : (claims[claim] ?? null));
    const caller: OidcCaller = {
      issuer: config.name,
      project: project.toLowerCase(),
      projectId: pick(config.claims.projectId),
      ref: pick(config.claims.ref),
      workflow: pick(config.claims.workflow),
      claims,
    };
    const identity: Identity = { subject: claims.sub ?? caller.project, kind: 'oidc', source: config.name };
    return { identity, caller, rule: findRule(trusted.rules, caller), expiresAt: payload.exp!, issuer: trusted };
  }
}
