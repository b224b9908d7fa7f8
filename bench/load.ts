import { execFile, execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ServerProcess } from './child.js';
import { processCpuSeconds } from './cpu.js';

// The load generators. Debian's `wrk` (as fast as the server answers) and `hey` (a steady
// rate, and the latencies at full load) run in their own processes; the bench installs them
// with apt when they are missing and it may, and falls back to autocannon, in its own process
// too, when it cannot. With
// `taskset` and two cores or more, every server under test runs on CPU 0 (SERVER_CPU) and the
// load generator on CPU 1, so that neither steals the other's core; without, both float (and
// the report says so).

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

export const CONNECTIONS = 50;
export const WARMUP_SECONDS = 8;
/** Each round measures every row this long; rows take turns, ROUNDS times (or LATENCY_ROUNDS). */
export const MEASURE_SECONDS = 5;
export const ROUNDS = 3;
/**
 * The rows that time latencies (hey's, at full load and at the steady rate) take more turns: a
 * round's p99 is a few dozen requests, and between rounds a floor's own p50 moved by half on
 * this shared machine.
 */
export const LATENCY_ROUNDS = 7;
/** The steady rate: `hey -c 10 -q 100`, ten workers of 100 requests a second each. */
export const STEADY_WORKERS = 10;
export const STEADY_RATE = 1000;
export const STEADY_WARMUP_SECONDS = 3;
export const SERVER_CPU = '0';
const LOAD_CPU = '1';

export interface Figures {
  /** 2xx responses per second of the measured run. */
  rps: number;
  p50: number;
  p99: number;
  /** The mean latency, ms: with req/s, how many requests the latencies say were in flight (inFlight). */
  meanMs: number;
  /** Responses other than 2xx, plus socket errors and timeouts: any of these spoils the run. */
  failures: number;
  /** Responses of the measured run, all statuses. */
  requests: number;
  /** CPU time the server process (all its threads) used per response of the measured run, µs. */
  cpuUs: number;
  /** At the steady rate, read from hey's CSV: how the latency grows within a burst. */
  burst?: Burst;
  /** Where the figures are medians: the rounds they come from. */
  rounds?: Figures[];
}

/**
 * hey's workers tick together, so at the steady rate its requests leave in bursts of
 * STEADY_WORKERS, a few tens of µs apart, and each waits for the ones ahead of it: the p50 is
 * about the middle of a burst. `firstMs` is the mean latency of a burst's first request (it finds
 * the server idle, its caches cold); `stepUs` what each later place added, the least-squares
 * slope over the places after the first of each place's mean: the time the server takes per
 * request within a burst, less the gap between two sends.
 */
export interface Burst {
  firstMs: number;
  stepUs: number;
}

export interface LoadTools {
  saturate: 'wrk' | 'autocannon';
  steady: 'hey' | 'autocannon';
  /** Servers on CPU 0 and load generators on CPU 1. */
  pinned: boolean;
  warnings: string[];
}

let tools: LoadTools | undefined;

