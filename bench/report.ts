import { CONNECTIONS, MEASURE_SECONDS, WARMUP_SECONDS, type Figures } from './load.js';

// The same figures twice: a table for the terminal and BENCHMARKS.md for the repository.

export const GOAL_RATIO = 0.4;
export const GOAL_P99_MS = 15;

export interface Results {
  date: Date;
  node: string;
  cores: number;
  cpu: string;
  bare: Figures;
  es256: Figures;
  rs256: Figures;
  anonymous: Figures;
  rssMiB: { es256: number; rs256: number; bare: number };
  /** Share of the machine's CPU that processes other than the bench's used during the run. */
  foreignCpuShare: number;
  /** Share of the machine's CPU time that the hypervisor gave to other guests. */
  stolenCpuShare: number;
}

/** Above this, other processes or guests competed for the cores enough to move the figures. */
const QUIET_SHARE = 0.05;

interface Row {
  name: string;
  figures: Figures;
}

const rowsOf = (r: Results): Row[] => [
  { name: 'bare Koa hello-world', figures: r.bare },
  { name: 'forgegate ES256, static account', figures: r.es256 },
  { name: 'forgegate RS256, static account', figures: r.rs256 },
  { name: 'forgegate ES256, anonymous', figures: r.anonymous },
];

const ms = (value: number) => value.toFixed(2);
const percent = (share: number) => `${(share * 100).toFixed(1)}%`;
const ratio = (r: Results, f: Figures) => f.rps / r.bare.rps;
const verdict = (met: boolean) => (met ? 'met' : 'NOT met');

function goals(r: Results): string[] {
  const rpsRatio = ratio(r, r.es256);
  return [
    `forgegate ES256 req/s vs bare Koa: ${rpsRatio.toFixed(2)}x (goal >= ${GOAL_RATIO.toFixed(2)}x: ${verdict(rpsRatio >= GOAL_RATIO)})`,
    `forgegate ES256 p99 latency: ${ms(r.es256.p99)} ms (goal <= ${GOAL_P99_MS} ms: ${verdict(r.es256.p99 <= GOAL_P99_MS)})`,
  ];
}

