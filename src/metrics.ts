import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ForgeCallObserver } from './forges/forge.js';
import type { CacheKind, CacheOutcome } from './forges/cached-forge.js';
import type { Decision } from './policy/types.js';

/** Whose failures a brute-force ban counted: a client address, a static account, or one credential. */
export type BanScope = 'ip' | 'account' | 'credential';

/** Told about the brute-force guard's bans (http/guard/brute-force.ts). */
export interface BanObserver {
  /** A key just reached the failure count and is banned. */
  banned(scope: BanScope): void;
  /** A request was refused because of a ban. */
  refused(scope: BanScope): void;
}

// Prometheus metrics (GET /metrics). Labels are low-cardinality codes only: the verdict's
// `rule`, never its sentence (which names projects), and never a subject.
//
// What every token request records (its count, latency, verdicts, cache lookups) is queued as
// plain numbers and handed to prom-client in batches, when /metrics is read or the queue is
// long: prom-client hashes and checks the labels on every call, which cost more per request
// than the rest of the bookkeeping together.

/** Label values joined into one map key; no label value contains it. */
const SEP = '\u0000';
/** Queued latencies beyond this are applied at once, so the queue stays small without scrapes. */
const MAX_QUEUED = 4096;

/** Counts per label set, applied to `counter` by `flush`. */
class CountQueue<L extends string> {
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly counter: Counter<L>,
    private readonly labelNames: readonly L[],
  ) {}

  add(...values: string[]): void {
    const key = values.join(SEP);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  flush(): void {
    for (const [key, count] of this.counts) {
      const values = key.split(SEP);
      this.counter.inc(
        Object.fromEntries(this.labelNames.map((name, i) => [name, values[i]!])) as Partial<Record<L, string>>,
        count,
      );
    }
    this.counts.clear();
  }
}

/**
 * Latencies waiting for `histogram`, with their outcomes, in arrays made once. In a plain array
 * each latency was a heap number of its own: one per request, kept until the next flush, so it
 * outlived the young generation and filled the old one, whose collections hold up every request.
 */
class LatencyQueue {
  private readonly seconds = new Float64Array(MAX_QUEUED);
  private readonly outcomes = new Array<string>(MAX_QUEUED).fill('');
  private length = 0;

  constructor(private readonly histogram: Histogram<'outcome'>) {}

  /** Queues one latency; false when the queue is full and must be flushed. */
  add(outcome: string, seconds: number): boolean {
    this.outcomes[this.length] = outcome;
    this.seconds[this.length] = seconds;
    this.length += 1;
    return this.length < MAX_QUEUED;
  }

  flush(): void {
    for (let i = 0; i < this.length; i++) this.histogram.observe({ outcome: this.outcomes[i] }, this.seconds[i]!);
    this.length = 0;
  }
}

