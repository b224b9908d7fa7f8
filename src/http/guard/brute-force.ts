import { createSecretKey, hash, randomBytes, type KeyObject } from 'node:crypto';
import type { Redis, Cluster } from 'ioredis';
import { LRUCache } from 'lru-cache';
import {
  RateLimiterMemory,
  RateLimiterRedis,
  type RateLimiterAbstract,
  type RateLimiterRes,
} from 'rate-limiter-flexible';
import type { Config } from '../../config/schema.js';
import type { Credential } from '../../credentials/credential.js';
import { fingerprint } from '../../cache/fingerprint.js';
import { SingleFlight } from '../../cache/single-flight.js';
import { AuthenticationFailed } from '../../errors.js';
import { JOB_TOKEN_USER } from '../../forges/token-prefixes.js';
import type { ForgeCallBudget } from '../../forges/budget.js';
import type { Logger } from '../../log.js';
import type { BanObserver, BanScope } from '../../metrics.js';
import { AnonymousForgeCalls } from './anonymous.js';

// Brute-force protection for password logins. Failed attempts are counted per client IP and
// per subject; reaching `limits.failures` within `limits.window` seconds bans the key for
// `limits.ban` seconds. Counters live in Redis when configured, so replicas share bans.
//
// The subject is the account only for names forgegate owns (static accounts). A forge ignores
// the username of a token login, so people share a few (`oauth2`, `x-access-token`, their own
// name): counting those would let one address ban every user of `oauth2` everywhere. Forge-token
// (and ID token) failures count per credential instead, as a keyed digest of the secret.
//
// What counts: AuthenticationFailed for a password credential. Anonymous requests, refresh
// tokens and GitLab CI job tokens never count and are never refused: runners share NAT
// addresses and retry, and every job shares the username "gitlab-ci-token" (a ban on it
// would stop all CI). A success forgives that subject's failures, and on the IP counter
// only the failures this subject made from that IP: forgiving the whole IP would let one
// valid login reset a password spray.
//
// The warm path stays free of Redis calls: a caller found with no failures at all is
// remembered in-process for a second, so a busy robot costs one lookup a second, and a ban
// started on another replica reaches this one within that second and a quarter: a caller back
// within the quarter after its second is admitted while its counters are read again, so a
// busy robot's requests never wait for that lookup (they were the slowest 1% at a steady rate).
//
// Fail open: the limiter is a defence, not a dependency. Redis down falls back to a
// per-process limiter, and any other limiter error admits the request.

/** 429 with Retry-After (http/errors.ts maps it). */
export class TooManyAttempts extends Error {
  override name = 'TooManyAttempts';
  constructor(
    readonly scope: BanScope,
    /** Whole seconds until the ban ends. */
    readonly retryAfter: number,
  ) {
    super(`too many failed login attempts ${WHERE[scope]}; retry in ${retryAfter} seconds`);
  }
}

const WHERE: Record<BanScope, string> = {
  ip: 'from this address',
  account: 'for this account',
  credential: 'with this credential',
};

/** What the guard learnt about a request at admission, reused when it is settled. */
export interface Admission {
  /** `subject`: the static account, or the forge credential's digest (`scope` says which). */
  keys: { ip: string; subject: string; scope: 'account' | 'credential'; pair: string } | null;
  /** Failures on record for the subject, and for this subject from this IP. */
  subjectFailures: number;
  pairFailures: number;
}

export interface GuardOptions {
  redis?: Redis | Cluster;
  logger?: Logger;
  observer?: BanObserver;
  /** Whether a username is a static account's (counted per account); absent: none is. */
  ownsAccount?: (username: string) => Promise<boolean> | boolean;
  /** Keys the credential digests: a Redis reader must not be able to test guesses against them. */
  secret?: KeyObject;
}

export type LimitsConfig = Config['limits'];

/** How long a caller with no failures on record is admitted without asking the limiter. */
const CLEAN_MS = 1000;
/** After it, how long such a caller is still admitted while the limiter is asked again. */
const REREAD_MS = 250;
/** Marks held before the first sweep of expired ones (`markClean`). */
const FIRST_SWEEP_AT = 64;

export class BruteForceGuard {
  private readonly limiter: RateLimiterAbstract;
  /** Callers found with no failures: when that reading began (performance.now()). */
  private readonly clean = new LRUCache<string, number>({
    max: 10_000,
    ttl: CLEAN_MS + REREAD_MS,
    ttlAutopurge: false,
  });
  private sweepAt = FIRST_SWEEP_AT;
  /** Moves on whenever a mark is taken back: a reading begun before that marks no one clean. */
  private generation = 0;
  private readonly readings = new SingleFlight<Readings>();
  private readonly logger: Logger | undefined;
  private readonly observer: BanObserver | undefined;
  private readonly ownsAccount: (username: string) => Promise<boolean> | boolean;
  private readonly secret: KeyObject;
  private readonly anonymous: AnonymousForgeCalls | null;

