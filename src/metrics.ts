import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { CacheKind, CacheOutcome } from './cache/cached-forge.js';
import type { Decision } from './policy/types.js';

// Prometheus metrics (GET /metrics). Labels are low-cardinality codes only: the verdict's
// `rule`, never its sentence (which names projects), and never a subject.

export class Metrics {
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: 'forgegate_token_requests_total',
    help: 'Token requests by outcome, credential kind and the source that vouched for the caller',
    labelNames: ['outcome', 'credential', 'source'] as const,
    registers: [this.registry],
  });

  private readonly latency = new Histogram({
    name: 'forgegate_token_request_duration_seconds',
    help: 'Time to answer a token request, forge calls included',
    labelNames: ['outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  private readonly verdicts = new Counter({
    name: 'forgegate_verdicts_total',
    help: 'Decisions on requested actions, by the rule that decided',
    labelNames: ['action', 'verdict', 'rule', 'source'] as const,
    registers: [this.registry],
  });

  private readonly cache = new Counter({
    name: 'forgegate_cache_total',
    help: 'Forge answers looked up in the cache: verified credentials, rejected ones, decisions',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** For the caching layer: counts hits, misses and stale serves. */
  readonly cacheObserver = (kind: CacheKind, outcome: CacheOutcome): void => {
    this.cache.inc({ kind, outcome });
  };

  tokenRequest(outcome: string, credential: string, source: string, seconds: number, decisions: readonly Decision[]): void {
    this.requests.inc({ outcome, credential, source });
    this.latency.observe({ outcome }, seconds);
    for (const decision of decisions) {
      for (const verdict of decision.verdicts) {
        this.verdicts.inc({ action: verdict.action, verdict: verdict.granted ? 'granted' : 'denied', rule: verdict.rule, source });
      }
    }
  }
}
