import type { KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { PasswordCredential } from '../credentials/credential.js';
import { fingerprint } from '../cache/fingerprint.js';
import { AuthenticationFailed, Unavailable } from '../errors.js';
import { currentForgeCallBudget, ForgeCallsSpent } from './budget.js';
import type { CacheableForge, CacheOutcome, Forge, ForgeJudgement, ForgeSession } from './forge.js';
import type { ProjectFacts } from './forge.js';
import type { Logger } from '../log.js';
import type { Judge, Judgements } from '../policy/grant.js';
import type { ProtectedCaller } from '../policy/protection.js';
import { SingleFlight } from '../cache/single-flight.js';
import type { Cached, TieredCache } from '../cache/tiered.js';

// A forge behind the cache (docs/forges.md, the last section): verified credentials, rejected ones and
// judgements are remembered, identical concurrent lookups collapse into one forge call, and
// while the forge is down a recent answer may stand in (cache.staleIfError).
// Credentials appear in keys only as an HMAC under a server secret.

export interface CachePolicy {
  identityTtl: number;
  decisionTtl: number;
  negativeTtl: number;
  staleIfError: number;
}

export type { CacheOutcome };
export type CacheKind = 'identity' | 'rejected' | 'decision';

export interface CacheObserver {
  (kind: CacheKind, outcome: CacheOutcome): void;
}

/** What the caching layer adds to a session: its cache key (how it was found is on every ForgeSession). */
export interface CachedSession extends ForgeSession {
  cacheKey?: string;
}

/** How many recently used entries keep a revived session or hit ready (about 1 KB each). */
const RECENT_ENTRIES = 1024;

export class CachedForge implements Forge<CachedSession> {
  private readonly identities = new SingleFlight<CachedSession>();
  private readonly judgements = new SingleFlight<ForgeJudgement>();
  /**
   * The session each recently used cache entry last revived to, for the credential that revived
   * it. A warm request then makes no session of its own: the four copies restore() and revive()
   * made were most of what a cached GitLab token's request kept alive while in flight, and so
   * most of what it promoted to the old generation. Frozen, since requests share it. Only the
   * most recent entries: one per cached credential cost the memory scenario 10 MiB of live heap.
   */
  private readonly revived = new LRUCache<object, { username: string; password: string; session: CachedSession }>({
    max: RECENT_ENTRIES,
  });
  /** Recently used cached judgements as hits, made once and shared (frozen) for the same reason. */
  private readonly hits = new LRUCache<ForgeJudgement, ForgeJudgement>({ max: RECENT_ENTRIES });

  constructor(
    private readonly inner: CacheableForge,
    private readonly cache: TieredCache,
    private readonly secret: KeyObject,
    private readonly policy: CachePolicy,
    private readonly logger: Logger,
    private readonly observe: CacheObserver = () => {},
  ) {
    inner.useProjectFacts?.(this.projectFacts());
  }

  get name(): string {
    return this.inner.name;
  }
  get type(): 'gitlab' | 'github' {
    return this.inner.type;
  }
  get prefix(): string {
    return this.inner.prefix;
  }

  recognises(credential: PasswordCredential): boolean {
    return this.inner.recognises(credential);
  }

  restrict(judge: Judge, project: string, path: string, caller: ProtectedCaller): Promise<Judge> {
    return this.inner.restrict?.(judge, project, path, caller) ?? Promise.resolve(judge);
  }

  notices(): string[] {
    return this.inner.notices?.() ?? [];
  }

  async authenticate(presented: PasswordCredential, images: readonly string[] = []): Promise<CachedSession> {
    // Keyed by what the forge reads: a new username does not make a known token cold again.
    const credential = fingerprint(this.secret, this.name, ...this.inner.credentialKey(presented));
    const key = `id:${this.name}:${credential}`;
    // The verified entry first: the warm path ends in the in-process level, with no Redis call
    // for a rejection that a verified credential never has (a rejection deletes the entry).
    const cached = await this.cache.get<unknown>(key);
    if (cached?.fresh) return this.revive(cached.value, presented, credential, 'hit');
    const rejected = await this.cache.get<string>(`neg:${this.name}:${credential}`);
    if (rejected?.fresh) {
      this.observe('rejected', 'hit');
      throw new AuthenticationFailed(
        'invalid username or token',
        `${rejected.value} (remembered for cache.negativeTtl)`,
      );
    }
    // Wanted only while the verification runs: once it has answered, this request's judge()
    // makes its own lookups, and one started after that would be a second, wasted forge call.
    const ahead = { wanted: true };
    if (images.length > 0 && (this.inner.prefetch ?? this.inner.speculate))
      this.lookAhead(presented, credential, cached, images, ahead);
    try {
      return await this.verify(key, presented, credential, cached);
    } finally {
      ahead.wanted = false;
    }
  }

  private verify(
    key: string,
    presented: PasswordCredential,
    credential: string,
    cached: Cached<unknown> | undefined,
  ): Promise<CachedSession> {
    return this.identities.run(key, async () => {
      // A flight that ended while this request read Redis may have just stored the answer.
      const landed = await this.cache.get<unknown>(key);
      if (landed?.fresh) return this.revive(landed.value, presented, credential, 'hit');
      try {
        const session = await this.inner.authenticate(presented);
        // Held for a second TTL beyond freshness: a re-verification can then start its lookups early (lookAhead).
        const keep = Math.max(this.policy.staleIfError, this.policy.identityTtl);
        this.cache.set(key, this.inner.persist(session), this.policy.identityTtl, keep, [
          this.accountIndex(session.account),
        ]);
        this.observe('identity', 'miss');
        return { ...session, cacheKey: credential, cacheOutcome: 'miss' };
      } catch (error) {
        this.inner.abandon?.(presented);
        if (error instanceof AuthenticationFailed) {
          this.cache.delete(key);
          this.cache.set(`neg:${this.name}:${credential}`, error.reason, this.policy.negativeTtl);
          throw error;
        }
        if (error instanceof Unavailable && this.usableStale(cached, this.policy.identityTtl)) {
          this.logger.warn(
            { forge: this.name, kind: 'identity', ageMs: cached!.ageMs },
            'forge unavailable: serving a stale verified credential',
          );
          return this.revive(cached!.value, presented, credential, 'stale');
        }
        throw error;
      }
    });
  }

  async judge(session: CachedSession | null, path: string): Promise<ForgeJudgement> {
    try {
      return await this.judgeShared(session, path);
    } catch (error) {
      // The lookup this request joined ran out of the forge calls of the request that started
      // it (another address without credentials): this one's own budget decides, once.
      const joined = error instanceof ForgeCallsSpent && error.budget !== currentForgeCallBudget();
      if (joined) return this.judgeShared(session, path);
      throw error;
    }
  }

  private async judgeShared(session: CachedSession | null, path: string): Promise<ForgeJudgement> {
    // Anonymous answers are shared by all anonymous callers; a session's are its own.
    const who = session === null ? 'anonymous' : (session.cacheKey ?? fingerprint(this.secret, session.account));
    const key = `dec:${this.name}:${who}:${path.toLowerCase()}`;
    const cached = await this.cache.get<ForgeJudgement>(key);
    if (cached?.fresh) {
      this.observe('decision', 'hit');
      return this.asHit(cached.value);
    }
    return this.judgements.run(key, async () => {
      const landed = await this.cache.get<ForgeJudgement>(key);
      if (landed?.fresh) {
        this.observe('decision', 'hit');
        return { ...landed.value, cacheOutcome: 'hit' as const };
      }
      try {
        const judged = await this.inner.judge(session, path);
        // An image in no project is filed under every path it could belong to, so that a
        // project created, renamed or moved there is seen at once.
        const projects = judged.project === null ? enclosingPaths(path) : [judged.project];
        const indexes = [
          ...projects.map((p) => this.projectIndex(p)),
          ...(session ? [this.accountIndex(session.account)] : []),
        ];
        // Never fresher than the project facts it rests on: a rule changed since is seen within decisionTtl.
        const ttl = Math.min(this.policy.decisionTtl, judged.maxAge ?? Infinity);
        this.cache.set(key, judged, ttl, this.policy.staleIfError, indexes);
        this.observe('decision', 'miss');
        return { ...judged, cacheOutcome: 'miss' as const };
      } catch (error) {
        if (error instanceof Unavailable && this.usableStale(cached, this.policy.decisionTtl)) {
          this.logger.warn(
            { forge: this.name, kind: 'decision', image: path, ageMs: cached!.ageMs },
            'forge unavailable: serving a stale decision',
          );
          this.observe('decision', 'stale');
          return { ...cached!.value, cacheOutcome: 'stale' as const };
        }
        throw error;
      }
    });
  }

  private asHit(judged: ForgeJudgement): ForgeJudgement {
    let hit = this.hits.get(judged);
    if (hit === undefined) {
      hit = deepFreeze({ ...judged, cacheOutcome: 'hit' as const });
      this.hits.set(judged, hit);
    }
    return hit;
  }

  judgeCatalog(session: CachedSession): Judgements {
    return this.inner.judgeCatalog(session);
  }

  /**
   * Drops what is cached about projects or repositories and accounts (a webhook said they
   * changed): the decisions on those projects, and the accounts' verified credentials and
   * decisions, here and on every replica at once. Returns the entries dropped.
   */
  invalidate({
    projects = [],
    accounts = [],
  }: {
    projects?: readonly string[];
    accounts?: readonly string[];
  }): Promise<number> {
    for (const project of projects) this.inner.forget?.(project);
    const indexes = [...projects.map((p) => this.projectIndex(p)), ...accounts.map((a) => this.accountIndex(a))];
    return this.cache.invalidate(...indexes);
  }

  /**
   * Starts, beside the verification about to happen, the lookups judge() will need on the
   * images not decided yet: for a credential seen before (its identity entry is past its TTL
   * but still held) what its remembered session says (prefetch); for one never seen, what
   * the credential alone allows (speculate).
   */
  private lookAhead(
    presented: PasswordCredential,
    credential: string,
    known: Cached<unknown> | undefined,
    images: readonly string[],
    ahead: { readonly wanted: boolean },
  ): void {
    void (async () => {
      const cold = [];
      for (const path of images)
        if (!(await this.cache.get(`dec:${this.name}:${credential}:${path.toLowerCase()}`))?.fresh) cold.push(path);
      // The cache may answer late under load (Redis, a busy event loop): after the verification.
      if (cold.length === 0 || !ahead.wanted) return;
      if (known === undefined) this.inner.speculate?.(presented, cold);
      else this.inner.prefetch?.(this.inner.restore(known.value, presented), cold);
    })().catch(() => {});
  }

  private revive(
    data: unknown,
    presented: PasswordCredential,
    credential: string,
    outcome: CacheOutcome,
  ): CachedSession {
    this.observe('identity', outcome);
    if (outcome !== 'hit' || typeof data !== 'object' || data === null)
      return { ...this.inner.restore(data, presented), cacheKey: credential, cacheOutcome: outcome };
    const known = this.revived.get(data);
    if (known && known.username === presented.username && known.password === presented.password) return known.session;
    const session = deepFreeze({ ...this.inner.restore(data, presented), cacheKey: credential, cacheOutcome: outcome });
    this.revived.set(data, { username: presented.username, password: presented.password, session });
    return session;
  }

  /** A stale entry may stand in only within cache.staleIfError past its TTL. */
  private usableStale(cached: { ageMs: number } | undefined, ttl: number): boolean {
    return (
      cached !== undefined && this.policy.staleIfError > 0 && cached.ageMs < (ttl + this.policy.staleIfError) * 1000
    );
  }

  /** Project facts live beside the decisions, under the project's index, for cache.decisionTtl. */
  private projectFacts(): ProjectFacts {
    const key = (project: string, fact: string) => `fact:${this.name}:${fact}:${project.toLowerCase()}`;
    return {
      ttl: this.policy.decisionTtl,
      get: async <T>(project: string, fact: string) => {
        const cached = await this.cache.get<T>(key(project, fact));
        return cached?.fresh ? { value: cached.value, ageSeconds: cached.ageMs / 1000 } : undefined;
      },
      set: (project, fact, value) => {
        this.cache.set(key(project, fact), value, this.policy.decisionTtl, 0, [this.projectIndex(project)]);
      },
    };
  }

  private projectIndex(project: string): string {
    return `idx:p:${this.name}:${project.toLowerCase()}`;
  }

  private accountIndex(account: string): string {
    return `idx:a:${this.name}:${account}`;
  }
}

/** Freezes `value` and every object and array it holds. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** `a/b/c/d` -> `a/b`, `a/b/c`, `a/b/c/d`: the paths a project of this image could have. */
function enclosingPaths(path: string): string[] {
  const segments = path.toLowerCase().split('/');
  const paths: string[] = [];
  for (let n = 2; n <= segments.length; n++) paths.push(segments.slice(0, n).join('/'));
  return paths;
}
