import { readdir, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:net';
import { startServer, type ServerProcess } from './child.js';
import {
  ECONOMY_USERS,
  MEMORY_USERS,
  PROJECT_COUNT,
  project,
  seededRandom,
  zipf,
  type BenchUser,
  type ForgeCallStats,
} from './forge-model.js';
import type { Figures } from './load.js';

// The scenarios with a GitLab forge behind forgegate (the fake of the tests, 50 ms per
// answer, in its own process): the warm path of a GitLab token, forge economy, a stampede,
// cold latency and memory. Forge calls are counted from the fake's call log.

export const SERVICE = 'registry.bench';
const GRANTED = JSON.stringify(['pull', 'push']);

export const ECONOMY_REQUESTS = 20_000;
export const ECONOMY_CONCURRENCY = 50;
export const ZIPF_S = 1.1;
export const STAMPEDE_REQUESTS = 500;
export const MEMORY_REQUESTS = 100_000;
export const MEMORY_PROJECTS = 5;
/** Distinct projects per user: 2 keeps the scenario near a minute on 2 cores (each cold decision costs forgegate ms of CPU). */
export const MEMORY_PAIRS = 2;
export const MEMORY_CONCURRENCY = 50;
export const MEMORY_WAVE = 500;
const ROUND_TRIP_SAMPLES = 20;

// ---- the fake GitLab ----------------------------------------------------------------------

export interface FakeForge {
  /** The fake GitLab's base URL (forges[].url). */
  url: string;
  latencyMs: number;
  process: ServerProcess;
  stats(): Promise<ForgeCallStats>;
  reset(): Promise<void>;
}

export async function startFakeGitLab(modelFile: string): Promise<FakeForge> {
  const server = await startServer(['--import', 'tsx', 'bench/servers/fake-gitlab.ts', modelFile]);
  try {
    const { url, latencyMs } = (await (await fetch(`${server.url}/info`)).json()) as { url: string; latencyMs: number };
    return {
      url,
      latencyMs,
      process: server,
      stats: async () => (await fetch(`${server.url}/stats`)).json() as Promise<ForgeCallStats>,
      reset: async () => void (await (await fetch(`${server.url}/reset`, { method: 'POST' })).arrayBuffer()),
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/**
 * forgegate in front of the fake: the configuration of the issue, plus where to listen and keep
 * keys. `ttl`: cache.identityTtl and cache.decisionTtl, 60 s unless a process must stay warm longer.
 */
export function gitlabConfig(fakeUrl: string, redisUrl: string, keyDir: string, ttl = 60): unknown {
  return {
    server: { listen: '127.0.0.1:0' },
    token: { service: SERVICE, algorithm: 'ES256', keyDir },
    forges: [{ type: 'gitlab', url: fakeUrl }],
    cache: { redisUrl, identityTtl: ttl, decisionTtl: ttl },
  };
}

// ---- requests -----------------------------------------------------------------------------

export function tokenPath(image: string): string {
  return `/token?${new URLSearchParams({ service: SERVICE, scope: `repository:${image}:pull,push` })}`;
}

export function basicAuth(user: BenchUser): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user.username}:${user.token}`).toString('base64')}` };
}

interface Answer {
  status: number;
  body: string;
  ms: number;
}

/** One GET over a keep-alive agent (node:http, so that a scenario controls its connections). */
function get(agent: Agent, url: string, headers: Record<string, string>): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString(),
          ms: performance.now() - started,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Whether forgegate answered 200 with a token granting pull and push. */
function granted(answer: Answer): boolean {
  if (answer.status !== 200) return false;
  try {
    const { token } = JSON.parse(answer.body) as { token: string };
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
      access?: { actions?: string[] }[];
    };
    return JSON.stringify(claims.access?.[0]?.actions) === GRANTED;
  } catch {
    return false;
  }
}

async function tokenFor(agent: Agent, base: string, user: BenchUser, image: string): Promise<Answer & { ok: boolean }> {
  const answer = await get(agent, base + tokenPath(image), basicAuth(user)).catch((error: Error) => ({
    status: 0,
    body: error.message,
    ms: NaN,
  }));
  return { ...answer, ok: granted(answer) };
}

/** Runs `work` over `items` with at most `concurrency` at a time, in order of the items. */
async function pool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

