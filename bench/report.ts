import { COLD_CALLS, SWEEP_MIB, type ColdCost } from './cold-cache.js';
import { FORGE_LATENCY_MS, MEMORY_USERS, PROJECT_COUNT, type ForgeCallStats } from './forge-model.js';
import {
  ECONOMY_CONCURRENCY,
  ECONOMY_REQUESTS,
  MEMORY_CONCURRENCY,
  MEMORY_PAIRS,
  MEMORY_PROJECTS,
  MEMORY_REQUESTS,
  MEMORY_WAVE,
  STAMPEDE_REQUESTS,
  ZIPF_S,
  type ColdLatency,
  type Economy,
  type Memory,
  type Stampede,
  type WarmGitLab,
} from './forge-scenarios.js';
import {
  CONNECTIONS,
  MEASURE_SECONDS,
  ROUNDS,
  STEADY_RATE,
  LATENCY_ROUNDS,
  STEADY_WARMUP_SECONDS,
  STEADY_WORKERS,
  WARMUP_SECONDS,
  inFlight,
  middle,
  type Figures,
  type LoadTools,
} from './load.js';

// The same figures twice: a table for the terminal and BENCHMARKS.md for the repository.

/** Warm path: req/s at least this share of the jose floor's, p99 at most this multiple of its p99. */
export const GOAL_VS_JOSE = 0.9;
export const GOAL_P99_VS_JOSE = 1.5;
/** Steady rate: p50 and p99 at most this multiple of the node:crypto floor's. */
export const GOAL_STEADY_VS_NODE = 1.25;
export const GOAL_ECONOMY = 1.05;
export const GOAL_COLD_FACTOR = 1.5;
export const GOAL_COLD_SLACK_MS = 5;
export const GOAL_MEMORY_MB = 150;
/** The TTL the memory scenario configures (cache.identityTtl and cache.decisionTtl). */
export const FORGE_TTL_SECONDS = 60;
/** The TTL of the processes whose warm path is measured (the GitLab one also serves economy, stampede, cold latency). */
export const WARM_TTL_SECONDS = 900;

/** The scenarios with the fake GitLab (bench/forge-scenarios.ts). */
export interface ForgeResults {
  /** p50 of one GET /api/v4/user from the bench to the fake. */
  roundTripMs: number;
  warm: WarmGitLab;
  cold: ColdLatency;
  stampede: Stampede;
  economy: Economy;
  memory: Memory;
  /** VmHWM of the forgegate process of the warm, cold, stampede and economy scenarios. */
  rssMiB: number;
}

export interface Results {
  date: Date;
  node: string;
  cores: number;
  cpu: string;
  tools: LoadTools;
  bare: Figures;
  /** Minimal Koa apps signing forgegate's token (same key, header, claims) per request. */
  nodeFloor: Figures;
  /** The node:crypto floor signing as forgegate does: the signatures of one event-loop turn together. */
  groupedFloor: Figures;
  joseFloor: Figures;
  nodeFloorRs: Figures;
  es256: Figures;
  rs256: Figures;
  anonymous: Figures;
  /** As fast as the server answers, timed by hey (bench/load.ts, LoadKind): the latencies at full load. */
  latency: { joseFloor: Figures; es256: Figures; gitlab: Figures };
  /** At the steady rate. */
  steady: { nodeFloor: Figures; joseFloor: Figures; es256: Figures; gitlab: Figures };
  /**
   * The grouped node:crypto floor busy-waiting `busyUs` per request (the static account's own CPU,
   * measured in the same run), at full load and at the steady rate: a server as slow per
   * request as forgegate and otherwise as simple as the floor.
   */
  padded: { busyUs: number; saturate: Figures; latency: Figures; steady: Figures };
  /** Steps of the warm path timed with warm and with swept CPU caches (bench/cold-cache.ts). */
  coldCache: ColdCost[];
  forge: ForgeResults;
  rssMiB: { es256: number; rs256: number; bare: number; nodeFloor: number };
  /** Share of the machine's CPU that processes other than the bench's used during the run. */
  foreignCpuShare: number;
  /** Share of the machine's CPU time that the hypervisor gave to other guests. */
  stolenCpuShare: number;
}

