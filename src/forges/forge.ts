import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { PasswordCredential } from '../credentials/credential.js';
import type { Judge, Judgements } from '../policy/grant.js';
import type { ProtectedCaller } from '../policy/protection.js';
import type { Identity } from '../policy/types.js';

// What the token server needs from a forge (GitLab, GitHub): verify a credential, and
// decide a scope for a caller. Each forge gathers its own facts through its API and hands
// them to its pure matrix in policy/; the authority never sees forge specifics.

/**
 * How an answer was found when a cache stands between the authority and the forge (cache/):
 * remembered, asked anew, or remembered past its freshness while the forge is down.
 */
export type CacheOutcome = 'hit' | 'miss' | 'stale';

/** A verified forge caller. `identity` is what logs and JWTs show. */
export interface ForgeSession {
  identity: Identity;
  /** Instance admins may read the catalog. */
  admin: boolean;
  /** The forge's stable account id (user id, login), for invalidating what is cached about it. */
  account: string;
  /** How the verification was found; absent: the forge was asked just now. */
  cacheOutcome?: CacheOutcome;
}

/** What a forge concluded about one image for one caller, for every action. */
export interface ForgeJudgement {
  judgements: Judgements;
  /** The project or repository the image belongs to, or null when it belongs to none. */
  project: string | null;
  /** Seconds it may be reused at most, when facts it rests on (ProjectFacts) expire before cache.decisionTtl. */
  maxAge?: number;
  /** How the judgement was found; absent: the forge was asked just now. */
  cacheOutcome?: CacheOutcome;
}

/**
 * Facts about a project that hold for every caller (GitLab's protection rules), kept by the
 * caching layer beside the decisions: fresh for `ttl` seconds (cache.decisionTtl), shared by
 * replicas, dropped with the project's decisions when a webhook names the project.
 */
export interface ProjectFacts {
  readonly ttl: number;
  /** A fresh fact and its age; undefined when none is held. */
  get<T>(project: string, fact: string): Promise<{ value: T; ageSeconds: number } | undefined>;
  set(project: string, fact: string, value: unknown): void;
}

/** What the authority needs from a forge: verify a credential, judge images and the catalog. */
export interface Forge<S extends ForgeSession = ForgeSession> {
  readonly name: string;
  readonly type: 'gitlab' | 'github';
  /** Image path prefix routed to this forge ("" for the catch-all). */
  readonly prefix: string;

  /** Whether a credential of this shape was issued by this forge: by its prefix, or username convention. */
  recognises(credential: PasswordCredential): boolean;

  /**
   * Verifies a credential; AuthenticationFailed when the forge rejects it, Unavailable when it
   * cannot say. `images` (prefix stripped) are those judge() will be asked about next: a hint
   * the caching layer uses to start their lookups beside the verification.
   */
  authenticate(credential: PasswordCredential, images?: readonly string[]): Promise<S>;

  /** Judges every action on one image; `path` has the prefix stripped. `session` null is anonymous. */
  judge(session: S | null, path: string): Promise<ForgeJudgement>;

  /** Judges `registry:catalog:*` for one of this forge's callers, from the session alone (no call). */
  judgeCatalog(session: S): Judgements;

  /**
   * Applies to a judge made elsewhere (an OIDC rule on the job's own `project`) what the forge
   * itself restricts beyond roles (GitLab's protected container repositories); `path` has the
   * prefix stripped.
   */
  restrict?(judge: Judge, project: string, path: string, caller: ProtectedCaller): Promise<Judge>;

  /** What an operator should know about this forge's configuration (start-up banner, status page). */
  notices?(): string[];
}

/**
 * What only the caching layer (forges/cached-forge.ts) asks of a forge: how to key, keep and
 * revive its sessions, and hints to start lookups early. The authority never sees these.
 */
export interface Cacheable<S extends ForgeSession = ForgeSession> {
  /**
   * What of a credential this forge reads, for cache keys: the kind of credential the username
   * selects (GitLab's `gitlab-ci-token` means a job token) and the secret, never the free text a
   * caller may type as username, which the forge ignores.
   */
  credentialKey(credential: PasswordCredential): readonly string[];

  /** The session without its secret, as plain data a cache may keep. */
  persist(session: S): unknown;

  /**
   * A persisted session made whole again with the credential presented now. Pure: the caching
   * layer hands every request that presents the same credential for the same entry one frozen
   * result.
   */
  restore(data: unknown, credential: PasswordCredential): S;

  /**
   * A hint that judge() on these images follows the re-verification of a credential this
   * session was built from before: a forge may start the lookups the session will need now,
   * so a refresh costs about one round trip. Never required.
   */
  prefetch?(session: S, paths: readonly string[]): void;