function notes(r: Results): string[] {
  const change = (a: number, b: number) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(0)}%`;
  const failed = rowsOf(r).filter((row) => row.figures.failures > 0);
  return [
    `RS256 vs ES256: req/s ${change(r.rs256.rps, r.es256.rps)}, p50 ${ms(r.rs256.p50)} vs ${ms(r.es256.p50)} ms, p99 ${ms(r.rs256.p99)} vs ${ms(r.es256.p99)} ms`,
    `anonymous vs static account (ES256): req/s ${change(r.anonymous.rps, r.es256.rps)}`,
    `peak RSS (VmHWM) after the run: forgegate ES256 process ${r.rssMiB.es256.toFixed(1)} MiB, RS256 process ${r.rssMiB.rs256.toFixed(1)} MiB (bare Koa ${r.rssMiB.bare.toFixed(1)} MiB)`,
    `CPU taken during the run by other processes: ${percent(r.foreignCpuShare)}, by the hypervisor (steal): ${percent(r.stolenCpuShare)}${
      r.foreignCpuShare + r.stolenCpuShare > QUIET_SHARE ? '. WARNING: the machine was not quiet and the figures are unreliable; rerun when it is' : ''
    }`,
    ...failed.map((row) => `WARNING: ${row.name} had ${row.figures.failures} non-2xx responses or errors; its figures are not valid`),
  ];
}

export function renderText(r: Results): string {
  const header = ['', 'req/s', 'p50 ms', 'p99 ms', 'vs bare', 'failed'];
  const cells = rowsOf(r).map(({ name, figures: f }) => [name, f.rps.toFixed(0), ms(f.p50), ms(f.p99), `${ratio(r, f).toFixed(2)}x`, String(f.failures)]);
  const widths = header.map((_, i) => Math.max(...[header, ...cells].map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [
    `forgegate benchmark, ${r.date.toISOString()}, Node ${r.node}, ${r.cores} cores (${r.cpu})`,
    `${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up + ${MEASURE_SECONDS} s measured per row`,
    '',
    line(header),
    ...cells.map(line),
    '',
    ...goals(r),
    ...notes(r),
    '',
  ].join('\n');
}

export function renderMarkdown(r: Results): string {
  const table = rowsOf(r).map(({ name, figures: f }) => `| ${name} | ${f.rps.toFixed(0)} | ${ms(f.p50)} | ${ms(f.p99)} | ${ratio(r, f).toFixed(2)}x | ${f.failures} |`);
  return `# Benchmarks

Written by \`npm run bench\` (bench/run.ts); rerun it rather than editing the figures.

- Date: ${r.date.toISOString()}
- Node: ${r.node}
- Machine: ${r.cores} cores (${r.cpu})

| Server and request | req/s | p50 ms | p99 ms | vs bare Koa | non-2xx / errors |
| --- | ---: | ---: | ---: | ---: | ---: |
${table.join('\n')}

${[...goals(r), ...notes(r)].map((line) => `- ${line}`).join('\n')}

## How the figures are measured

- **Processes.** Every server runs in its own Node process, so autocannon, which runs in the
  bench process, does not share its event loop. On a ${r.cores}-core machine this means roughly one
  core for the load generator and one for the server (plus the server's libuv threads, which
  compute WebCrypto signatures); the figures are relative to this machine.
- **forgegate** runs as \`node dist/cli.js serve --config FILE\`, built by \`npm run bench\` just
  before, with its audit log (one JSON line per request on stdout) sent to /dev/null: the
  production start-up, not a test harness. Configuration: no forges, a static htpasswd file with
  one bcrypt (cost 10) account, an ACL granting that account \`pull,push\` on \`bench/**\` and
  anonymous callers \`pull\`, the default \`x5c\` token header, and a signing key that forgegate
  generates on start in a temporary directory (removed afterwards).
- **Request.** \`GET /token?service=registry.bench&scope=repository:bench/app:pull,push\` with
  HTTP Basic credentials of the static account (the *anonymous* row sends the same request without
  credentials and is granted \`pull\` only). Before any load the bench sends one request and
  checks the answer: HTTP 200 and a token granting the expected actions. That request pays the
  bcrypt check; the ones after it are served from the verified-credential cache
  (\`cache.identityTtl\`, 60 s, longer than a server's measurements last), which is the warm path.
- **Load.** autocannon, ${CONNECTIONS} keep-alive connections, no pipelining, as fast as the server answers.
  Each row is a ${WARMUP_SECONDS} s warm-up (discarded: JIT, connection set-up) followed by ${MEASURE_SECONDS} s measured.
  *req/s* is 2xx responses divided by the measured duration; *p50/p99* are percentiles of every
  response time autocannon saw (kept unrounded, where autocannon's own histogram keeps whole ms).
  A non-zero *non-2xx / errors* column invalidates its row.
- **Baseline.** A Koa app answering \`Hello World\` to everything (\`bench/servers/koa-hello.mjs\`,
  plain JavaScript like dist/, no loader), measured the same way in the same run; *vs bare Koa*
  is a row's req/s divided by the baseline's.
- **RS256** is a second forgegate process with \`token.algorithm: RS256\` (2048-bit key),
  otherwise identical.
- **Quiet machine.** From \`/proc/stat\` and \`/proc/<pid>/stat\`, the bench computes the CPU time
  used during the run by processes other than itself and its servers, and the time the hypervisor
  gave to other guests (steal). Above ${QUIET_SHARE * 100}% of the machine together it prints a warning: on
  ${r.cores} cores a concurrent test run or build moves the figures by tens of percent.
- **Peak RSS** is \`VmHWM\` from \`/proc/<pid>/status\` of each forgegate process, read after all
  of its measurements and before it is stopped.
`;
}
