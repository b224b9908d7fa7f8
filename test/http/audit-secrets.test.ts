import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runScenario, type Scenario } from '../support/guard-scenario.js';

// The audit line (README "Logs") for every token request, and no secret in
// any log line. The whole run's log is grepped for every secret the scenario sent or got back.

let run: Scenario;
before(async () => {
  run = await runScenario();
});
after(() => run?.stop());

test('the scenario went down every path it meant to', () => {
  const expect: Record<string, number[]> = {
    'static granted': [200, 200],
    'static wrong': [401],
    'refresh as password': [200],
    'refresh grant': [200],
    'password grant': [401],
    'refresh grant broken': [401],
    'gitlab pat': [200, 200],
    'gitlab pat wrong': [401],
    'gitlab job': [200],
    'gitlab job unknown': [401],
    'gitlab refresh': [200],
    'github token': [200, 200],
    'github wrong': [401],
    anonymous: [200],
    spray: [401, 401, 401],
    banned: [429],
  };
  for (const [what, statuses] of Object.entries(expect)) assert.deepEqual(run.statuses.get(what), statuses, what);
});

test('one audit line per token request, with the fields README "Logs" lists', () => {
  const requests = [...run.statuses.values()].reduce((n, s) => n + s.length, 0);
  const lines = run.fg.logs().filter((l) => l.msg === 'token request');
  assert.equal(lines.length, requests, 'every request, refused ones included, has its line');
  for (const line of lines) {
    for (const field of [
      'time',
      'reqId',
      'clientIp',
      'userAgent',
      'credential',
      'requested',
      'granted',
      'outcome',
      'latencyMs',
    ]) {
      assert.ok(field in line, `audit line has ${field}: ${JSON.stringify(line)}`);
    }
  }
  const outcomes = new Set(lines.map((l) => l.outcome));
  for (const outcome of ['granted', 'unauthorized', 'banned'])
    assert.ok(outcomes.has(outcome), `an audit line with outcome ${outcome}`);
  const banned = lines.find((l) => l.outcome === 'banned')!;
  assert.equal(banned.clientIp, '192.0.2.66', 'the client IP honours X-Forwarded-For with trustProxy');
  assert.ok(
    lines.some((l) => l.source === 'gitlab') &&
      lines.some((l) => l.source === 'github') &&
      lines.some((l) => l.source === 'static'),
    'every source vouched once',
  );
});

test('no secret the run used appears anywhere in its logs', () => {
  const text = run.fg.rawLogs();
  assert.ok(run.secrets.size >= 30, `the scenario collected its secrets (${run.secrets.size})`);
  const leaked = [...run.secrets].filter((secret) => secret.length >= 8 && text.includes(secret));
  assert.deepEqual(leaked, [], 'secrets found in the log');
  // Nor any Authorization header, in whatever form.
  assert.doesNotMatch(text, /Basic [A-Za-z0-9+/]{8,}/, 'no Basic credential');
  assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, 'no JWT or JWE');
});
