import { parseArgs } from 'node:util';
import { runFuzz, type FuzzTally } from '../test/fuzz/runner.js';
import { startServerChild } from '../test/fuzz/child.js';
import { startFakeGitLab } from '../test/fuzz/target.js';

// The full fuzz run: --requests generated requests (default 100,000) at
// forgegate in its own process, in front of a fake GitLab. Prints the status histogram, the
// 5xx count, hangs, forged credentials accepted, crashes, secrets in the log, and the
// server's memory after a forced GC before and after. Exits non-zero on any violation.

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '16' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
  },
});
const count = Number(values.requests);
const concurrency = Number(values.concurrency);
const seed = Number(values.seed);
const MiB = (bytes: number) => (bytes / 1048576).toFixed(1);

const gl = await startFakeGitLab();
const child = await startServerChild(gl.url);
console.log(
  `fuzz: ${count} requests, concurrency ${concurrency}, seed ${seed}, server pid ${child.pid}, node ${process.version}`,
);

// Warm up first (JIT, caches, pools), so that "before" is the baseline of a running server.
await runFuzz({ url: child.url, count: 2000, concurrency, seed: seed + 1, targets: child.targets });
const before = await child.measure();
const started = performance.now();
const samples: string[] = [];
const tally: FuzzTally = await runFuzz({
  url: child.url,
  count,
  concurrency,
  seed,
  targets: child.targets,
  onProgress: (done) => {
    if (done % 20_000 === 0) {
      samples.push(`${done}: ${MiB(child.rssNow())} MiB`);
      gl.resetCalls(); // the fake's request log is not what is measured
    }
  },
});
const seconds = (performance.now() - started) / 1000;
const crash = child.exited();
const after = crash ? undefined : await child.measure();
const health = crash ? 0 : (await fetch(`${child.url}/healthz`)).status;
await child.stop();
await gl.stop();

const sorted = Object.entries(tally.statuses).sort(([a], [b]) => a.localeCompare(b));
console.log(
  `\nrequests          ${tally.requests} in ${seconds.toFixed(1)} s (${(tally.requests / seconds).toFixed(0)} req/s)`,
);
console.log(`statuses          ${sorted.map(([s, n]) => `${s}: ${n}`).join(', ')}`);
console.log(`5xx               ${tally.serverErrors}`);
console.log(`hung (>20 s)      ${tally.hung}`);
console.log(`forged accepted   ${tally.forgedAccepted}`);
console.log(`crashes           ${crash ? 1 : 0}${crash ? ` (${crash})` : ''}`);
console.log(`healthz after     ${health}`);
console.log(`log lines         ${after?.logs.lines ?? '?'}, with a secret: ${after?.logs.leaks ?? '?'}`);
console.log(`RSS sampled       ${samples.join(', ')}`);
console.log(
  `after forced GC   before: RSS ${MiB(before.rss)} MiB, heap ${MiB(before.heapUsed)} MiB; after: RSS ${after ? MiB(after.rss) : '?'} MiB, heap ${after ? MiB(after.heapUsed) : '?'} MiB (gc ${before.collected ? 'forced' : 'unavailable'})`,
);
const slowest = Object.entries(tally.timing)
  .sort(([, a], [, b]) => b.maxMs - a.maxMs)
  .slice(0, 5);
console.log(`slowest answers   ${slowest.map(([label, t]) => `${label} ${t.maxMs} ms`).join(', ')}`);
const unanswered = Object.entries(tally.byLabel).flatMap(([label, statuses]) =>
  statuses['no-response'] ? [`${label} ${statuses['no-response']}`] : [],
);
console.log(`closed unanswered ${unanswered.join(', ') || 'none'} (no-response: the server closed without an answer)`);
console.log(
  `closed-oversized  ${tally.statuses['closed-oversized'] ?? 0} (request heads of megabytes: the server answers 431 at 16 KiB and closes while the client still writes)`,
);
for (const example of tally.examples)
  console.log(`violation         ${example.status} ${example.label}: ${example.detail}`);

const heapGrowth = after ? after.heapUsed - before.heapUsed : Infinity;
// Back to baseline: RSS after a forced GC within 10 % of the warmed-up server's.
const rssBack = after !== undefined && after.rss <= before.rss * 1.1;
const failed =
  tally.serverErrors > 0 ||
  tally.hung > 0 ||
  tally.forgedAccepted > 0 ||
  crash !== undefined ||
  (after?.logs.leaks ?? 1) > 0 ||
  health !== 200 ||
  !rssBack;
console.log(
  `\nheap growth after GC: ${MiB(heapGrowth)} MiB; RSS back within 10 % of baseline: ${rssBack ? 'yes' : 'no'}; verdict: ${failed ? 'FAIL' : 'PASS'}`,
);
process.exit(failed ? 1 : 0);
