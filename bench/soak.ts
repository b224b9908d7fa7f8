import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt } from 'jose';
import { startServerChild } from '../test/fuzz/child.js';
import { GITLAB_TOKEN, SERVICE, STATIC, startFakeGitLab } from '../test/fuzz/target.js';
import { startRedis } from '../test/support/redis.js';

// The soak run: a sustained mixed load at a fixed rate for --minutes
// (default 10) against forgegate in its own process, with Redis (--no-redis to leave it
// out) and a fake GitLab. The mix: warm requests (cached credential and decision), cold
// ones (a never-seen image path: a forge call each), failing credentials (unknown tokens,
// wrong passwords). Every --sample seconds: throughput, errors and the server's RSS; at the
// end the RSS trend (least-squares slope over the second half) and the heap after a forced
// GC, first and last. An error is any answer other than the one expected for its kind.

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '150' },
    concurrency: { type: 'string', default: '32' },
    sample: { type: 'string', default: '10' },
    'no-redis': { type: 'boolean', default: false },
  },
});
const durationMs = Number(values.minutes) * 60_000;
const rate = Number(values.rate);
const concurrency = Number(values.concurrency);
const sampleMs = Number(values.sample) * 1000;
const MiB = (bytes: number) => bytes / 1048576;

type Kind = 'warm-gitlab' | 'warm-static' | 'cold-gitlab' | 'fail-token' | 'fail-password';
const MIX: [Kind, number][] = [
  ['warm-gitlab', 0.35],
  ['warm-static', 0.25],
  ['cold-gitlab', 0.25],
  ['fail-token', 0.1],
  ['fail-password', 0.05],
];
const b64 = (s: string) => Buffer.from(s).toString('base64');

function pick(): Kind {
  let roll = Math.random();
  for (const [kind, share] of MIX) if ((roll -= share) < 0) return kind;
  return 'warm-gitlab';
}

function requestFor(kind: Kind): {
  path: string;
  auth: string;
  image: string;
  expect: { status: number; actions?: string[] };
} {
  const q = (image: string, actions: string) =>
    `/token?${new URLSearchParams({ service: SERVICE, scope: `repository:${image}:${actions}` })}`;
  switch (kind) {
    case 'warm-gitlab':
      return {
        path: q('team/app', 'pull,push'),
        auth: `Basic ${b64(`maya:${GITLAB_TOKEN}`)}`,
        image: 'team/app',
        expect: { status: 200, actions: ['pull', 'push'] },
      };
    case 'warm-static':
      return {
        path: q('alice/app', 'pull,push'),
        auth: `Basic ${b64(`${STATIC.user}:${STATIC.password}`)}`,
        image: 'alice/app',
        expect: { status: 200, actions: ['pull', 'push'] },
      };
    case 'cold-gitlab': {
      const image = `team/app/${randomUUID().slice(0, 8)}`;
      return {
        path: q(image, 'pull'),
        auth: `Basic ${b64(`maya:${GITLAB_TOKEN}`)}`,
        image,
        expect: { status: 200, actions: ['pull'] },
      };
    }
    case 'fail-token':
      return {
        path: q('team/app', 'pull'),
        auth: `Basic ${b64(`maya:glpat-${randomUUID()}`)}`,
        image: 'team/app',
        expect: { status: 401 },
      };
    case 'fail-password':
      return {
        path: q('alice/app', 'pull'),
        auth: `Basic ${b64(`${STATIC.user}:wrong-${randomUUID()}`)}`,
        image: 'alice/app',
        expect: { status: 401 },
      };
  }
}

const redis = values['no-redis'] ? null : await startRedis();
const gl = await startFakeGitLab();
const child = await startServerChild(gl.url, redis?.url ?? '');
const { hostname, port } = new URL(child.url);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