function withAgent<T>(sockets: number, work: (agent: Agent) => Promise<T>): Promise<T> {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  return work(agent).finally(() => agent.destroy());
}

export function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}

// ---- Redis command counts -------------------------------------------------------------------

/** Calls per command since Redis started (INFO commandstats), over a bare socket; null if unreadable. */
export function redisCommandCalls(url: string): Promise<Record<string, number> | null> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    let reply = '';
    const finish = (calls: Record<string, number> | null) => (socket.destroy(), resolve(calls));
    socket.setTimeout(2_000, () => finish(null));
    socket.on('error', () => finish(null));
    socket.on('connect', () => socket.write('INFO commandstats\r\n'));
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      reply += chunk;
      const head = /^\$(\d+)\r\n/.exec(reply);
      if (reply.startsWith('-')) return finish(null);
      if (!head || reply.length < head[0].length + Number(head[1])) return;
      const calls: Record<string, number> = {};
      for (const match of reply.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]!] = Number(match[2]);
      finish(calls);
    });
  });
}

function commandsBetween(
  before: Record<string, number> | null,
  after: Record<string, number> | null,
): Record<string, number> | null {
  if (before === null || after === null) return null;
  const out: Record<string, number> = {};
  // INFO is the bench's own reading.
  for (const [command, calls] of Object.entries(after))
    if (command !== 'info' && calls > (before[command] ?? 0)) out[command] = calls - (before[command] ?? 0);
  return out;
}

// ---- scenarios ------------------------------------------------------------------------------

export interface WarmGitLab {
  figures: Figures;
  /** The same request at the steady rate. */
  steady: Figures;
  /** Forge calls during warm-up and measurement: 0 means every answer came from the cache. */
  forgeCalls: number;
  /** Redis commands per measured request, by command; null when INFO could not be read. */
  redisPerRequest: Record<string, number> | null;
}

/**
 * The warm path for a GitLab PAT (identity and decision cached, Redis configured): one request
 * fills the cache and must be granted; then the fake's call log starts afresh, so that any
 * forge call the measured load makes shows. Returns the request to measure.
 */
export async function prepareWarmGitLab(
  server: ServerProcess,
  fake: FakeForge,
  user: BenchUser,
): Promise<{ url: string; headers: Record<string, string> }> {
  const image = project(1);
  const first = await withAgent(1, (agent) => tokenFor(agent, server.url, user, image));
  if (!first.ok) throw new Error(`setup check failed for the GitLab PAT: HTTP ${first.status}: ${first.body}`);
  await fake.reset();
  return { url: server.url + tokenPath(image), headers: basicAuth(user) };
}

/** Redis commands per request between two INFO commandstats readings; null when either failed. */
export function redisPerRequest(
  before: Record<string, number> | null,
  after: Record<string, number> | null,
  requests: number,
): Record<string, number> | null {
  const commands = commandsBetween(before, after);
  return (
    commands &&
    Object.fromEntries(Object.entries(commands).map(([command, calls]) => [command, calls / Math.max(1, requests)]))
  );
}

/** p50 of one forge round trip as the bench sees it: GET /api/v4/user, sequential, keep-alive. */
export async function forgeRoundTrip(fake: FakeForge, user: BenchUser): Promise<number> {
  const times = await withAgent(1, async (agent) => {
    const out: number[] = [];
    for (let i = 0; i < ROUND_TRIP_SAMPLES + 3; i++) {
      const answer = await get(agent, `${fake.url}/api/v4/user`, { authorization: `Bearer ${user.token}` });
      if (answer.status !== 200)
        throw new Error(`fake GitLab answered GET /user with ${answer.status}: ${answer.body}`);
      if (i >= 3) out.push(answer.ms);
    }
    return out;
  });
  return percentile(
    times.sort((a, b) => a - b),
    0.5,
  );
}

export interface ColdLatency {
  samples: number;
  p50: number;
  p90: number;
  max: number;
  failures: number;
  calls: ForgeCallStats;
}

