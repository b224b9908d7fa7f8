import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FakeGitLab } from '../fakes/gitlab.js';
import { runFuzz } from './runner.js';
import { collectTargets, startFakeGitLab, startFuzzServer, type FuzzServer } from './target.js';

// The short fuzz run of the test suite (the full one is `npm run fuzz`): a few thousand
// generated requests against the live server, and every one answered, none with a 5xx,
// none forged into a 200, and no secret in the log.

const COUNT = Number(process.env.FUZZ_COUNT ?? 2000);
let gl: FakeGitLab;
let server: FuzzServer;

before(async () => {
  gl = await startFakeGitLab();
  server = await startFuzzServer(gl.url);
});
after(async () => {
  await server?.stop();
  await gl?.stop();
});

test(`${COUNT} fuzzed requests: no 5xx, no hang, no forged credential accepted, no secret logged, no stray forge call`, async () => {
  const targets = await collectTargets(server, gl.url);
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
  const tally = await runFuzz({ url: server.url, count: COUNT, concurrency: 8, seed, targets });
  if (process.env.FUZZ_VERBOSE)
    console.log(JSON.stringify(tally.timing, (k, v) => (typeof v === 'number' ? Math.round(v) : v), 1));
  const summary = `seed ${seed}: ${JSON.stringify(tally.statuses)}; examples ${JSON.stringify(tally.examples, null, 1)}`;
  assert.equal(tally.requests, COUNT, 'every case was sent');
  assert.equal(tally.serverErrors, 0, `5xx answers (${summary})`);
  assert.equal(tally.hung, 0, `requests without an answer (${summary})`);
  assert.equal(tally.forgedAccepted, 0, `forged credentials earned a 200 (${summary})`);
  assert.ok(
    (tally.statuses['200'] ?? 0) > 0 && (tally.statuses['400'] ?? 0) > 0 && (tally.statuses['401'] ?? 0) > 0,
    `the run reached the server's paths (${summary})`,
  );
  const logs = server.logStats();
  assert.equal(logs.leaks, 0, `secrets in the log: ${logs.leaked.join(', ')}`);
  // No request may steer the server's own calls: every forge call hits an endpoint it knows.
  const strays = gl
    .requests()
    .filter((r) => r.endpoint === 'unmatched')
    .map((r) => r.url.slice(0, 120));
  assert.deepEqual(strays, [], 'forge calls outside the known API endpoints');
  const health = await fetch(`${server.url}/healthz`);
  assert.equal(health.status, 200, 'the server still answers');
});