/** What profiles of the warm path showed (node --cpu-prof): the reading of the CPU column. */
const WARM_PATH_NOTES = `## Where the warm path's time goes

From CPU profiles of the server under this load (\`node --cpu-prof\`), written by hand, not by
the bench. What was cut, largest first:

- **Signatures grouped per turn.** Under load one turn of the event loop reads many requests,
  and each one's signature ran between that request's parsing, audit line and write, and found
  the CPU caches holding those (the table of cold-cache costs below). \`token/signer.ts\` makes
  the ES256 signatures asked for in one turn together, right after it (\`token/per-turn.ts\`, one
  setImmediate), and each request's remaining steps run after the group, one request after
  another: the signatures find OpenSSL's code and the key warm, and so do the audit lines and
  the writes. A group holds at most 16: every request of a group stays alive until the group
  is made, and the 1 MiB young generation (below) pays for each in every scavenge; whole turns
  of 50 requests spent 51 µs per request in garbage collection, groups of 16 spent 20. In
  three alternating pinned pairs against the code before, the warm req/s rose by 61-70% (static
  account) and 65-67% (GitLab PAT), the CPU per request fell by about 40%, and so did the p99 at
  full load. The cost is latency when the loop has time to spare: \`hey\`'s workers tick
  together, so at the steady rate requests come in bursts of ${STEADY_WORKERS}, and a burst's first requests
  waited for the whole group's signatures before any was written. So signatures are grouped only
  while the event loop is busy (\`loopIsBusy\`: at least half of the last 100 ms spent working);
  at the steady rate each request is signed as it comes. The grouped floor's row shows what the
  same change is worth to the node:crypto floor.
- **The signature.** jose signs only through WebCrypto: argument checks, then a hand-off to
  libuv's thread pool and back for each token, which cost more than the ES256 signature itself
  (about 30 µs on this machine). \`token/signer.ts\` writes the compact JWS with \`crypto.sign\`:
  ES256 (raw R||S) on the event loop, RS256 (about 10 times the work) in the thread pool; the
  header segment is encoded once per key, the token id sliced from a pooled random buffer.
- **The audit line.** pino's wildcard redaction paths cost about 10 µs per line, more than the
  rest of the line; a one-level check of field names (\`log.ts\`, \`censorSecrets\`) keeps the
  same safety net. Each line was also its own write through the thread pool. Then stdout was
  written in 4 KiB blocks, asynchronously: under 50 connections the lines came faster than the
  blocks left (one per event-loop turn), and the backlog grew by about 0.5 MB a second and cost
  CPU to append to (the live heap rose from 18 to 27 MB in 20 s). Written synchronously in 4 KiB
  blocks, as pino does by default, the heap stays flat and the warm path gained about 10%.
  Last, the line is made by \`log.ts\` \`writeInfo\` with one JSON.stringify of its fields
  instead of pino's per-field serializer: the same bytes (a unit test compares them), about 4%.
  The lines of a block are gathered before sonic-boom sees them (next item). And no answer
  waits for its line: a token request's audit line and metrics are made 5 ms after its answer,
  together with those of the answers written meanwhile (\`http/after-answers.ts\`; after the
  turn when 64 wait, as under load). At the steady rate they were about 45 µs of a request's
  CPU, with cold caches, and each answer of a burst waited for the lines of the requests before
  it; made after the turn's answers instead, they still ran between a burst's requests, which
  arrive over a millisecond or two.
- **Metrics.** prom-client hashes and checks the labels on every update; the token route's
  counts, latencies and verdicts are queued as plain numbers and applied when scraped. The
  latencies wait in a Float64Array made once: in a plain array each was a heap number of its
  own, kept until the next scrape, so it reached the old generation.
- **Koa.** The registry's token GET is answered on the bare Node request (\`http/token-lane.ts\`),
  in front of Koa: Koa's context, middleware chain and response handling were about a fifth of
  forgegate's CPU per token (warm req/s rose by 17-28% in alternating runs). The lane calls the
  same endpoint as Koa's token route and answers through the same error table, request id and
  audit line; a test holds the two answers equal. The htpasswd check and the static account's
  proof cost no await or hash when nothing changed.
- **JIT warm-up.** forgegate's path has hundreds of functions: for its first seconds under load
  V8's compiler threads kept working (about 70 µs of CPU per request two seconds in), so every
  request of a row is measured after an ${WARMUP_SECONDS} s warm-up.
- **Garbage per request.** A cached GitLab token's request allocated about 50 KB (V8's sampling
  heap profiler with garbage included, and \`--trace-gc-nvp\`), and each scavenge of the memory
  mode's small young generation copies every request in flight. The answer's JSON came from
  JSON.stringify, which copied the token (in it twice) for each field and grew its output in
  steps, and Node joined the string to the headers and copied it again on its way to the socket:
  the token answer is now written out (\`responseBody\`, all of it ASCII; a property test holds it
  equal to JSON.stringify's) and sent as bytes. sonic-boom measured its whole pending block on
  every audit line, which flattened the block into a new string each time: \`log-blocks.ts\`
  gathers the lines and joins a block once. About 39 KB per request now, a fifth fewer scavenges.
- **The young generation.** \`serve\` sets V8's \`--optimize-for-size\` and
  \`--semi-space-growth-factor=1\` (\`server.optimizeForSize\`), which hold the young generation at
  its initial size, and on Node.js 22.15 and later starts itself again (\`process.execve\`, the same
  process) with that size at 2 MiB semi-spaces instead of 1 (\`--min-semi-space-size=2\`, which V8
  reads only at start-up; \`commands/memory.ts\`): half the scavenges, and fewer of the objects of
  requests in flight live through two of them into the old generation, whose collections hold up
  every request. The same start turns off V8's memory reducer (\`--no-memory-reducer\`, also read
  only at start-up): under the memory mode it followed each collection of the old generation with
  two compacting ones some seconds later (15-35 ms each), whatever the load, so a server at the
  steady rate paused for them every 8 s or so; \`--trace-gc\` shows none since, and the memory
  scenario's peak did not move. On Node.js 20, which cannot replace a process, the young
  generation stays at 1 MiB, and the reducer on, unless node is started with the flags. 4 MiB
  and more put the memory scenario over its goal; README "Open ends" has the measurements.

What remains is forgegate's own work, spread thin: reading the query and the Basic credential,
the credential's HMAC (the cache key) and the guard's hash of the account, the ACL decision and
its reason, the audit line, the metrics queue, three more response headers.
Each costs a few microseconds in a tight loop, and several times that in the server: between
two requests the path runs through Node's HTTP code, V8, OpenSSL and the kernel, and a step
finds little of its code and data still in the CPU caches. The table below measures this:
after a sweep of the caches the ES256 signature costs about 2.5 times what it costs back to
back, an HMAC or a JSON.stringify 10 times or more. So the CPU per request grows with the
amount of code and data a request touches more than with its instructions: a step removed
saves several times its cost in a loop, a step made faster in a loop saves little, and steps
of the same kind made one after another (the grouped signatures) save most.

The grouped node:crypto floor padded with a busy-wait of forgegate's own CPU per request (a row
of both tables) is a server that signs as forgegate does and spends as much CPU per request, with
nothing else: what its latencies show follows from those two. At full load the static
account's p99 (timed by hey) is close to it. The cached GitLab token's is not: measured by hand
with \`--trace-gc\`, its process runs a \`Mark-Compact (reduce)\` about every second, a pause of
5-11 ms, some after incremental steps of 12-20 ms, each holding up every request in flight. That
is the memory mode's old-generation policy, fed by what each request in flight promotes: with
\`server.optimizeForSize: false\` the same row's p99 was 17-22 ms against the mode's 32-33 (the jose
floor's 15-16), before the cuts above. README "Open ends" has the measurements.
`;

/** Above this, other processes or guests competed for the cores enough to move the figures. */
const QUIET_SHARE = 0.05;

interface Row {
  name: string;
  figures: Figures;
  /** forgegate's rows: the floor that signs as they do (ES256 grouped, RS256), which their own CPU is counted from. */
  floor: 'es' | 'rs' | null;
  /** RS256 rows are compared with the RS256 floor only (the jose floor signs ES256). */
  rs?: true;
}

const rowsOf = (r: Results): Row[] => [
  { name: 'bare Koa hello-world', figures: r.bare, floor: null },
  { name: 'floor: Koa + node:crypto ES256 token', figures: r.nodeFloor, floor: null },
  { name: GROUPED_FLOOR, figures: r.groupedFloor, floor: null },
  { name: 'floor: Koa + jose ES256 token', figures: r.joseFloor, floor: null },
  { name: paddedName(r), figures: r.padded.saturate, floor: null },
  { name: 'forgegate ES256, static account', figures: r.es256, floor: 'es' },
  { name: 'forgegate ES256, GitLab PAT (cached, Redis)', figures: r.forge.warm.figures, floor: 'es' },
  { name: 'forgegate ES256, anonymous', figures: r.anonymous, floor: 'es' },
  { name: 'floor: Koa + node:crypto RS256 token', figures: r.nodeFloorRs, floor: null, rs: true },
  { name: 'forgegate RS256, static account', figures: r.rs256, floor: 'rs', rs: true },
];