const has = (command: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Finds (or installs) wrk, hey and taskset; call once before measuring. */
export function prepareTools(): LoadTools {
  if (tools) return tools;
  const warnings: string[] = [];
  if ((!has('wrk') || !has('hey')) && has('apt-get') && process.getuid?.() === 0) {
    console.error('installing wrk and hey with apt-get ...');
    const apt = (...args: string[]) =>
      execFileSync('apt-get', args, {
        stdio: 'ignore',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        timeout: 300_000,
      });
    try {
      apt('install', '-y', 'wrk', 'hey');
    } catch {
      try {
        apt('update');
        apt('install', '-y', 'wrk', 'hey');
      } catch (error) {
        warnings.push(`apt-get could not install wrk and hey (${(error as Error).message.split('\n')[0]})`);
      }
    }
  }
  const pinned = has('taskset') && availableParallelism() >= 2;
  if (!pinned)
    warnings.push('not pinned: taskset or a second CPU is missing, so servers and load generators share the CPUs');
  tools = { saturate: has('wrk') ? 'wrk' : 'autocannon', steady: has('hey') ? 'hey' : 'autocannon', pinned, warnings };
  if (tools.saturate === 'autocannon' || tools.steady === 'autocannon')
    warnings.push('wrk or hey missing: autocannon (in its own process) generated that load instead');
  for (const warning of warnings) console.error(`WARNING: ${warning}`);
  return tools;
}

/** The command prefix that puts a server on its CPU (none when not pinned). */
export function serverPin(): string[] {
  return prepareTools().pinned ? ['taskset', '-c', SERVER_CPU] : [];
}

/** Lets a pinned server use every CPU again (for scenarios that are not about its own CPU). */
export function unpin(pid: number): void {
  if (prepareTools().pinned)
    execFileSync('taskset', ['-a', '-p', '-c', `0-${availableParallelism() - 1}`, String(pid)], { stdio: 'ignore' });
}

function loadCommand(command: string, args: string[]): [string, string[]] {
  return prepareTools().pinned ? ['taskset', ['-c', LOAD_CPU, command, ...args]] : [command, args];
}

interface Raw {
  rps: number;
  p50: number;
  p99: number;
  meanMs: number;
  failures: number;
  requests: number;
  burst?: Burst;
}

/** Discarded load, as fast as the server answers: the JIT compiles the path, connections open. */
export async function warmUp(url: string, headers: Record<string, string> = {}): Promise<void> {
  await saturate(url, headers, WARMUP_SECONDS);
  await steady(url, headers, STEADY_WARMUP_SECONDS, false);
}

/**
 * What a measured run asks of its load generator: `saturate`, as fast as the server answers
 * (wrk: req/s); `latency`, the same timed by hey with CONNECTIONS workers (wrk's own latencies
 * against a server that answers a whole turn of the event loop at once add up to more time
 * than its connections had, inFlight above CONNECTIONS, which no closed loop can do; hey's add
 * up); `steady`, STEADY_RATE requests a second from STEADY_WORKERS connections (latency when
 * not overloaded).
 */
export type LoadKind = 'saturate' | 'latency' | 'steady';

/** One measured run of `kind` against `server`, with its CPU per request. */
export function measure(
  kind: LoadKind,
  server: ServerProcess,
  url: string,
  headers: Record<string, string> = {},
): Promise<Figures> {
  return withCpu(server, () => GENERATORS[kind](url, headers, MEASURE_SECONDS));
}

/**
 * Little's law: the requests in flight on average, as the load generator's own figures tell
 * (req/s times the mean latency). A closed loop of N connections never has more than N, so a
 * figure above N says the latencies were overstated.
 */
export function inFlight(f: Pick<Figures, 'rps' | 'meanMs'>): number {
  return (f.rps * f.meanMs) / 1000;
}

/** The median of some numbers. */
export function middle(numbers: readonly number[]): number {
  const values = [...numbers].sort((a, b) => a - b);
  const n = values.length;
  return n % 2 === 1 ? values[(n - 1) / 2]! : (values[n / 2 - 1]! + values[n / 2]!) / 2;
}

/** The median of each figure over rounds (each figure on its own), failures added up. */
export function median(rounds: readonly Figures[]): Figures {
  const mid = (pick: (f: Figures) => number) => middle(rounds.map(pick));
  return {
    rps: mid((f) => f.rps),
    p50: mid((f) => f.p50),
    p99: mid((f) => f.p99),
    meanMs: mid((f) => f.meanMs),
    cpuUs: mid((f) => f.cpuUs),
    failures: rounds.reduce((n, f) => n + f.failures, 0),
    requests: rounds.reduce((n, f) => n + f.requests, 0),
    ...(rounds.every((f) => f.burst !== undefined) && rounds.length > 0
      ? { burst: { firstMs: mid((f) => f.burst!.firstMs), stepUs: mid((f) => f.burst!.stepUs) } }
      : {}),
    rounds: [...rounds],
  };
}

async function withCpu(server: ServerProcess, work: () => Promise<Raw>): Promise<Figures> {
  const before = processCpuSeconds(server.pid);
  const raw = await work();
  const cpu = processCpuSeconds(server.pid) - before;
  return { ...raw, cpuUs: (cpu * 1e6) / Math.max(1, raw.requests) };
}

function saturate(url: string, headers: Record<string, string>, seconds: number): Promise<Raw> {
  return prepareTools().saturate === 'wrk'
    ? wrk(url, headers, seconds)
    : autocannon(url, headers, seconds, ['-c', String(CONNECTIONS)]);
}

function saturateLatency(url: string, headers: Record<string, string>, seconds: number): Promise<Raw> {
  return prepareTools().steady === 'hey'
    ? hey(url, headers, seconds, CONNECTIONS, null)
    : autocannon(url, headers, seconds, ['-c', String(CONNECTIONS)]);
}

function steady(url: string, headers: Record<string, string>, seconds: number, measured = true): Promise<Raw> {
  return prepareTools().steady === 'hey'
    ? heyEach(url, headers, seconds, measured)
    : autocannon(url, headers, seconds, ['-c', String(STEADY_WORKERS), '-R', String(STEADY_RATE)]);
}

const GENERATORS: Record<LoadKind, (url: string, headers: Record<string, string>, seconds: number) => Promise<Raw>> = {
  saturate,
  latency: saturateLatency,
  steady,
};

const headerArgs = (headers: Record<string, string>, flag: string, join: string) =>
  Object.entries(headers).flatMap(([k, v]) => [flag, `${k}${join}${v}`]);

/** wrk's figures: one thread (one core), --latency for the percentiles. */
async function wrk(url: string, headers: Record<string, string>, seconds: number): Promise<Raw> {
  const [command, args] = loadCommand('wrk', [
    '-t1',
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    '--latency',
    ...headerArgs(headers, '-H', ': '),
    url,
  ]);
  const { stdout } = await run(command, args, { maxBuffer: 1 << 20 });
  const requests = Number(/(\d+) requests in ([\d.]+)(m?s)/.exec(stdout)?.[1]);
  const duration = durationSeconds(/requests in ([\d.]+\w+)/.exec(stdout)![1]!);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = socket ? socket.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
  const percentile = (q: string) => durationSeconds(new RegExp(`^\\s+${q}%\\s+(\\S+)`, 'm').exec(stdout)![1]!) * 1000;
  if (!Number.isFinite(requests)) throw new Error(`unreadable wrk output:\n${stdout}`);
  return {
    rps: (requests - non2xx) / duration,
    p50: percentile('50'),
    p99: percentile('99'),
    meanMs: durationSeconds(/^\s+Latency\s+(\S+)/m.exec(stdout)![1]!) * 1000,
    failures: non2xx + errors,
    requests,
  };
}

/** hey's command line: `workers` connections for `seconds`, at `rate` requests a second in all (-q is each worker's), or as fast as the server answers. */
function heyArgs(
  url: string,
  headers: Record<string, string>,
  seconds: number,
  workers: number,
  rate: number | null,
): string[] {
  return [
    '-z',
    `${seconds}s`,
    '-c',
    String(workers),
    ...(rate === null ? [] : ['-q', String(rate / workers)]),
    ...headerArgs(headers, '-H', ': '),
    url,
  ];
}

/** hey's figures from its summary (heyArgs says what load). */
async function hey(
  url: string,
  headers: Record<string, string>,
  seconds: number,
  workers: number,
  rate: number | null,
): Promise<Raw> {
  const [command, args] = loadCommand('hey', heyArgs(url, headers, seconds, workers, rate));
  const { stdout } = await run(command, args, { maxBuffer: 1 << 20 });
  const statuses = [...stdout.matchAll(/\[(\d{3})\]\s+(\d+) responses/g)].map((m) => ({
    status: Number(m[1]),
    count: Number(m[2]),
  }));
  const ok = statuses.filter((s) => s.status >= 200 && s.status < 300).reduce((n, s) => n + s.count, 0);
  const requests = statuses.reduce((n, s) => n + s.count, 0);
  const errors = [...(/Error distribution:([\s\S]*)$/.exec(stdout)?.[1] ?? '').matchAll(/\[(\d+)\]/g)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
  const percentile = (q: string) => Number(new RegExp(`${q}% in ([\\d.]+) secs`).exec(stdout)?.[1]) * 1000;
  const total = Number(/Total:\s+([\d.]+) secs/.exec(stdout)?.[1]);
  if (requests === 0) throw new Error(`unreadable hey output:\n${stdout}`);
  return {
    rps: ok / total,
    p50: percentile('50'),
    p99: percentile('99'),
    meanMs: Number(/Average:\s+([\d.]+) secs/.exec(stdout)?.[1]) * 1000,
    failures: requests - ok + errors,
    requests,
  };
}

/** How finely hey writes a time: to a tenth of a millisecond (four decimals of a second). */
const HEY_STEP_MS = 0.1;

/**
 * hey at the steady rate, read from its CSV of every request. Its summary rounds the
 * percentiles to 0.1 ms, about a tenth of a floor's p50 at this rate, so p50 ratios moved in
 * steps of about 0.1, and a goal of 1.25x was decided by which way two roundings went. The CSV rounds
 * each time as well, but a percentile read between neighbouring values (as if each value's
 * times were spread evenly over its 0.1 ms, `binnedQuantile`) has no steps. The CSV holds only
 * the requests that were answered: a measured run more than 2% short of the rate is reported
 * as a warning.
 */
async function heyEach(url: string, headers: Record<string, string>, seconds: number, measured: boolean): Promise<Raw> {
  const [command, args] = loadCommand('hey', [
    '-o',
    'csv',
    ...heyArgs(url, headers, seconds, STEADY_WORKERS, STEADY_RATE),
  ]);
  const { stdout } = await run(command, args, { maxBuffer: 1 << 24 });
  // response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
  const rows = stdout
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => line.split(','));
  if (rows.length === 0) throw new Error(`unreadable hey output:\n${stdout.slice(0, 500)}`);
  const times = rows.map((row) => Number(row[0]) * 1000).sort((a, b) => a - b);
  const ok = rows.filter((row) => /^2\d\d$/.test(row[6] ?? '')).length;
  const span = Math.max(...rows.map((row) => Number(row[7]) + Number(row[0])));
  const expected = STEADY_RATE * seconds;
  if (measured && rows.length < 0.98 * expected) {
    const warning = `hey answered ${rows.length} of the ${expected} requests of a steady-rate run (failed requests are left out of its CSV)`;
    console.error(`WARNING: ${warning}`);
    prepareTools().warnings.push(warning);
  }
  return {
    rps: ok / span,
    p50: binnedQuantile(times, 0.5, HEY_STEP_MS),
    p99: binnedQuantile(times, 0.99, HEY_STEP_MS),
    meanMs: times.reduce((sum, t) => sum + t, 0) / times.length,
    failures: rows.length - ok,
    requests: rows.length,
    burst: burstOf(rows.map((row) => ({ sentAt: Number(row[7]), ms: Number(row[0]) * 1000 }))),
  };
}

/** Burst figures of a steady-rate run's requests (seconds since its start, and latency in ms). */
export function burstOf(requests: readonly { sentAt: number; ms: number }[]): Burst | undefined {
  // A new burst after a pause of a quarter of the workers' tick (10 ms at 100 a second each).
  const pause = STEADY_WORKERS / STEADY_RATE / 4;
  const sorted = [...requests].sort((a, b) => a.sentAt - b.sentAt);
  const places: number[][] = Array.from({ length: STEADY_WORKERS }, () => []);
  let burst: { ms: number }[] = [];
  const close = () => {
    if (burst.length === STEADY_WORKERS) burst.forEach((r, place) => places[place]!.push(r.ms));
    burst = [];
  };
  sorted.forEach((request, i) => {
    if (i > 0 && request.sentAt - sorted[i - 1]!.sentAt > pause) close();
    burst.push(request);
  });
  close();
  if (places[0]!.length === 0) return undefined;
  const means = places.map((times) => times.reduce((sum, t) => sum + t, 0) / times.length);
  const later = means.slice(1).map((ms, i) => ({ place: i + 1, ms }));
  const meanPlace = later.reduce((sum, p) => sum + p.place, 0) / later.length;
  const meanMs = later.reduce((sum, p) => sum + p.ms, 0) / later.length;
  const slope =
    later.reduce((sum, p) => sum + (p.place - meanPlace) * (p.ms - meanMs), 0) /
    later.reduce((sum, p) => sum + (p.place - meanPlace) ** 2, 0);
  return { firstMs: means[0]!, stepUs: slope * 1000 };
}

/**
 * The `q` quantile of sorted values rounded to the nearest `step`, reading each value as times
 * spread evenly over [value - step/2, value + step/2): the usual median of grouped data.
 */
export function binnedQuantile(sorted: readonly number[], q: number, step: number): number {
  const rank = q * sorted.length;
  const value = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(rank) - 1))]!;
  const same = (v: number) => Math.abs(v - value) < step / 2;
  const first = sorted.findIndex(same); // found: `value` is one of them
  let end = first;
  while (end < sorted.length && same(sorted[end]!)) end++;
  return value - step / 2 + (step * (rank - first)) / (end - first);
}

/** The fallback: autocannon's command line, in its own process, JSON out. */
async function autocannon(
  url: string,
  headers: Record<string, string>,
  seconds: number,
  extra: string[],
): Promise<Raw> {
  const cli = `${ROOT}node_modules/autocannon/autocannon.js`;
  const [command, args] = loadCommand(process.execPath, [
    cli,
    '--json',
    '-d',
    String(seconds),
    ...extra,
    ...headerArgs(headers, '-H', '='),
    url,
  ]);
  const { stdout } = await run(command, args, { maxBuffer: 16 << 20 });
  const result = JSON.parse(stdout) as {
    '2xx': number;
    non2xx: number;
    errors: number;
    timeouts: number;
    duration: number;
    latency: { p50: number; p99: number; average: number };
  };
  return {
    rps: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    meanMs: result.latency.average,
    failures: result.non2xx + result.errors + result.timeouts,
    requests: result['2xx'] + result.non2xx,
  };
}

/** wrk's durations: 850.00us, 1.23ms, 2.01s, 1.50m. */
function durationSeconds(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) throw new Error(`unreadable duration "${text}"`);
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1e6 : match[2] === 'ms' ? value / 1e3 : match[2] === 'm' ? value * 60 : value;
}