  /**
   * A hint that a credential never seen before is being verified now, and that judge() on
   * these images follows if it holds: a forge may start the lookups that need nothing but
   * the credential, so a cold token costs about one round trip instead of two. A credential
   * that fails wastes those calls, once per credential per cache.negativeTtl. Never required.
   */
  speculate?(credential: PasswordCredential, paths: readonly string[]): void;

  /** The credential's verification failed: drop what prefetch or speculate started for it. */
  abandon?(credential: PasswordCredential): void;

  /** Forgets anything the forge itself remembers about a project (it was renamed, moved, deleted). */
  forget?(project: string): void;

  /** Where to keep facts about projects; without it, a forge asks for them every time. */
  useProjectFacts?(facts: ProjectFacts): void;
}

/** A forge as runtime.ts builds it, before the cache wraps it. */
export type CacheableForge<S extends ForgeSession = ForgeSession> = Forge<S> & Cacheable<S>;

/**
 * A forge's deliberate answer to a call (401, 403, 404...), as opposed to its failure to
 * answer (Unavailable). Forges decide what each refusal means; one they did not expect is
 * turned into Unavailable, never passed on as our own status.
 */
export class ForgeRefusal extends Error {
  override name = 'ForgeRefusal';
  constructor(
    readonly endpoint: string,
    readonly httpStatus: number,
    message: string,
  ) {
    super(message);
  }
}

/** Told about every forge API call, for metrics: the status, or "timeout"/"error" when none came. */
export interface ForgeCallObserver {
  call(forge: string, endpoint: string, status: string, seconds: number): void;
  /** GitHub's X-RateLimit-Remaining as last seen. */
  rateLimitRemaining(forge: string, remaining: number): void;
}

export const IGNORE_CALLS: ForgeCallObserver = { call() {}, rateLimitRemaining() {} };

/**
 * Lookups started ahead of need (prefetch, speculate), each for one credential and one item
 * (a project path), taken once by whoever needs them, dropped when stale. Credentials are
 * held only as a digest. A lookup is not started twice while it is held (a stampede costs
 * one call), nor for a second after it was taken. When the credential fails, its lookups are
 * discarded, so no later request is answered from them. Bounded at both levels (credentials,
 * and lookups per credential) and expiring: one credential naming a million images holds at
 * most `perCredential` lookups, for `maxAgeMs`. A credential's lookups are a plain Map, oldest
 * first: an LRU of its own per credential (about 3.5 KB each, empty) held 7 MiB at 2,000.
 */
export class Prefetched<T> {
  private readonly byCredential: LRUCache<string, Map<string, Lookup<T>>>;

  constructor(
    private readonly maxAgeMs = 5000,
    max = 2_000,
    private readonly perCredential = 32,
  ) {
    this.byCredential = new LRUCache({ max, ttl: maxAgeMs, ttlAutopurge: false });
  }

  put(credential: string, item: string, start: () => Promise<T>): void {
    const now = Date.now();
    const owner = digest(credential);
    const items = this.byCredential.get(owner) ?? new Map<string, Lookup<T>>();
    if ((items.get(item)?.until ?? 0) > now) return;
    items.delete(item); // a stale one: its successor goes in as the newest
    if (items.size >= this.perCredential) items.delete(items.keys().next().value!);
    this.byCredential.set(owner, items); // (again): the credential's lookups live as long as its newest
    const promise = start();
    promise.catch(() => {}); // whoever takes it sees the failure; nobody else must
    items.set(item, { promise, until: now + this.maxAgeMs });
  }

  take(credential: string, item: string): Promise<T> | undefined {
    const entry = this.byCredential.get(digest(credential))?.get(item);
    if (entry === undefined || entry.promise === null) return undefined;
    const { promise, until } = entry;
    const now = Date.now();
    // Long enough for requests already past their cache check to arrive; short enough that a
    // later cold request (its cached answer expired meanwhile) looks ahead again.
    entry.promise = null;
    entry.until = Math.min(until, now + TAKEN_GRACE_MS);
    return until > now ? promise : undefined;
  }

  /** The credential failed: what was started for it answers nobody. */
  discard(credential: string): void {
    this.byCredential.delete(digest(credential));
  }

  /** Lookups held, over every credential (for tests and memory checks). */
  get size(): number {
    let total = 0;
    for (const items of this.byCredential.values()) total += items.size;
    return total;
  }
}

const TAKEN_GRACE_MS = 1000;

interface Lookup<T> {
  /** null once taken. */
  promise: Promise<T> | null;
  until: number;
}

function digest(credential: string): string {
  return createHash('sha256').update(credential).digest('base64url');
}