const GROUPED_FLOOR = 'floor: the same, signatures grouped per turn as forgegate does';
const paddedName = (r: Results) => `floor: grouped node:crypto + ${fixed(r.padded.busyUs, 0)} µs busy-wait per request`;

const latencyRowsOf = (r: Results): Row[] => [
  { name: 'floor: Koa + jose ES256 token', figures: r.latency.joseFloor, floor: null },
  { name: paddedName(r), figures: r.padded.latency, floor: null },
  { name: 'forgegate ES256, static account', figures: r.latency.es256, floor: 'es' },
  { name: 'forgegate ES256, GitLab PAT (cached, Redis)', figures: r.latency.gitlab, floor: 'es' },
];

const steadyRowsOf = (r: Results): Row[] => [
  { name: 'floor: Koa + node:crypto ES256 token', figures: r.steady.nodeFloor, floor: null },
  { name: 'floor: Koa + jose ES256 token', figures: r.steady.joseFloor, floor: null },
  { name: paddedName(r), figures: r.padded.steady, floor: null },
  { name: 'forgegate ES256, static account', figures: r.steady.es256, floor: 'es' },
  { name: 'forgegate ES256, GitLab PAT (cached, Redis)', figures: r.steady.gitlab, floor: 'es' },
];

const ms = (value: number) => value.toFixed(2);
const percent = (share: number) => `${(share * 100).toFixed(1)}%`;
const x = (value: number) => `${value.toFixed(2)}x`;
const verdict = (met: boolean) => (met ? 'met' : 'NOT met');

const fixed = (value: number, digits = 1) => value.toFixed(digits);
const MB = (mib: number) => (mib * 1024 * 1024) / 1e6;
const thousands = (n: number) => n.toLocaleString('en-US');

/** CPU microseconds per request beyond the floor that signs as forgegate does: forgegate's own. */
function ownCpu(r: Results, row: Row): number | null {
  if (row.floor === null) return null;
  return row.figures.cpuUs - (row.floor === 'es' ? r.groupedFloor : r.nodeFloorRs).cpuUs;
}

function coldGoalMs(r: Results): number {
  return GOAL_COLD_FACTOR * r.forge.roundTripMs + GOAL_COLD_SLACK_MS;
}

function economyCalls(e: Economy): number {
  return e.calls.identityRounds + e.calls.projectCalls;
}

function rawCalls(c: ForgeCallStats): string {
  return `${c.tokenSelf} GET /personal_access_tokens/self + ${c.currentUser} GET /user + ${c.projectCalls} GET /projects/:id`;
}

/** `f` by wrk (req/s), `timed` the same request by hey (latencies): see "How the figures are measured". */
function warmGoals(name: string, r: Results, f: Figures, timed: Figures): string[] {
  const rpsRatio = f.rps / r.joseFloor.rps;
  const floor = r.latency.joseFloor;
  const p99Ratio = pairedRatio(timed, floor, (g) => g.p99);
  return [
    `${name} req/s vs the jose floor: ${x(rpsRatio)} (${f.rps.toFixed(0)} vs ${r.joseFloor.rps.toFixed(0)}; goal >= ${GOAL_VS_JOSE.toFixed(2)}x: ${verdict(rpsRatio >= GOAL_VS_JOSE && f.failures === 0)})`,
    `${name} p99 at full load vs the jose floor's, timed by ${r.tools.steady} (median of the rounds' ratios): ${x(p99Ratio)} (medians ${ms(timed.p99)} vs ${ms(floor.p99)} ms; goal <= ${GOAL_P99_VS_JOSE.toFixed(2)}x: ${verdict(p99Ratio <= GOAL_P99_VS_JOSE && timed.failures === 0)}). ` +
      `By ${r.tools.saturate}'s own latencies ${x(f.p99 / r.joseFloor.p99)} (${ms(f.p99)} vs ${ms(r.joseFloor.p99)} ms), which put ${fixed(inFlight(f))} requests in flight on ${CONNECTIONS} connections (the jose floor's ${fixed(inFlight(r.joseFloor))})`,
  ];
}

/**
 * A latency of `f` against the same of `floor`: the median of the rounds' ratios. The rows of a
 * round run back to back, so each ratio sees the machine about as it was for both, where the
 * medians of the two rows may come from rounds far apart.
 */
function pairedRatio(f: Figures, floor: Figures, pick: (g: Figures) => number): number {
  const ratios = roundRatios(f, floor, pick);
  return ratios.length === 0 ? pick(f) / pick(floor) : middle(ratios);
}

/** `pick` of each round of `f` over the same of `floor`'s round; none unless both have the same rounds. */
function roundRatios(f: Figures, floor: Figures, pick: (g: Figures) => number): number[] {
  const [mine, theirs] = [f.rounds ?? [], floor.rounds ?? []];
  return mine.length === theirs.length ? mine.map((round, i) => pick(round) / pick(theirs[i]!)) : [];
}

/** A steady-rate row's p50 and p99 against the node:crypto floor's. */
function steadyRatios(r: Results, f: Figures): { p50: number; p99: number } {
  const floor = r.steady.nodeFloor;
  return { p50: pairedRatio(f, floor, (g) => g.p50), p99: pairedRatio(f, floor, (g) => g.p99) };
}

function steadyGoals(name: string, r: Results, f: Figures): string[] {
  const floor = r.steady.nodeFloor;
  const { p50, p99 } = steadyRatios(r, f);
  const met = p50 <= GOAL_STEADY_VS_NODE && p99 <= GOAL_STEADY_VS_NODE && f.failures === 0;
  return [
    `${name} at ${STEADY_RATE} req/s, p50 and p99 vs the node:crypto floor's (median of the rounds' ratios): ${x(p50)} and ${x(p99)} ` +
      `(medians ${ms(f.p50)} / ${ms(f.p99)} vs ${ms(floor.p50)} / ${ms(floor.p99)} ms, whose ratios are ${x(f.p50 / floor.p50)} and ${x(f.p99 / floor.p99)}; ` +
      `goal <= ${GOAL_STEADY_VS_NODE.toFixed(2)}x both: ${verdict(met)})`,
  ];
}

