import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runScenario, type Scenario } from '../support/guard-scenario.js';

// GET /metrics after a broad run, parsed as the Prometheus text exposition
// format (strictly: every line is HELP, TYPE or a sample of a declared family) and checked
// family by family against what the run did.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const SAMPLE = new RegExp(
  `^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?,?\\})? (-?[0-9.eE+-]+|NaN|\\+Inf|-Inf)(?: -?\\d+)?$`,
);
const SUFFIXES: Record<string, string[]> = {
  counter: [''],
  gauge: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
  untyped: [''],
};

function parse(text: string): Exposition {
  const types = new Map<string, string>();
  const helped = new Set<string>();
  const samples: Sample[] = [];
  text.split('\n').forEach((line, i) => {
    if (line === '') return;
    const help = new RegExp(`^# HELP (${NAME}) .*$`).exec(line);
    if (help) return void helped.add(help[1]!);
    const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
    if (type) {
      assert.ok(!types.has(type[1]!), `line ${i + 1}: ${type[1]} typed twice`);
      return void types.set(type[1]!, type[2]!);
    }
    const sample = SAMPLE.exec(line);
    assert.ok(sample, `line ${i + 1} is not valid exposition format: ${line}`);
    const [, name, labelText, value] = sample;
    const family = [...types.entries()].find(([base, kind]) =>
      SUFFIXES[kind]!.some((suffix) => name === base + suffix),
    );
    assert.ok(family, `line ${i + 1}: sample ${name} of no declared family`);
    assert.ok(helped.has(family[0]), `family ${family[0]} has HELP`);
    const labels = Object.fromEntries(
      [...(labelText ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    samples.push({ name: name!, labels, value: Number(value === '+Inf' ? Infinity : value) });
  });
  return { types, samples };
}

const sum = (e: Exposition, name: string, match: Record<string, string> = {}): number =>
  e.samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);

let run: Scenario;
let exposition: Exposition;
before(async () => {
  run = await runScenario();
  const response = await fetch(`${run.fg.url}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  exposition = parse(await response.text());
});
after(() => run?.stop());

test('token requests by outcome, credential kind and source, with a latency histogram', () => {
  const total = [...run.statuses.values()].reduce((n, s) => n + s.length, 0);
  assert.equal(exposition.types.get('forgegate_token_requests_total'), 'counter');
  assert.equal(sum(exposition, 'forgegate_token_requests_total'), total, 'every request counted once');
  assert.equal(
    sum(exposition, 'forgegate_token_requests_total', { outcome: 'granted', credential: 'password', source: 'static' }),
    3,
  );
  assert.equal(
    sum(exposition, 'forgegate_token_requests_total', { outcome: 'granted', credential: 'password', source: 'gitlab' }),
    4,
    'PAT twice, offline once, job token once',
  );
  assert.equal(
    sum(exposition, 'forgegate_token_requests_total', { outcome: 'granted', credential: 'password', source: 'github' }),
    2,
  );
  assert.equal(sum(exposition, 'forgegate_token_requests_total', { outcome: 'granted', credential: 'refresh' }), 3);
  assert.equal(sum(exposition, 'forgegate_token_requests_total', { outcome: 'granted', credential: 'anonymous' }), 1);
  assert.equal(sum(exposition, 'forgegate_token_requests_total', { outcome: 'unauthorized' }), 9);
  assert.equal(sum(exposition, 'forgegate_token_requests_total', { outcome: 'banned' }), 1);
  assert.equal(exposition.types.get('forgegate_token_request_duration_seconds'), 'histogram');
  assert.equal(sum(exposition, 'forgegate_token_request_duration_seconds_count'), total);
  const inf = sum(exposition, 'forgegate_token_request_duration_seconds_bucket', { le: '+Inf' });
  assert.equal(inf, total, 'the +Inf buckets hold every observation');
});

test('forge calls by forge, endpoint and status, with latency', () => {
  assert.ok(sum(exposition, 'forgegate_forge_calls_total', { forge: 'gitlab', status: '200' }) > 0, 'GitLab 200s');
  assert.ok(
    sum(exposition, 'forgegate_forge_calls_total', { forge: 'gitlab', status: '401' }) > 0,
    'GitLab 401s (the wrong token)',
  );
  assert.ok(sum(exposition, 'forgegate_forge_calls_total', { forge: 'github', status: '200' }) > 0, 'GitHub 200s');
  const endpoints = new Set(
    exposition.samples.filter((s) => s.name === 'forgegate_forge_calls_total').map((s) => s.labels.endpoint),
  );
  assert.ok(endpoints.size >= 3, `several endpoints: ${[...endpoints].join(', ')}`);
  assert.equal(
    sum(exposition, 'forgegate_forge_call_duration_seconds_count'),
    sum(exposition, 'forgegate_forge_calls_total'),
    'every call timed',
  );
  assert.equal(
    run.gitlab.calls() + run.github.calls(),
    sum(exposition, 'forgegate_forge_calls_total'),
    'every call the fakes saw is counted',
  );
});

test('cache lookups and hit ratio; GitHub rate limit remaining; bans', () => {
  assert.ok(
    sum(exposition, 'forgegate_cache_total', { kind: 'identity', outcome: 'hit' }) > 0,
    'identity hits (the second PAT and GitHub login)',
  );
  const ratio = exposition.samples.filter((s) => s.name === 'forgegate_cache_hit_ratio');
  assert.ok(ratio.length > 0 && ratio.every((s) => s.value >= 0 && s.value <= 1), 'hit ratios between 0 and 1');
  const identity = sum(exposition, 'forgegate_cache_total', { kind: 'identity' });
  const hits =
    sum(exposition, 'forgegate_cache_total', { kind: 'identity', outcome: 'hit' }) +
    sum(exposition, 'forgegate_cache_total', { kind: 'identity', outcome: 'stale' });
  assert.equal(sum(exposition, 'forgegate_cache_hit_ratio', { kind: 'identity' }), hits / identity);
  const remaining = sum(exposition, 'forgegate_forge_rate_limit_remaining', { forge: 'github' });
  assert.ok(remaining > 0 && remaining < 5000, `GitHub's X-RateLimit-Remaining (${remaining})`);
  assert.equal(sum(exposition, 'forgegate_bans_total', { scope: 'ip' }), 1);
  assert.equal(sum(exposition, 'forgegate_banned_requests_total', { scope: 'ip' }), 1);
});

test('verdicts by rule, and the default Node process metrics', () => {
  assert.ok(sum(exposition, 'forgegate_verdicts_total', { verdict: 'granted' }) > 0, 'granted verdicts');
  for (const name of [
    'process_cpu_user_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_heap_size_used_bytes',
    'nodejs_eventloop_lag_seconds',
  ]) {
    assert.ok(
      exposition.samples.some((s) => s.name === name),
      `default metric ${name}`,
    );
  }
});

test('no label value carries a secret or a subject', () => {
  const values = exposition.samples.flatMap((s) => Object.values(s.labels));
  for (const secret of run.secrets) assert.ok(!values.some((v) => v.includes(secret)), 'a secret in a label');
  for (const subject of ['alice', 'mia', 'ada']) assert.ok(!values.includes(subject), `subject ${subject} in a label`);
});