export class Metrics {
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: 'forgegate_token_requests_total',
    help: 'Token requests by outcome, credential kind and the source that vouched for the caller',
    labelNames: ['outcome', 'credential', 'source'] as const,
    registers: [this.registry],
    // A scrape applies what the hot path queued first (see flush).
    collect: () => this.flush(),
  });

  private readonly latency = new Histogram({
    name: 'forgegate_token_request_duration_seconds',
    help: 'Time to answer a token request, forge calls included',
    labelNames: ['outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
    // A scrape applies what the hot path queued first (see flush).
    collect: () => this.flush(),
  });

  private readonly verdicts = new Counter({
    name: 'forgegate_verdicts_total',
    help: 'Decisions on requested actions, by the rule that decided',
    labelNames: ['action', 'verdict', 'rule', 'source'] as const,
    registers: [this.registry],
    // A scrape applies what the hot path queued first (see flush).
    collect: () => this.flush(),
  });

  private readonly cache = new Counter({
    name: 'forgegate_cache_total',
    help: 'Forge answers looked up in the cache: verified credentials, rejected ones, decisions',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
    // A scrape applies what the hot path queued first (see flush).
    collect: () => this.flush(),
  });

  private readonly forgeCalls = new Counter({
    name: 'forgegate_forge_calls_total',
    help: 'Forge API calls by forge, endpoint and HTTP status ("timeout"/"error" when none came)',
    labelNames: ['forge', 'endpoint', 'status'] as const,
    registers: [this.registry],
  });

  private readonly forgeLatency = new Histogram({
    name: 'forgegate_forge_call_duration_seconds',
    help: 'Forge API call latency',
    labelNames: ['forge', 'endpoint'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  private readonly rateLimit = new Gauge({
    name: 'forgegate_forge_rate_limit_remaining',
    help: 'The forge rate limit remaining, as last reported (GitHub X-RateLimit-Remaining)',
    labelNames: ['forge'] as const,
    registers: [this.registry],
  });

  private readonly bans = new Counter({
    name: 'forgegate_bans_total',
    help: 'Brute-force bans started, by what was banned (client ip, static account or forge credential)',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });

  private readonly refusals = new Counter({
    name: 'forgegate_banned_requests_total',
    help: 'Requests refused with 429 because their client ip or account is banned',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });

  // Hits over lookups since start, per kind; a convenience beside forgegate_cache_total,
  // from which rate() ratios over any window can be computed.
  private readonly cacheTally = new Map<string, { hits: number; lookups: number }>();

  private readonly queuedRequests = new CountQueue(this.requests, ['outcome', 'credential', 'source']);
  private readonly queuedVerdicts = new CountQueue(this.verdicts, ['action', 'verdict', 'rule', 'source']);
  private readonly queuedCache = new CountQueue(this.cache, ['kind', 'outcome']);
  private readonly queuedLatencies = new LatencyQueue(this.latency);

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const tally = this.cacheTally;
    new Gauge({
      name: 'forgegate_cache_hit_ratio',
      help: 'Cache hits (stale serves included) over lookups since start, by kind',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      collect() {
        for (const [kind, { hits, lookups }] of tally) this.set({ kind }, lookups === 0 ? 0 : hits / lookups);
      },
    });
  }

  readonly banObserver: BanObserver = {
    banned: (scope) => this.bans.inc({ scope }),
    refused: (scope) => this.refusals.inc({ scope }),
  };

  readonly forgeObserver: ForgeCallObserver = {
    call: (forge, endpoint, status, seconds) => {
      this.forgeCalls.inc({ forge, endpoint, status });
      this.forgeLatency.observe({ forge, endpoint }, seconds);
    },
    rateLimitRemaining: (forge, remaining) => this.rateLimit.set({ forge }, remaining),
  };

  /** Everything buildRuntime reports to: cache lookups and forge calls. */
  get observers(): { cache: Metrics['cacheObserver']; forgeCalls: ForgeCallObserver } {
    return { cache: this.cacheObserver, forgeCalls: this.forgeObserver };
  }

  /** For the caching layer: counts hits, misses and stale serves. */
  readonly cacheObserver = (kind: CacheKind, outcome: CacheOutcome): void => {
    this.queuedCache.add(kind, outcome);
    const tally = this.cacheTally.get(kind) ?? { hits: 0, lookups: 0 };
    tally.lookups += 1;
    if (outcome !== 'miss') tally.hits += 1;
    this.cacheTally.set(kind, tally);
  };

  tokenRequest(
    outcome: string,
    credential: string,
    source: string,
    seconds: number,
    decisions: readonly Decision[],
  ): void {
    this.queuedRequests.add(outcome, credential, source);
    const room = this.queuedLatencies.add(outcome, seconds);
    for (const decision of decisions) {
      for (const verdict of decision.verdicts)
        this.queuedVerdicts.add(verdict.action, verdict.granted ? 'granted' : 'denied', verdict.rule, source);
    }
    if (!room) this.flush();
  }

  /** Applies what the hot path queued to the prom-client metrics. */
  private flush(): void {
    this.queuedRequests.flush();
    this.queuedVerdicts.flush();
    this.queuedCache.flush();
    this.queuedLatencies.flush();
  }
}