function goals(r: Results): string[] {
  const { economy: e, stampede: st, cold, memory: m } = r.forge;
  const economyRatio = economyCalls(e) / e.minimum;
  const stampedeMet = st.calls.identityRounds === 1 && st.calls.projectCalls === 1 && st.failures === 0;
  const coldGoal = coldGoalMs(r);
  return [
    ...warmGoals('warm path, static account:', r, r.es256, r.latency.es256),
    ...warmGoals(
      'warm path, GitLab PAT (cached identity and decision, Redis):',
      r,
      r.forge.warm.figures,
      r.latency.gitlab,
    ),
    ...steadyGoals('steady rate, static account:', r, r.steady.es256),
    ...steadyGoals('steady rate, GitLab PAT:', r, r.steady.gitlab),
    `forge economy: ${thousands(economyCalls(e))} forge calls (${e.calls.identityRounds} identity rounds + ${thousands(e.calls.projectCalls)} project calls) for a minimum of ${thousands(e.minimum)} (${e.distinctCredentials} credentials + ${thousands(e.distinctPairs)} (user, project) pairs): ${economyRatio.toFixed(3)}x the minimum (goal <= ${GOAL_ECONOMY.toFixed(2)}x: ${verdict(economyRatio <= GOAL_ECONOMY && e.failures === 0)})`,
    `stampede, ${STAMPEDE_REQUESTS} concurrent identical cold requests: ${st.calls.identityRounds} identity round(s) and ${st.calls.projectCalls} project call(s) (goal exactly 1 and 1: ${verdict(stampedeMet)})`,
    `cold token p50: ${ms(cold.p50)} ms (goal <= ${GOAL_COLD_FACTOR} x forge round trip ${ms(r.forge.roundTripMs)} ms + ${GOAL_COLD_SLACK_MS} ms = ${ms(coldGoal)} ms: ${verdict(cold.p50 <= coldGoal && cold.failures === 0)})`,
    `memory: forgegate peak RSS (VmHWM) ${fixed(MB(m.peakRssMiB))} MB (${fixed(m.peakRssMiB)} MiB) after ${thousands(m.requests)} requests over ${thousands(m.credentials)} credentials (goal <= ${GOAL_MEMORY_MB} MB: ${verdict(MB(m.peakRssMiB) <= GOAL_MEMORY_MB && m.failures === 0)})`,
  ];
}

function forgeNotes(r: Results): string[] {
  const { warm, economy: e, stampede: st, cold, memory: m } = r.forge;
  const redis = warm.redisPerRequest;
  const redisText =
    redis === null
      ? 'unreadable (INFO commandstats failed)'
      : Object.keys(redis).length === 0
        ? 'none'
        : Object.entries(redis)
            .map(([command, perRequest]) => `${command.toUpperCase()} ${perRequest.toFixed(2)}`)
            .join(', ');
  const untimed = [e.calls, st.calls, cold.calls, m.calls].some((c) => !c.timed);
  const ttlWarning = (wallMs: number, ttl = FORGE_TTL_SECONDS) =>
    wallMs / 1000 > ttl
      ? `; WARNING: longer than the ${ttl} s TTL, so entries may have expired and been fetched again`
      : '';
  return [
    `GitLab PAT warm path: ${warm.forgeCalls} forge calls during its warm-up and measured run; Redis commands per measured request: ${redisText}`,
    `forge economy raw calls: ${rawCalls(e.calls)} = ${thousands(e.calls.total)} (${(e.calls.total / (2 * e.distinctCredentials + e.distinctPairs)).toFixed(3)}x a raw minimum of ${thousands(2 * e.distinctCredentials + e.distinctPairs)}, two identity calls per credential); ${e.calls.parallelPairs} of the identity pairs arrived in parallel; beyond the first per credential or pair: ${e.calls.repeatedIdentityRounds} identity rounds, ${e.calls.repeatedProjectCalls} project calls; ${thousands(e.requests)} requests in ${fixed(e.wallMs / 1000)} s${ttlWarning(e.wallMs, WARM_TTL_SECONDS)}, ${e.failures} not granted pull,push`,
    `stampede raw calls: ${rawCalls(st.calls)}; all ${st.requests} answered in ${fixed(st.wallMs, 0)} ms, ${st.failures} not granted pull,push`,
    `cold tokens: ${cold.samples} sequential, each a new credential: p50 ${ms(cold.p50)} ms, p90 ${ms(cold.p90)} ms, max ${ms(cold.max)} ms, ${cold.failures} not granted; forge calls: ${rawCalls(cold.calls)}; the project call arrived ${cold.calls.projectAfterIdentityMs === null ? 'at an unknown time' : `${ms(cold.calls.projectAfterIdentityMs)} ms`} after the identity calls (p50; ~0 means in parallel, ~${FORGE_LATENCY_MS} ms after one another)`,
    `memory scenario: ${thousands(m.requests)} requests in ${fixed(m.wallMs / 1000)} s, a credential's requests within ${fixed(m.maxSpanMs / 1000)} s of each other${ttlWarning(m.maxSpanMs)}, ${m.failures} not granted; forge calls: ${rawCalls(m.calls)} (${m.calls.repeatedIdentityRounds} identity rounds and ${m.calls.repeatedProjectCalls} project calls beyond the first); after it: RSS ${fixed(m.rssMiB)} MiB, V8 heap used ${m.heapUsedMiB === null ? '?' : fixed(m.heapUsedMiB)} MiB (${m.liveHeapMiB === null ? '?' : fixed(m.liveHeapMiB)} MiB after a full GC), external ${m.externalMiB === null ? '?' : fixed(m.externalMiB)} MiB; peak RSS of the other GitLab forgegate process: ${fixed(r.forge.rssMiB)} MiB`,
    ...(untimed
      ? [
          'WARNING: the fake could not time its calls, so parallel identity calls were paired by count, not by arrival time',
        ]
      : []),
  ];
}