/** Tokens for users forgegate never saw, one at a time, after a few unmeasured ones. */
export async function coldLatency(
  server: ServerProcess,
  fake: FakeForge,
  warmup: BenchUser[],
  users: BenchUser[],
): Promise<ColdLatency> {
  return withAgent(1, async (agent) => {
    for (const [i, user] of warmup.entries()) await tokenFor(agent, server.url, user, project(PROJECT_COUNT - i));
    await fake.reset();
    const times: number[] = [];
    let failures = 0;
    for (const [i, user] of users.entries()) {
      const answer = await tokenFor(agent, server.url, user, project((i % PROJECT_COUNT) + 1));
      if (!answer.ok) failures++;
      times.push(answer.ms);
    }
    times.sort((a, b) => a - b);
    return {
      samples: users.length,
      p50: percentile(times, 0.5),
      p90: percentile(times, 0.9),
      max: times.at(-1)!,
      failures,
      calls: await fake.stats(),
    };
  });
}

export interface Stampede {
  requests: number;
  failures: number;
  /** From the first request sent to the last answer. */
  wallMs: number;
  calls: ForgeCallStats;
}

/**
 * The same cold request from STAMPEDE_REQUESTS connections at once. The connections are
 * opened first (GET /healthz on each), so the token requests leave within a few milliseconds.
 */
export async function stampede(server: ServerProcess, fake: FakeForge, user: BenchUser): Promise<Stampede> {
  return withAgent(STAMPEDE_REQUESTS, async (agent) => {
    const healthy = await Promise.all(
      Array.from({ length: STAMPEDE_REQUESTS }, () => get(agent, `${server.url}/healthz`, {})),
    );
    if (healthy.some((a) => a.status !== 200)) throw new Error('forgegate /healthz failed before the stampede');
    await fake.reset();
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: STAMPEDE_REQUESTS }, () => tokenFor(agent, server.url, user, project(2))),
    );
    const wallMs = performance.now() - started;
    return {
      requests: STAMPEDE_REQUESTS,
      failures: answers.filter((a) => !a.ok).length,
      wallMs,
      calls: await fake.stats(),
    };
  });
}

export interface Economy {
  requests: number;
  users: number;
  failures: number;
  distinctCredentials: number;
  distinctPairs: number;
  /** Distinct credentials plus distinct (user, project) pairs. */
  minimum: number;
  wallMs: number;
  calls: ForgeCallStats;
}

/** ECONOMY_REQUESTS token requests: users uniform, projects Zipf(ZIPF_S), in a seeded random order. */
export async function economy(server: ServerProcess, fake: FakeForge, users: BenchUser[]): Promise<Economy> {
  if (users.length !== ECONOMY_USERS) throw new Error(`economy needs ${ECONOMY_USERS} users`);
  const random = seededRandom(20_000);
  const popularity = zipf(PROJECT_COUNT, ZIPF_S, random);
  const plan = Array.from({ length: ECONOMY_REQUESTS }, () => ({
    user: users[Math.floor(random() * users.length)]!,
    image: project(popularity()),
  }));
  const distinctCredentials = new Set(plan.map((r) => r.user.token)).size;
  const distinctPairs = new Set(plan.map((r) => `${r.user.token} ${r.image}`)).size;
  await fake.reset();
  let failures = 0;
  const started = performance.now();
  await withAgent(ECONOMY_CONCURRENCY, (agent) =>
    pool(plan, ECONOMY_CONCURRENCY, async ({ user, image }) => {
      if (!(await tokenFor(agent, server.url, user, image)).ok) failures++;
    }),
  );
  const wallMs = performance.now() - started;
  return {
    requests: plan.length,
    users: users.length,
    failures,
    distinctCredentials,
    distinctPairs,
    minimum: distinctCredentials + distinctPairs,
    wallMs,
    calls: await fake.stats(),
  };
}

export interface Memory {
  requests: number;
  credentials: number;
  failures: number;
  wallMs: number;
  /** The longest time from a credential's first request to its last. */
  maxSpanMs: number;
  /** VmHWM and VmRSS of the forgegate process after the requests, MiB. */
  peakRssMiB: number;
  rssMiB: number;
  /** V8 heap in use and memory outside it (Buffers), MiB, from forgegate's /metrics; null if unreadable. */
  heapUsedMiB: number | null;
  externalMiB: number | null;
  /** V8 heap in use after the full GC of a heap snapshot: what the process really holds; null if not taken. */
  liveHeapMiB: number | null;
  calls: ForgeCallStats;
}