  constructor(
    private readonly config: LimitsConfig,
    options: GuardOptions = {},
  ) {
    const base = { points: config.failures, duration: config.window, keyPrefix: 'limits' };
    const memory = new RateLimiterMemory(base);
    this.limiter = options.redis
      ? new RateLimiterRedis({
          ...base,
          storeClient: options.redis,
          rejectIfRedisNotReady: true,
          insuranceLimiter: memory,
        })
      : memory;
    this.logger = options.logger;
    this.observer = options.observer;
    this.ownsAccount = options.ownsAccount ?? (() => false);
    this.secret = options.secret ?? createSecretKey(randomBytes(32));
    this.anonymous = config.enabled ? new AnonymousForgeCalls(config.anonymousForgeCalls, options) : null;
  }

  /**
   * The budget of forge calls a request from `clientIp` may spend on scopes judged as for anyone
   * (no credential of the image's forge); undefined when limits are off.
   */
  forgeBudget(clientIp: string): ForgeCallBudget | undefined {
    return this.anonymous?.budget(clientIp);
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  /** Refuses a banned caller with TooManyAttempts; otherwise returns what `settle` needs. */
  async admit(clientIp: string, credential: Credential | undefined): Promise<Admission> {
    const keys = await this.keysFor(clientIp, credential);
    if (keys === null) return { keys, subjectFailures: 0, pairFailures: 0 };
    const readAt = this.clean.get(keys.pair);
    if (readAt === undefined) {
      const { ban, subjectFailures, pairFailures } = await this.check(keys);
      if (ban !== null) {
        this.observer?.refused(ban.scope);
        throw ban;
      }
      return { keys, subjectFailures, pairFailures };
    }
    // Within the quarter after its second: read again, not waited for. A reading that does not
    // renew the mark (a ban, a failure on record) takes it back, so the requests after it are
    // read (and refused) in turn.
    if (performance.now() - readAt >= CLEAN_MS) {
      void this.check(keys).then(() => {
        if (this.clean.peek(keys.pair) === readAt) this.clean.delete(keys.pair);
      });
    }
    return { keys, subjectFailures: 0, pairFailures: 0 };
  }

  /** Reads a caller's counters: the ban they hold, if any, else its failures; marks a caller with none. */
  private async check(keys: NonNullable<Admission['keys']>): Promise<Reading> {
    // One reading per pair at a time: when a busy caller's clean mark expires, its concurrent
    // requests share the reading instead of each sending its own three (a burst of Redis calls).
    // Not one begun before a mark was taken back (a failure, a ban): that one is read afresh.
    const generation = this.generation;
    const startedAt = performance.now();
    const [ip, subject, pair] = await this.readings.run(`${generation} ${keys.pair}`, () =>
      Promise.all([this.read(keys.ip), this.read(keys.subject), this.read(keys.pair)]),
    );
    const reading: Reading = { ban: null, subjectFailures: live(subject), pairFailures: live(pair) };
    for (const [scope, res] of [
      ['ip', ip],
      [keys.scope, subject],
    ] as const) {
      if (res !== null && res.consumedPoints > this.config.failures && res.msBeforeNext > 0) {
        return { ...reading, ban: new TooManyAttempts(scope, Math.max(1, Math.ceil(res.msBeforeNext / 1000))) };
      }
    }
    const noFailures = live(ip) + reading.subjectFailures + reading.pairFailures === 0;
    if (noFailures && generation === this.generation) this.markClean(keys.pair, startedAt);
    return reading;
  }

  // An expired mark is dropped when read, and a caller who does not come back never reads it:
  // 10,000 one-time callers left 10,000 keys for the bound to evict (0.6 MB of a 42 MB heap in
  // the memory scenario). Expired marks are swept whenever the marks have doubled since the last
  // sweep, so they stay within twice the recent callers, at a constant cost per mark.
  private markClean(pair: string, readAt: number): void {
    this.clean.set(pair, readAt);
    if (this.clean.size < this.sweepAt) return;
    this.clean.purgeStale();
    this.sweepAt = Math.max(FIRST_SWEEP_AT, 2 * this.clean.size);
  }

  /** Callers marked clean, expired or not (tests and memory checks). */
  cleanMarks(): number {
    return this.clean.size;
  }

  /** Takes back one caller's mark, or (pair undefined) every mark: the next request reads the counters. */
  private unmark(pair?: string): void {
    this.generation++;
    if (pair === undefined) this.clean.clear();
    else this.clean.delete(pair);
  }

  /** Counts a failed authentication, or forgives on success; other errors change nothing. */
  async settle(admission: Admission, error: unknown): Promise<void> {
    const { keys } = admission;
    if (keys === null) return;
    try {
      if (error === undefined) {
        const work: Promise<unknown>[] = [];
        if (admission.subjectFailures > 0) work.push(this.limiter.delete(keys.subject));
        if (admission.pairFailures > 0) work.push(this.forgivePair(keys, admission.pairFailures));
        await Promise.all(work);
      } else if (error instanceof AuthenticationFailed) {
        this.unmark(keys.pair);
        await Promise.all([this.fail(keys.ip, 'ip'), this.fail(keys.subject, keys.scope), this.fail(keys.pair, null)]);
      }
    } catch (failure) {
      this.logger?.warn({ err: (failure as Error).message }, 'brute-force limiter unavailable: attempt not recorded');
    }
  }

  // Concurrent successes of one caller all read the same failures at admission: only the one
  // whose delete finds the pair's counter takes them off the IP, or a spray hidden behind a
  // burst of valid logins would be forgiven many times over (and the IP's count go negative).
  private async forgivePair(keys: NonNullable<Admission['keys']>, failures: number): Promise<void> {
    if (await this.limiter.delete(keys.pair)) await this.limiter.reward(keys.ip, failures);
  }

  /** Forgets every counter and ban of an IP or account (tests, operators). */
  async forgive(clientIp: string, username: string): Promise<void> {
    this.unmark();
    await Promise.all([this.limiter.delete(`ip:${clientIp}`), this.limiter.delete(accountKey(username))]);
  }

  private async keysFor(clientIp: string, credential: Credential | undefined): Promise<Admission['keys']> {
    if (!this.config.enabled || credential?.kind !== 'password') return null;
    const owned = await this.ownsAccount(credential.username);
    // Job tokens pass; a static account that happens to be named like them is a password like any other.
    if (!owned && credential.username === JOB_TOKEN_USER) return null;
    const subject = owned ? accountKey(credential.username) : this.credentialKey(credential.password);
    const scope = owned ? 'account' : 'credential';
    return { ip: `ip:${clientIp}`, subject, scope, pair: `pair:${clientIp}:${subject}` };
  }

  // Keyed: a Redis reader must not be able to test password guesses against the counters.
  private credentialKey(password: string): string {
    return `credential:${fingerprint(this.secret, 'guard', password).slice(0, 22)}`;
  }

  private async read(key: string): Promise<RateLimiterRes | null> {
    try {
      return await this.limiter.get(key);
    } catch (failure) {
      this.logger?.warn({ err: (failure as Error).message }, 'brute-force limiter unavailable: admitting');
      return null;
    }
  }

  // The failure that reaches the count starts the ban (block), so the next attempt is refused.
  private async fail(key: string, scope: BanScope | null): Promise<void> {
    let consumed: number;
    try {
      consumed = (await this.limiter.consume(key)).consumedPoints;
    } catch (res) {
      if (res instanceof Error) throw res;
      return; // already over the count: banned, or racing the request that banned it
    }
    if (scope !== null && consumed >= this.config.failures) {
      await this.limiter.block(key, this.config.ban);
      this.unmark(); // no caller of this replica slips past the new ban
      this.observer?.banned(scope);
      const message = `brute-force ban: too many failed logins for one ${BANNED[scope]}`;
      this.logger?.warn({ ban: scope, seconds: this.config.ban, failures: consumed }, message);
    }
  }
}

/** The limiter's counts of a request's IP, subject and pair. */
type Readings = [RateLimiterRes | null, RateLimiterRes | null, RateLimiterRes | null];

/** What the counters say of a caller: a ban on its IP or subject, else its failures on record. */
interface Reading {
  ban: TooManyAttempts | null;
  subjectFailures: number;
  pairFailures: number;
}

const BANNED: Record<BanScope, string> = { ip: 'client IP', account: 'account', credential: 'credential' };

// Usernames are hashed: the counters (in Redis, possibly) need not name accounts. Only the
// static accounts' names are counted per account (forge logins per credential), so they are
// few, and each one's key is kept: a hash on every request is a call into OpenSSL whose code
// has left the CPU caches since the last one (BENCHMARKS.md, "cold caches").
const accountKeys = new Map<string, string>();
const MAX_ACCOUNT_KEYS = 10_000;

function accountKey(username: string): string {
  let key = accountKeys.get(username);
  if (key === undefined) {
    key = `account:${hash('sha256', username, 'base64url').slice(0, 22)}`;
    if (accountKeys.size >= MAX_ACCOUNT_KEYS) accountKeys.clear();
    accountKeys.set(username, key);
  }
  return key;
}

function live(res: RateLimiterRes | null): number {
  return res !== null && res.msBeforeNext > 0 ? res.consumedPoints : 0;
}