// What in src/ stands between a figure and its goal, from what this run measured.
function limits(r: Results): string[] {
  const { warm, economy: e, stampede: st, cold, memory: m } = r.forge;
  const out: string[] = [];
  const raced =
    st.calls.identityRounds > 1 ||
    st.calls.projectCalls > 1 ||
    e.calls.repeatedIdentityRounds +
      e.calls.repeatedProjectCalls +
      m.calls.repeatedIdentityRounds +
      m.calls.repeatedProjectCalls >
      0;
  if (raced) {
    out.push(
      'Repeated forge calls for a credential or (credential, image) already fetched (stampede, economy, memory rows above): a lookup started while an earlier one for the same key ' +
        'was not yet visible to it. src/forges/cached-forge.ts closes the windows found so far: `authenticate` and `judge` check the cache again inside their single-flight, ' +
        "and a look-ahead (`lookAhead`) whose cache check answers only after the verification (Redis late under load) starts nothing. Look there, and at the forges' " +
        '`Prefetched` (src/forges/forge.ts), which holds at most 2,000 credentials: one evicted while its lookup is in flight is looked up again by its judge.',
    );
  }
  if (warm.redisPerRequest !== null && (warm.redisPerRequest.get ?? 0) >= 0.5) {
    out.push(
      `The GitLab warm path is not network-free: ${(warm.redisPerRequest.get ?? 0).toFixed(2)} Redis GET per request with identity and decision cached. CachedForge.authenticate first looks up the ` +
        'rejected-credential key (`neg:...`), which a valid credential never has, so TieredCache.get misses the LRU and asks Redis on every request. Remembering misses locally, or checking the verified identity first, would avoid it.',
    );
  }
  const coldGoal = coldGoalMs(r);
  if (
    cold.p50 > coldGoal &&
    cold.calls.projectAfterIdentityMs !== null &&
    cold.calls.projectAfterIdentityMs > FORGE_LATENCY_MS * 0.8
  ) {
    out.push(
      `Cold latency: the project lookup starts ${ms(cold.calls.projectAfterIdentityMs)} ms after the identity calls, i.e. only once the credential is verified (src/authority.ts authenticates, then decides), ` +
        'so a cold token costs two forge round trips. CachedForge.preheat starts the lookups beside the identity round only for a credential whose verified identity is still held, stale ' +
        '(one seen before); a credential never seen, as here, waits. The goal needs its project lookup issued speculatively with its own token beside the identity round (wasted when the token turns out unable to read projects).',
    );
  } else if (cold.p50 > coldGoal) {
    out.push(
      `Cold latency: the project lookup runs beside the identity round (it arrives ${cold.calls.projectAfterIdentityMs === null ? '?' : ms(cold.calls.projectAfterIdentityMs)} ms after it), so the ${ms(cold.p50 - r.forge.roundTripMs)} ms above one forge round trip ` +
        "is forgegate's own work around the forge calls (cache lookups in Redis, gitbeaker, signing).",
    );
  }
  if (MB(m.peakRssMiB) > GOAL_MEMORY_MB) {
    const live = m.liveHeapMiB;
    out.push(
      `Memory: ${fixed(MB(m.peakRssMiB))} MB peak for ${thousands(m.credentials)} credentials and ${thousands(m.credentials * MEMORY_PAIRS)} decisions; ` +
        `after a full GC the V8 heap holds ${live === null ? '? (no snapshot taken)' : `${fixed(live)} MiB`} (${m.heapUsedMiB === null ? '?' : fixed(m.heapUsedMiB)} MiB in use before it). ` +
        (live !== null && live < m.peakRssMiB / 2
          ? 'Most of the peak is garbage V8 let the heap grow into, not data forgegate keeps: the allocations per cold forge call are the place to look.'
          : 'The cache entries and what src/ keeps per credential are the place to look.'),
    );
  }
  const slowWarm = [
    { name: 'static account', row: rowsOf(r).find((row) => row.figures === r.es256)! },
    { name: 'GitLab PAT', row: rowsOf(r).find((row) => row.figures === r.forge.warm.figures)! },
  ].filter(({ row }) => row.figures.rps < GOAL_VS_JOSE * r.joseFloor.rps);
  for (const { name, row } of slowWarm) {
    const own = ownCpu(r, row)!;
    out.push(
      `Warm path (${name}): forgegate used ${fixed(row.figures.cpuUs, 0)} µs of CPU per request, the grouped node:crypto floor ${fixed(r.groupedFloor.cpuUs, 0)} and the jose floor ${fixed(r.joseFloor.cpuUs, 0)}: ` +
        `${fixed(own, 0)} µs of forgegate's own work per request (parsing, the cached credential and decisions, the guard, the audit line, metrics, headers) ` +
        `where the goal leaves about ${fixed(r.joseFloor.cpuUs / GOAL_VS_JOSE - r.groupedFloor.cpuUs, 0)}. See "Where the warm path's time goes" below.`,
    );
  }
  const latencyMissed =
    pairedRatio(r.latency.es256, r.latency.joseFloor, (g) => g.p99) > GOAL_P99_VS_JOSE ||
    Math.max(...Object.values(steadyRatios(r, r.steady.es256))) > GOAL_STEADY_VS_NODE;
  if (latencyMissed) out.push(paddedReading(r));
  return out;
}

/** Whether forgegate's latencies are those of any server with its CPU per request: the padded floor's beside its own. */
function paddedReading(r: Results): string {
  const p = r.padded;
  const pair = (a: number, b: number) => `${ms(a)} vs ${ms(b)} ms (${x(a / b)})`;
  return (
    `Latency (static account): the grouped node:crypto floor padded with forgegate's own ${fixed(p.busyUs, 0)} µs of CPU per request (a busy-wait) ` +
    `answers ${p.saturate.rps.toFixed(0)} req/s (forgegate ${r.es256.rps.toFixed(0)}). forgegate against it: p99 at full load ${pair(r.latency.es256.p99, p.latency.p99)}; ` +
    `at ${STEADY_RATE} req/s p50 ${pair(r.steady.es256.p50, p.steady.p50)} and p99 ${pair(r.steady.es256.p99, p.steady.p99)}. ` +
    'Where these are near 1x, a latency goal is missed for grouped signing and the CPU per request alone (requests queue behind one another on the core); ' +
    'above 1x, forgegate adds to the tail (the memory mode\'s collections: see "Where the warm path\'s time goes"). ' +
    `The busy-wait is forgegate's own CPU at full load; at the steady rate, where each request is signed as it comes and finds the caches cold, ` +
    `forgegate used ${fixed(r.steady.es256.cpuUs, 0)} µs per request and the padded floor ${fixed(p.steady.cpuUs, 0)}.`
  );
}

/** How the steady rate's latencies grow within hey's bursts (load.ts, Burst), row by row. */
function burstNote(r: Results): string {
  const rows = steadyRowsOf(r).flatMap(({ name, figures }) =>
    figures.burst === undefined
      ? []
      : [
          `${name.replace(/^(forgegate|floor:) /, '')} ${ms(figures.burst.firstMs)} ms, then +${fixed(figures.burst.stepUs)} µs`,
        ],
  );
  if (rows.length === 0) return `at the steady rate: ${r.tools.steady} left no per-request times to find its bursts in`;
  return (
    `at the steady rate ${r.tools.steady}'s ${STEADY_WORKERS} workers send together, so each request waits for those of its burst ahead of it: ` +
    `a burst's first request (mean latency), then what each later place added (medians of the rounds): ${rows.join('; ')}. ` +
    `The p50 is about the middle of a burst: past the first request's, it grows with the step, the server's time per request within a burst less the gap between two sends`
  );
}