/**
 * MEMORY_REQUESTS over MEMORY_USERS credentials, MEMORY_REQUESTS / MEMORY_USERS per user. Users
 * come in waves of MEMORY_WAVE (seeded random order); a wave's requests are shuffled together,
 * and a user's k-th request asks for project (i + k) mod MEMORY_PAIRS among the first
 * MEMORY_PROJECTS, so every user ends with MEMORY_PAIRS cached decisions. Waves keep each
 * user's requests within seconds of each other, inside the TTL however long the run takes.
 */
export async function memory(
  server: ServerProcess,
  fake: FakeForge,
  users: BenchUser[],
  snapshotDir?: string,
): Promise<Memory> {
  if (users.length !== MEMORY_USERS) throw new Error(`memory needs ${MEMORY_USERS} users`);
  const random = seededRandom(100_000);
  const perUser = MEMORY_REQUESTS / users.length;
  const shuffle = <T>(items: T[]): T[] =>
    items
      .map((item) => ({ item, key: random() }))
      .sort((a, b) => a.key - b.key)
      .map(({ item }) => item);
  const plan: { user: BenchUser; image: string }[] = [];
  const order = shuffle(users.map((user, i) => ({ user, i })));
  for (let start = 0; start < order.length; start += MEMORY_WAVE) {
    const wave = order.slice(start, start + MEMORY_WAVE).flatMap(({ user, i }) =>
      Array.from({ length: perUser }, (_, k) => ({
        user,
        image: project((((i + k) % MEMORY_PAIRS) % MEMORY_PROJECTS) + 1),
      })),
    );
    plan.push(...shuffle(wave));
  }
  await fake.reset();
  let failures = 0;
  const spans = new Map<string, { first: number; last: number }>();
  const started = performance.now();
  await withAgent(MEMORY_CONCURRENCY, (agent) =>
    pool(plan, MEMORY_CONCURRENCY, async ({ user, image }) => {
      const now = performance.now();
      const span = spans.get(user.token);
      if (span) span.last = now;
      else spans.set(user.token, { first: now, last: now });
      if (!(await tokenFor(agent, server.url, user, image)).ok) failures++;
    }),
  );
  const maxSpanMs = Math.max(...[...spans.values()].map((span) => span.last - span.first));
  const wallMs = performance.now() - started;
  const calls = await fake.stats();
  const peakRssMiB = server.peakRssMiB();
  const rssMiB = server.rssMiB();
  const heap = await heapFigures(server);
  const liveHeapMiB = snapshotDir === undefined ? null : await liveHeap(server, snapshotDir);
  return {
    requests: plan.length,
    credentials: users.length,
    failures,
    wallMs,
    maxSpanMs,
    peakRssMiB,
    rssMiB,
    ...heap,
    liveHeapMiB,
    calls,
  };
}

async function heapFigures(server: ServerProcess): Promise<{ heapUsedMiB: number | null; externalMiB: number | null }> {
  const metrics = await fetch(`${server.url}/metrics`)
    .then((r) => r.text())
    .catch(() => '');
  const gauge = (name: string) => {
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics);
    return match ? Number(match[1]) / 1024 / 1024 : null;
  };
  return { heapUsedMiB: gauge('nodejs_heap_size_used_bytes'), externalMiB: gauge('nodejs_external_memory_bytes') };
}

/**
 * Signals forgegate (started with --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=snapshotDir)
 * to write a heap snapshot, which collects all garbage first, then reads the heap in use. The
 * snapshot is written synchronously, so /metrics answers only once it is done. The snapshot
 * itself is deleted; it raises RSS, so peak RSS must be read before.
 */
async function liveHeap(server: ServerProcess, snapshotDir: string): Promise<number | null> {
  process.kill(server.pid, 'SIGUSR2');
  const snapshots = async () =>
    (await readdir(snapshotDir).catch(() => [])).filter((name) => name.endsWith('.heapsnapshot'));
  for (let waited = 0; (await snapshots()).length === 0; waited += 100) {
    if (waited > 30_000) return null;
    await sleep(100);
  }
  const { heapUsedMiB } = await heapFigures(server);
  await rm(snapshotDir, { recursive: true, force: true });
  return heapUsedMiB;
}
