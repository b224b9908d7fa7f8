import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { z } from 'zod';
import { Unavailable } from '../errors.js';
import { ForgeRefusal, type ForgeCallObserver } from './forge.js';

// The plumbing every forge API client shares: timing and reporting each call, the two kinds
// of failure (a refusal the forge chose, or no usable answer), and checking bodies. What
// differs between forges (how their client library reports an error) stays in their api.ts.

/** The kind of forge, as messages name it. */
export type ForgeLabel = 'GitLab' | 'GitHub';

export class ForgeCalls {
  constructor(
    private readonly label: ForgeLabel,
    /** The configured forge's name. */
    readonly forge: string,
    readonly timeoutMs: number,
    private readonly observer: ForgeCallObserver,
  ) {}

  /** Starts timing a call; the function returned reports it with its status (or "timeout"/"error"). */
  start(endpoint: string): (status: string) => void {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    return (status) => this.observer.call(this.forge, endpoint, status, seconds());
  }

  /** The body, if it has the fields forgegate reads; a body of another shape is no answer. */
  parse<T>(endpoint: string, shape: z.ZodType<T>, body: unknown): T {
    const parsed = shape.safeParse(body);
    if (!parsed.success) throw this.unavailable(endpoint, 'an unexpected body');
    return parsed.data;
  }

  /**
   * What an HTTP error status means: 429 and 5xx that the forge could not answer now; any other
   * status in `refusals` (all when absent) is the forge's answer, any other still no answer.
   */
  byStatus(endpoint: string, status: number, message: string, refusals?: ReadonlySet<number>): Error {
    if (status === 429 || status >= 500) return this.unavailable(endpoint, `HTTP ${status}`);
    if (refusals !== undefined && !refusals.has(status)) return this.unavailable(endpoint, `HTTP ${status}`);
    return new ForgeRefusal(endpoint, status, message);
  }

  /**
   * `work`'s outcome, or `noAnswerInTime` once the forge timeout has passed without one. The
   * client libraries time their calls out themselves, with an AbortSignal; but undici can lose
   * that abort: a Request built from another Request (as gitbeaker's own requester builds them;
   * `gitlab/requester.ts` no longer does) follows the signal through weak references, which a
   * garbage collection during the call can cut. A forge that answers a byte at a time then held
   * the call, and every request waiting on it, for as long as it kept sending. This deadline
   * depends on none of that. What it cannot do is close the connection: a call it ends runs on,
   * unread, until the forge finishes or drops it.
   */
  within<T>(endpoint: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.noAnswerInTime(endpoint)), this.timeoutMs);
    });
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }

  /** A rate limit that is spent: `endpoint` was not sent, and asking again before `resetAt` cannot help. */
  rateLimited(endpoint: string, resetAt: number): Unavailable {
    return new Unavailable(
      `${this.label} "${this.forge}" rate limit for this credential is spent until ${new Date(resetAt).toISOString()} (${endpoint} not sent)`,
      this.forge,
      secondsUntil(resetAt),
    );
  }

  noAnswerInTime(endpoint: string): Unavailable {
    return this.unavailable(endpoint, `no answer within ${this.timeoutMs} ms`);
  }

  unavailable(endpoint: string, why: string, retryAfter?: number): Unavailable {
    return new Unavailable(
      `${this.label} "${this.forge}" could not answer ${endpoint}: ${why}`,
      this.forge,
      retryAfter,
    );
  }
}

/** Seconds from now until `at` (epoch ms), at least 1: a Retry-After. */
export function secondsUntil(at: number): number {
  return Math.max(1, Math.ceil((at - Date.now()) / 1000));
}

/** When a Retry-After (seconds, or an HTTP date) says to ask again, epoch ms; undefined if it says nothing readable. */
export function retryAt(retryAfter: string | undefined, now = Date.now()): number | undefined {
  const value = retryAfter?.trim();
  if (!value) return undefined;
  const at = /^\d+$/.test(value) ? now + Number(value) * 1000 : Date.parse(value);
  return Number.isFinite(at) ? at : undefined;
}

/** The longest a spent quota is believed: a reset further out than this is asked about again then. */
const LONGEST_WAIT_MS = 3_600_000;

/**
 * Credentials whose quota at the forge is spent, until the forge said it resets. Their calls are
 * not sent: a 503 with Retry-After instead, so that requests cheap to send cannot keep a forge
 * that is already limiting forgegate busy. Kept under a digest of the credential (null: calls
 * without one), for at most LONGEST_WAIT_MS.
 */
export class SpentQuotas {
  private readonly until = new LRUCache<string, number>({ max: 10_000, ttlAutopurge: false });

  constructor(private readonly calls: ForgeCalls) {}

  /** The key a credential's quota is kept under. */
  static keyOf(credential: string | null): string {
    return createHash('sha256')
      .update(credential ?? '(anonymous)')
      .digest('base64url');
  }

  /** Throws ForgeCalls.rateLimited while `key`'s quota is spent. */
  check(key: string, endpoint: string): void {
    const resetAt = this.until.get(key);
    if (resetAt !== undefined && resetAt > Date.now()) throw this.calls.rateLimited(endpoint, resetAt);
  }

  /** Remembers that `key`'s quota is spent until `resetAt` (epoch ms); returns the time it keeps. */
  spend(key: string, resetAt: number): number {
    const until = Math.min(resetAt, Date.now() + LONGEST_WAIT_MS);
    if (until > Date.now()) this.until.set(key, until, { ttl: until - Date.now() });
    return until;
  }

  /** The answer to the call the forge rate-limited just now (`why`), after remembering it until `resetAt`. */
  limitedNow(key: string, endpoint: string, why: string, resetAt: number): Unavailable {
    return this.calls.unavailable(endpoint, why, secondsUntil(this.spend(key, resetAt)));
  }
}

/**
 * A refusal no rule expected (a service token lacking rights, say) is a misconfiguration:
 * a clear 503 naming the forge and the call, never a grant and never a misleading status.
 */
export function unexpected<T>(label: ForgeLabel, forge: string, work: Promise<T>, hint = ''): Promise<T> {
  return work.catch((error: unknown) => {
    if (!(error instanceof ForgeRefusal)) throw error;
    throw new Unavailable(`${label} "${forge}" refused ${error.endpoint} (HTTP ${error.httpStatus})${hint}`, forge);
  });
}