function notes(r: Results): string[] {
  const change = (a: number, b: number) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(0)}%`;
  const failed = [...rowsOf(r), ...latencyRowsOf(r), ...steadyRowsOf(r)].filter((row) => row.figures.failures > 0);
  const perRound = (f: Figures, floor: Figures, pick: (g: Figures) => number = (g) => g.rps) =>
    roundRatios(f, floor, pick).map(x).join(', ');
  // The rows of a round run one after another, so a ratio within a round sees the machine
  // about as it was for both: the latency goals take the median of these.
  const steadyRounds = (f: Figures) =>
    `p50 ${perRound(f, r.steady.nodeFloor, (g) => g.p50)}, p99 ${perRound(f, r.steady.nodeFloor, (g) => g.p99)}`;
  return [
    `rounds: every row measured ${r.joseFloor.rounds?.length ?? 1} times in turn (the rows that time latencies ${r.steady.nodeFloor.rounds?.length ?? 1}), ${MEASURE_SECONDS} s each; the tables show each figure's median. req/s vs the jose floor of the same round: static account ${perRound(r.es256, r.joseFloor)}; GitLab PAT ${perRound(r.forge.warm.figures, r.joseFloor)}`,
    `at the steady rate, vs the node:crypto floor of the same round: static account ${steadyRounds(r.steady.es256)}; GitLab PAT ${steadyRounds(r.steady.gitlab)}`,
    burstNote(r),
    `load: ${r.tools.saturate} (${CONNECTIONS} connections: req/s) and ${r.tools.steady} (${CONNECTIONS} workers: latencies at full load; the steady rate), ${r.tools.pinned ? 'servers on CPU 0, load generators on CPU 1 (taskset)' : 'NOT pinned'}${r.tools.warnings.map((w) => `; WARNING: ${w}`).join('')}`,
    `req/s vs the node:crypto floor that groups its signatures as forgegate does: static account ${x(r.es256.rps / r.groupedFloor.rps)}, GitLab PAT ${x(r.forge.warm.figures.rps / r.groupedFloor.rps)} (the grouped floor vs the plain one: ${x(r.groupedFloor.rps / r.nodeFloor.rps)})`,
    `forgegate's own CPU per request beyond the node:crypto floor that signs as it does (ES256 grouped per turn, RS256 in the thread pool): ${rowsOf(
      r,
    )
      .filter((row) => row.floor !== null)
      .map((row) => `${row.name.replace('forgegate ', '')} ${fixed(ownCpu(r, row)!, 0)} µs`)
      .join(', ')}`,
    `RS256 vs ES256: req/s ${change(r.rs256.rps, r.es256.rps)}, p50 ${ms(r.rs256.p50)} vs ${ms(r.es256.p50)} ms, p99 ${ms(r.rs256.p99)} vs ${ms(r.es256.p99)} ms`,
    `anonymous vs static account (ES256): req/s ${change(r.anonymous.rps, r.es256.rps)}`,
    `GitLab PAT vs static account (ES256): req/s ${change(r.forge.warm.figures.rps, r.es256.rps)}, p99 at full load ${ms(r.latency.gitlab.p99)} vs ${ms(r.latency.es256.p99)} ms`,
    `${r.tools.saturate}'s latencies, with its req/s, put this many requests in flight on its ${CONNECTIONS} connections (Little's law; a closed loop holds at most ${CONNECTIONS}): ${rowsOf(
      r,
    )
      .map((row) => `${row.name.replace(/^(forgegate|floor:) /, '')} ${fixed(inFlight(row.figures))}`)
      .join(', ')}; ${r.tools.steady}'s at full load: ${latencyRowsOf(r)
      .map((row) => `${row.name.replace(/^(forgegate|floor:) /, '')} ${fixed(inFlight(row.figures))}`)
      .join(', ')}`,
    ...forgeNotes(r),
    `peak RSS (VmHWM) after the run: forgegate ES256 process ${r.rssMiB.es256.toFixed(1)} MiB, RS256 process ${r.rssMiB.rs256.toFixed(1)} MiB (bare Koa ${r.rssMiB.bare.toFixed(1)} MiB, node:crypto floor ${r.rssMiB.nodeFloor.toFixed(1)} MiB)`,
    `CPU taken during the run by other processes: ${percent(r.foreignCpuShare)}, by the hypervisor (steal): ${percent(r.stolenCpuShare)}${
      r.foreignCpuShare + r.stolenCpuShare > QUIET_SHARE
        ? '. WARNING: the machine was not quiet and the figures are unreliable; rerun when it is'
        : ''
    }`,
    ...failed.map(
      (row) =>
        `WARNING: ${row.name} had ${row.figures.failures} non-2xx responses or errors; its figures are not valid`,
    ),
  ];
}

function tableCells(r: Results): string[][] {
  return rowsOf(r).map((row) => {
    const f = row.figures;
    const floor = row.rs ? r.nodeFloorRs : r.nodeFloor;
    return [
      row.name,
      f.rps.toFixed(0),
      ms(f.p50),
      ms(f.p99),
      x(f.rps / r.bare.rps),
      x(f.rps / floor.rps),
      row.rs ? '' : x(f.rps / r.joseFloor.rps),
      fixed(f.cpuUs, 0),
      String(f.failures),
    ];
  });
}

function latencyCells(r: Results): string[][] {
  const floor = r.latency.joseFloor;
  return latencyRowsOf(r).map(({ name, figures: f }) => [
    name,
    f.rps.toFixed(0),
    ms(f.p50),
    ms(f.p99),
    x(f.p99 / floor.p99),
    fixed(inFlight(f)),
    fixed(f.cpuUs, 0),
    String(f.failures),
  ]);
}

function steadyCells(r: Results): string[][] {
  const floor = r.steady.nodeFloor;
  return steadyRowsOf(r).map(({ name, figures: f }) => [
    name,
    f.rps.toFixed(0),
    ms(f.p50),
    ms(f.p99),
    x(f.p50 / floor.p50),
    x(f.p99 / floor.p99),
    fixed(f.cpuUs, 0),
    String(f.failures),
  ]);
}

const HEADER = [
  '',
  'req/s',
  'p50 ms',
  'p99 ms',
  'vs bare Koa',
  'vs node:crypto floor',
  'vs jose floor',
  'CPU µs/req',
  'failed',
];
const LATENCY_HEADER = ['', 'req/s', 'p50 ms', 'p99 ms', 'p99 vs jose floor', 'in flight', 'CPU µs/req', 'failed'];
const STEADY_HEADER = [
  '',
  'req/s',
  'p50 ms',
  'p99 ms',
  'p50 vs node:crypto floor',
  'p99 vs node:crypto floor',
  'CPU µs/req',
  'failed',
];

const COLD_HEADER = ['step', 'back to back µs', 'after a sweep µs', 'ratio'];

function coldCells(r: Results): string[][] {
  return r.coldCache.map((c) => [c.step, fixed(c.hotUs), fixed(c.sweptUs), x(c.sweptUs / c.hotUs)]);
}

