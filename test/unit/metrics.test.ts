import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from '../../src/metrics.js';
import type { Decision } from '../../src/policy/types.js';

// What token requests record is queued and applied to prom-client in batches: a scrape must
// still count every request before it, exactly once, however many were queued.

const decision = {
  verdicts: [
    { action: 'pull', granted: true, rule: 'acl-rule' },
    { action: 'push', granted: false, rule: 'acl-default-deny' },
  ],
} as unknown as Decision;

async function value(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name)!;
  return (metric.values as { labels: Record<string, string>; value: number }[])
    .filter((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l))
    .reduce((n, v) => n + v.value, 0);
}

test('every request counts once per scrape, across the queue bound and repeated scrapes', async () => {
  const metrics = new Metrics();
  const requests = 10_000; // more than the queue holds before it applies itself
  for (let i = 0; i < requests; i++) {
    metrics.tokenRequest(
      i % 10 === 0 ? 'unauthorized' : 'granted',
      'password',
      'static',
      0.0004,
      i % 10 === 0 ? [] : [decision],
    );
    metrics.cacheObserver('identity', i % 2 === 0 ? 'hit' : 'miss');
  }
  for (let scrape = 0; scrape < 2; scrape++) {
    assert.equal(
      await value(metrics, 'forgegate_token_requests_total', {
        outcome: 'granted',
        credential: 'password',
        source: 'static',
      }),
      9_000,
    );
    assert.equal(await value(metrics, 'forgegate_token_requests_total', { outcome: 'unauthorized' }), 1_000);
    assert.equal(await value(metrics, 'forgegate_token_request_duration_seconds', { le: '0.0005' }), requests);
    assert.equal(
      await value(metrics, 'forgegate_verdicts_total', { verdict: 'denied', rule: 'acl-default-deny' }),
      9_000,
    );
    assert.equal(await value(metrics, 'forgegate_cache_total', { kind: 'identity', outcome: 'hit' }), 5_000);
    assert.equal(await value(metrics, 'forgegate_cache_hit_ratio', { kind: 'identity' }), 0.5);
  }
  metrics.tokenRequest('granted', 'password', 'static', 3, []);
  assert.equal(
    await value(metrics, 'forgegate_token_requests_total', {}),
    requests + 1,
    'a request after a scrape shows in the next one',
  );
});