function send(kind: Kind): Promise<boolean> {
  const r = requestFor(kind);
  return new Promise((resolve) => {
    const req = request(
      { agent, host: hostname, port: Number(port), path: r.path, headers: { authorization: r.auth }, timeout: 15_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => {
          if (res.statusCode !== r.expect.status) return resolve(false);
          if (r.expect.actions === undefined) return resolve(true);
          try {
            const access = decodeJwt((JSON.parse(body) as { token: string }).token).access as {
              name: string;
              actions: string[];
            }[];
            resolve(
              JSON.stringify(access.find((a) => a.name === r.image)?.actions) === JSON.stringify(r.expect.actions),
            );
          } catch {
            resolve(false);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

console.log(
  `soak: ${values.minutes} min at ${rate} req/s (concurrency ${concurrency}), redis ${redis ? 'on' : 'off'}, server pid ${child.pid}, node ${process.version}`,
);
console.log(`mix: ${MIX.map(([k, s]) => `${k} ${Math.round(s * 100)}%`).join(', ')}`);
// Warm-up, then the baseline heap.
for (let i = 0; i < 500; i++) await send(pick());
const first = await child.measure();

const started = performance.now();
let sent = 0;
let done = 0;
let errors = 0;
let inFlight = 0;
let intervalDone = 0;
let intervalErrors = 0;
let behind = 0;
const samples: { minute: number; rssMiB: number }[] = [];
console.log('  time   req/s  errors  RSS MiB  in flight');
const sampler = setInterval(() => {
  const elapsed = (performance.now() - started) / 1000;
  const rssMiB = MiB(child.rssNow());
  samples.push({ minute: elapsed / 60, rssMiB });
  console.log(
    `${elapsed.toFixed(0).padStart(5)} s ${(intervalDone / (sampleMs / 1000)).toFixed(0).padStart(7)} ${String(intervalErrors).padStart(7)} ${rssMiB.toFixed(1).padStart(8)} ${String(inFlight).padStart(10)}`,
  );
  intervalDone = 0;
  intervalErrors = 0;
  gl.resetCalls(); // the fake's request log lives in this process, not the server's
}, sampleMs);

// Open loop at a fixed rate: requests are started on schedule whatever the answers do, up
// to `concurrency` at once; a schedule the server cannot keep shows as "behind".
while (performance.now() - started < durationMs && child.exited() === undefined) {
  const due = Math.floor(((performance.now() - started) / 1000) * rate);
  while (sent < due) {
    if (inFlight >= concurrency) {
      behind += due - sent;
      sent = due;
      break;
    }
    sent++;
    inFlight++;
    void send(pick()).then((ok) => {
      inFlight--;
      done++;
      intervalDone++;
      if (!ok) (errors++, intervalErrors++);
    });
  }
  await sleep(5);
}
while (inFlight > 0) await sleep(10);
clearInterval(sampler);
const seconds = (performance.now() - started) / 1000;
const crash = child.exited();
const last = crash ? undefined : await child.measure();
await child.stop();
agent.destroy();
await gl.stop();
await redis?.stop();

// Least-squares slope of RSS against time over the second half of the run.
const half = samples.filter((s) => s.minute >= samples.at(-1)!.minute / 2);
const n = half.length;
const mx = half.reduce((a, s) => a + s.minute, 0) / n;
const my = half.reduce((a, s) => a + s.rssMiB, 0) / n;
const slope =
  half.reduce((a, s) => a + (s.minute - mx) * (s.rssMiB - my), 0) /
  (half.reduce((a, s) => a + (s.minute - mx) ** 2, 0) || 1);

console.log(
  `\nrequests         ${done} in ${seconds.toFixed(0)} s: ${(done / seconds).toFixed(1)} req/s (target ${rate}); not started for lack of a free slot: ${behind}`,
);
console.log(`errors           ${errors} (${((errors / Math.max(1, done)) * 100).toFixed(3)} %)`);
console.log(`crashes          ${crash ? `1 (${crash})` : 0}`);
console.log(
  `RSS              min ${Math.min(...samples.map((s) => s.rssMiB)).toFixed(1)} MiB, max ${Math.max(...samples.map((s) => s.rssMiB)).toFixed(1)} MiB, last ${samples.at(-1)?.rssMiB.toFixed(1)} MiB`,
);
console.log(`RSS trend        ${slope.toFixed(3)} MiB/min over the second half (${n} samples)`);
console.log(
  `heap after GC    first ${MiB(first.heapUsed).toFixed(1)} MiB, last ${last ? MiB(last.heapUsed).toFixed(1) : '?'} MiB; log lines ${last?.logs.lines ?? '?'}, with a secret ${last?.logs.leaks ?? '?'}`,
);
const failed = crash !== undefined || errors > 0 || (last?.logs.leaks ?? 1) > 0;
console.log(`verdict          ${failed ? 'FAIL' : 'PASS'} (growth is judged by the trend figure above)`);
process.exit(failed ? 1 : 0);