function textTable(header: string[], cells: string[][]): string[] {
  const widths = header.map((_, i) => Math.max(...[header, ...cells].map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), ...cells.map(line)];
}

function markdownTable(header: string[], cells: string[][]): string {
  return [
    `| ${header.map((h, i) => (i === 0 && h === '' ? 'Server and request' : h)).join(' | ')} |`,
    `| --- |${' ---: |'.repeat(header.length - 1)}`,
    ...cells.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

export function renderText(r: Results): string {
  return [
    `forgegate benchmark, ${r.date.toISOString()}, Node ${r.node}, ${r.cores} cores (${r.cpu})`,
    `${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up + ${MEASURE_SECONDS} s measured per row`,
    '',
    ...textTable(HEADER, tableCells(r)),
    '',
    `As fast as the server answers, latencies timed by ${r.tools.steady} (${CONNECTIONS} connections):`,
    ...textTable(LATENCY_HEADER, latencyCells(r)),
    '',
    `At a steady ${STEADY_RATE} req/s (${STEADY_WORKERS} connections):`,
    ...textTable(STEADY_HEADER, steadyCells(r)),
    '',
    'Goals:',
    ...goals(r).map((line) => `  ${line}`),
    '',
    ...notes(r),
    '',
    'Steps of the warm path, back to back and right after a sweep of the CPU caches:',
    ...textTable(COLD_HEADER, coldCells(r)),
    ...(limits(r).length > 0 ? ['', 'What in src/ limits a goal:', ...limits(r).map((line) => `- ${line}`)] : []),
    '',
  ].join('\n');
}

export function renderMarkdown(r: Results): string {
  return `# Benchmarks

Written by \`npm run bench\` (bench/run.ts); rerun it rather than editing the figures. The machine
these figures come from is shared: compare rows of one run (ratios), not runs.

- Date: ${r.date.toISOString()}
- Node: ${r.node}
- Machine: ${r.cores} cores (${r.cpu})

## Warm path, as fast as the server answers

${markdownTable(HEADER, tableCells(r))}

## Warm path, latencies at full load

Timed by ${r.tools.steady} with ${CONNECTIONS} workers as fast as the server answers (the table above is ${r.tools.saturate}'s; "How the
figures are measured" says why the latencies are not). *in flight* is req/s times the mean
latency: at most ${CONNECTIONS} for any ${CONNECTIONS}-connection load that measures its latencies right.

${markdownTable(LATENCY_HEADER, latencyCells(r))}

## Warm path at a steady ${STEADY_RATE} req/s

${markdownTable(STEADY_HEADER, steadyCells(r))}

## Goals

${goals(r)
  .map((line) => `- ${line}`)
  .join('\n')}

## Notes

${notes(r)
  .map((line) => `- ${line}`)
  .join('\n')}
${
  limits(r).length > 0
    ? `\n## What in src/ limits a goal\n\n${limits(r)
        .map((line) => `- ${line}`)
        .join('\n')}\n`
    : ''
}
${WARM_PATH_NOTES}
## Steps of the warm path with cold caches

Measured by this run (bench/cold-cache.ts): each step alone, ${thousands(COLD_CALLS)} calls, once back to back and once right
after a sweep through ${SWEEP_MIB} MiB of memory, which leaves the CPU caches holding other data, as the
rest of a request's path (Node's HTTP code, V8, the kernel) does in a server.

${markdownTable(COLD_HEADER, coldCells(r))}

## How the figures are measured

- **Processes.** Every server runs in its own Node process, and so does every load generator.
  With \`taskset\` and two cores (${r.tools.pinned ? 'as here' : 'NOT the case in this run'}), servers run on CPU 0
  (\`taskset -c 0\`, their libuv and V8 threads included) and load generators on CPU 1
  (\`taskset -c 1\`), so that neither takes the other's core; without, both float and the
  report says so. The figures are relative to this machine: compare the rows of one run.
- **Load.** Debian's \`wrk\` (one thread, ${CONNECTIONS} keep-alive connections, as fast as the server answers) and
  \`hey\` (${STEADY_WORKERS} workers of ${STEADY_RATE / STEADY_WORKERS} requests a second each: \`hey -c ${STEADY_WORKERS} -q ${STEADY_RATE / STEADY_WORKERS}\`), which the bench
  installs with apt-get when they are missing; where it cannot, autocannon in its own process
  (the notes say which ran). Every server is started first; each request gets one warm-up
  (${WARMUP_SECONDS} s at full load, then ${STEADY_WARMUP_SECONDS} s at the steady rate, discarded: the JIT compiles the path, connections
  open); then the rows take turns, ${ROUNDS} rounds of ${MEASURE_SECONDS} s each (the rows that time latencies ${LATENCY_ROUNDS}), so that every row
  sees the machine at about the same moments, and the tables show each figure's median over the
  rounds. The latency goals take the median of the rounds' ratios to the floor instead: a
  floor's own p50 moves by half from one round to another on this shared machine, and a ratio
  within a round sees both rows under about the same load.
  *req/s* counts 2xx responses; *p50/p99* are the load generator's; at the steady rate they are
  read from hey's CSV of every request, between its 0.1 ms steps (its summary rounds them to
  0.1 ms, about a tenth of a floor's p50 there: bench/load.ts, \`heyEach\`). A non-zero *failed*
  column (non-2xx, socket errors, timeouts) invalidates its row.
- **Latencies at full load** are hey's (\`hey -c ${CONNECTIONS}\`, no rate), in rows of their own in each round,
  not wrk's. Against a server that answers a whole turn of the event loop at once (every server
  here but the jose floor, which signs in libuv's thread pool), wrk reports latencies no closed
  loop can have: with its req/s they put more requests in flight than it has connections
  (Little's law; the notes give each row's figure, and hey's). Measured by hand against the
  node:crypto floor and forgegate: a preload that timed every request on the server side found
  no connection waiting more than 40-70 ms between two of its requests, which bounds what any
  client could measure at about twice that, while wrk reported a p99.9 of 160-230 ms in the same
  runs; hey and a raw-socket Node client at the same load saw neither the tail nor the excess.
  wrk's counts (req/s) are responses received, and stand.
- **CPU µs/req** is the server process's CPU time (user + system, all threads, from
  \`/proc/<pid>/stat\`) over the measured run divided by its responses. The difference to the
  node:crypto floor that signs as forgegate does (ES256: the grouped floor) is *forgegate's own*
  CPU per request.
- **Floors.** Minimal Koa apps that sign forgegate's token on every request: the same key
  (forgegate's key directory), the same header (\`typ\`, \`alg\`, \`kid\`, \`x5c\`; the bench checks
  it against forgegate's), the same claims and answer shape (\`bench/servers/floor-token.mjs\`).
  The *node:crypto* floor signs with \`crypto.sign\` (ES256 as raw R||S), the *jose* floor with
  jose's \`SignJWT\` and a WebCrypto key; neither parses, authenticates, decides, logs or counts.
  Both sign each token as its request comes. The *grouped* floor is the node:crypto floor signing
  as forgegate does, the signatures asked for in one event-loop turn together after it while the
  loop is busy (\`token/per-turn.ts\`): the goals compare forgegate with the jose floor, as they were set,
  and this row shows what the grouping alone is worth.
  *Bare Koa* answers \`Hello World\`. All plain JavaScript like dist/, no loader.
- **forgegate** runs as \`node dist/cli.js serve --config FILE\`, built by \`npm run bench\` just
  before, with its audit log (one JSON line per request on stdout) sent to /dev/null: the
  production start-up, not a test harness. Configuration: no forges, a static htpasswd file with
  one bcrypt (cost 10) account, an ACL granting that account \`pull,push\` on \`bench/**\` and
  anonymous callers \`pull\`, the default \`x5c\` token header, brute-force limits on (the
  default), and a key made by \`forgegate keys generate\` in a temporary directory (removed afterwards).
- **Request.** \`GET /token?service=registry.bench&scope=repository:bench/app:pull,push\` with
  HTTP Basic credentials of the static account (the *anonymous* row sends the same request without
  credentials and is granted \`pull\` only). Before any load the bench sends one request and
  checks the answer: HTTP 200 and a token granting the expected actions. That request pays the
  bcrypt check; the ones after it are served from the verified-credential cache, which is the warm path.
- **RS256** is a second forgegate process with \`token.algorithm: RS256\` (2048-bit key),
  otherwise identical, next to a node:crypto floor with that key.
- **Quiet machine.** From \`/proc/stat\` and \`/proc/<pid>/stat\`, the bench computes the CPU time
  used during the run by processes other than itself and its servers, and the time the hypervisor
  gave to other guests (steal). Above ${QUIET_SHARE * 100}% of the machine together it prints a warning: on
  ${r.cores} cores a concurrent test run or build moves the figures by tens of percent.
- **Peak RSS** is \`VmHWM\` from \`/proc/<pid>/status\` of each forgegate process, read after all
  of its measurements and before it is stopped.

### With a GitLab forge

- **Setup.** The bench starts a private \`redis-server\` (test/support/redis.ts) and the fake
  GitLab of the tests (test/fakes/gitlab.ts) in a process of its own
  (\`bench/servers/fake-gitlab.ts\`, run with tsx), answering every call after ${FORGE_LATENCY_MS} ms. Its model:
  one group with ${PROJECT_COUNT} private projects \`group/proj1\` to \`group/proj${PROJECT_COUNT}\`, and users with one personal
  access token each (scope \`api\`), every one a Developer of the group (hence of every project).
  The ${thousands(MEMORY_USERS)} users of the memory scenario are instance admins instead (tokens with \`admin_mode\`): the fake
  scans every membership four times per project call, ~7 ms of CPU at 10,000 members, which would
  stretch that scenario over minutes; forgegate makes the same calls for an admin and grants the
  same \`pull,push\`. forgegate runs as before with \`forges: [{type: gitlab, url: <fake>}]\` and
  \`cache: {redisUrl: <that Redis>, identityTtl: T, decisionTtl: T}\`: one process (T = ${WARM_TTL_SECONDS} s,
  longer than the rounds) for the warm-path rows, then cold latency, stampede and economy (in that
  order, each with credentials the process has not seen), a fresh one (T = ${FORGE_TTL_SECONDS} s) for the
  memory scenario.
- **Requests** are \`GET /token?service=registry.bench&scope=repository:group/projN:pull,push\` with
  HTTP Basic \`username:glpat-...\`. A two-segment image name is exactly one project candidate, so
  a judgement costs one \`GET /projects/:id\`. A request counts as failed unless it gets HTTP 200 and a
  token granting \`pull,push\`. Scenarios other than the warm path send their requests from the
  bench process over node:http keep-alive connections.
- **Forge calls** come from the fake's own call log, reset before each scenario. For GitLab an
  *identity round* is \`GET /personal_access_tokens/self\` + \`GET /user\` for one token; the two
  count as one round when they arrive within one answer delay (${FORGE_LATENCY_MS} ms) of each other, i.e.
  in parallel (the fake records arrival times). A *project call* is \`GET /projects/:id\`. Raw
  counts are reported too. *Beyond the first* counts identity rounds for a token already
  verified and project calls for a (token, project) already looked up.
- **Warm path, GitLab PAT.** One request fills the cache, then the load as above, pinned; the
  scenarios after it let the process use every CPU again. Redis commands per request are read
  from \`INFO commandstats\` around the measured run.
- **Forge economy.** ${thousands(ECONOMY_REQUESTS)} requests from ${r.forge.economy.users} users (uniform) over ${PROJECT_COUNT} projects (Zipf, s = ${ZIPF_S}),
  in a seeded random order, ${ECONOMY_CONCURRENCY} at a time, within one TTL window. The minimum is the distinct
  credentials plus the distinct (user, project) pairs of the requests sent.
- **Stampede.** ${STAMPEDE_REQUESTS} keep-alive connections are opened first (\`GET /healthz\`), then the same
  token request for a new user goes out on all of them at once.
- **Cold latency.** ${r.forge.cold.samples} requests one after another, each from a user forgegate has not seen
  (a few unmeasured ones first), so each needs an identity round and a project call. The
  *forge round trip* is the p50 of 20 sequential \`GET /api/v4/user\` from the bench to the fake.
- **Memory.** ${thousands(MEMORY_REQUESTS)} requests over ${thousands(MEMORY_USERS)} credentials, ${MEMORY_REQUESTS / MEMORY_USERS} per credential, spread over ${MEMORY_PROJECTS} projects
  with ${MEMORY_PAIRS} per user (so ${thousands(MEMORY_USERS)} cached identities and ${thousands(MEMORY_USERS * MEMORY_PAIRS)} cached decisions), ${MEMORY_CONCURRENCY} at a time.
  Users arrive in waves of ${MEMORY_WAVE} whose requests are shuffled together, so a user's requests lie
  within seconds of each other, inside the TTL. Peak RSS is the fresh forgegate process's
  \`VmHWM\` afterwards (goal in MB of 10^6 bytes; MiB in brackets). That process alone is started
  with \`--heapsnapshot-signal=SIGUSR2\`: after the figures are read, the bench has it write a heap
  snapshot (deleted at once) for the full GC that precedes it, and reads the heap still in use.
`;
}
