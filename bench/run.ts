import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { startRedis } from '../test/support/redis.js';
import { startServer, type ServerProcess } from './child.js';
import { coldCacheCosts } from './cold-cache.js';
import { machineCpuSeconds, processCpuSeconds } from './cpu.js';
import { createModel } from './forge-model.js';
import {
  coldLatency,
  economy,
  forgeRoundTrip,
  gitlabConfig,
  memory,
  prepareWarmGitLab,
  redisCommandCalls,
  redisPerRequest,
  SERVICE,
  stampede,
  startFakeGitLab,
  type FakeForge,
  type WarmGitLab,
} from './forge-scenarios.js';
import {
  measure,
  median,
  prepareTools,
  ROUNDS,
  LATENCY_ROUNDS,
  serverPin,
  unpin,
  warmUp,
  type Figures,
  type LoadKind,
} from './load.js';
import { renderMarkdown, renderText, WARM_TTL_SECONDS, type ForgeResults, type Results } from './report.js';

// `npm run bench`: the warm path of the token endpoint next to what signing alone costs (a
// minimal Koa app signing the same token with node:crypto, and with jose), at full load and at a
// steady rate, pinned (servers on CPU 0, load generators on CPU 1: bench/load.ts); ES256 and
// RS256, anonymous requests; then, with a real Redis and a fake GitLab answering in 50 ms, a
// GitLab token's warm path, forge economy, a stampede, cold latency and memory over many
// credentials (bench/forge-scenarios.ts). It reports; it never fails on a missed goal.
// forgegate runs as `node dist/cli.js serve`, so `npm run bench` builds first.

/** The node:crypto floor's server; arguments add a busy-wait per request and group its signatures. */
const NODE_FLOOR = 'bench/servers/koa-node-crypto.mjs';
const USER = 'ci-bench';
const PASSWORD = randomBytes(18).toString('base64url');
const TOKEN_PATH = `/token?${new URLSearchParams({ service: SERVICE, scope: 'repository:bench/app:pull,push' })}`;
const BASIC = { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const dir = await mkdtemp(join(tmpdir(), 'forgegate-bench-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
process.on('SIGINT', () => process.exit(130)); // so the exit handlers above and in child.ts run

/** Writes a configuration file (JSON is YAML), creates its key, and returns the arguments that serve it. */
async function forgegate(algorithm: 'ES256' | 'RS256'): Promise<{ args: string[]; keyDir: string }> {
  const file = join(dir, `forgegate-${algorithm}.yaml`);
  const keyDir = join(dir, `keys-${algorithm}`);
  const config = {
    server: { listen: '127.0.0.1:0' },
    token: { service: SERVICE, algorithm, keyDir },
    users: { htpasswd: join(dir, 'htpasswd') },
    acl: [
      { account: USER, name: 'bench/**', actions: ['pull', 'push'] },
      { account: '', name: 'bench/**', actions: ['pull'] },
    ],
    forges: [],
    // Longer than every measurement of the process: the verified account stays cached throughout.
    cache: { identityTtl: WARM_TTL_SECONDS },
  };
  await writeFile(file, JSON.stringify(config));
  generateKey(file);
  return { args: ['dist/cli.js', 'serve', '--config', file], keyDir };
}

/**
 * The key exists before a measured server starts, as on every start but a server's first: the
 * floors need it, and a server that makes its key loads the certificate code for good.
 */
function generateKey(configFile: string): void {
  execFileSync(process.execPath, ['dist/cli.js', 'keys', 'generate', '--config', configFile], {
    cwd: ROOT,
    stdio: 'ignore',
  });
}

/** forgegate in front of the fake GitLab and Redis. */
async function gitlabForgegate(name: string, fake: FakeForge, redisUrl: string, ttl?: number): Promise<string[]> {
  const file = join(dir, `forgegate-${name}.yaml`);
  await writeFile(file, JSON.stringify(gitlabConfig(fake.url, redisUrl, join(dir, `keys-${name}`), ttl)));
  generateKey(file);
  return ['dist/cli.js', 'serve', '--config', file];
}

/** Our own children named `command` (redis-server, which test/support/redis.ts starts without telling its pid). */
function childPids(command: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.includes(`(${command})`) && Number(stat.split(') ')[1]!.split(' ')[1]) === process.pid;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

let serverCpuSeconds = 0;
const running: ServerProcess[] = [];

/** A server under test, pinned when the bench pins; stopped at the end (or by stopServer). */
async function start(args: string[]): Promise<ServerProcess> {
  const server = await startServer(args, serverPin());
  running.push(server);
  return server;
}

/** Stops a server, adding up its CPU time, and returns its peak RSS. */
async function stopServer(server: ServerProcess): Promise<number> {
  const rss = server.peakRssMiB();
  serverCpuSeconds += server.cpuSeconds();
  await server.stop();
  running.splice(running.indexOf(server), 1);
  return rss;
}

// One request before the load: it fails loudly if the setup is wrong, and it pays the bcrypt
// check so that the measured requests are the warm path. Returns the token's header.
async function checkToken(
  url: string,
  headers: Record<string, string>,
  actions: string[],
): Promise<Record<string, unknown>> {
  const response = await fetch(url + TOKEN_PATH, { headers });
  const body = (await response.json()) as { token?: string };
  const [header, claims] = (body.token ?? '..')
    .split('.')
    .slice(0, 2)
    .map((part) => (part ? JSON.parse(Buffer.from(part, 'base64url').toString()) : undefined));
  const granted = claims?.access?.[0]?.actions;
  if (response.status !== 200 || JSON.stringify(granted) !== JSON.stringify(actions)) {
    throw new Error(
      `setup check failed: HTTP ${response.status}, granted ${JSON.stringify(granted)}, expected ${JSON.stringify(actions)}: ${JSON.stringify(body)}`,
    );
  }
  return header as Record<string, unknown>;
}

/** A floor must sign what forgegate signs: the same header (alg, kid, x5c), hence the same key. */
function sameHeader(floor: Record<string, unknown>, ours: Record<string, unknown>, name: string): void {
  if (JSON.stringify(floor) !== JSON.stringify(ours))
    throw new Error(`${name} signs with another header: ${JSON.stringify(floor)} vs ${JSON.stringify(ours)}`);
}

/**
 * One row of the warm-path tables: a request against a server, as fast as it answers (req/s by
 * wrk, latencies by hey: bench/load.ts says why) or at the steady rate.
 */
interface Row {
  key: string;
  server: ServerProcess;
  url: string;
  headers: Record<string, string>;
  kind: LoadKind;
}

/**
 * Every row in turn, ROUNDS times (the rows timing latencies LATENCY_ROUNDS), after one warm-up per
 * request: the rows of a round see about the same machine, and the median of each row's rounds
 * is what the report shows.
 */
async function measureRows(rows: Row[]): Promise<Record<string, Figures>> {
  const warmed = new Set<string>();
  for (const row of rows) {
    const id = `${row.server.pid} ${row.url} ${JSON.stringify(row.headers)}`;
    if (warmed.has(id)) continue;
    warmed.add(id);
    console.error(`warming up ${row.key} ...`);
    await warmUp(row.url, row.headers);
  }
  const rounds: Record<string, Figures[]> = Object.fromEntries(rows.map((row) => [row.key, []]));
  const turns = (row: Row) => (row.kind === 'saturate' ? ROUNDS : LATENCY_ROUNDS);
  const last = Math.max(...rows.map(turns));
  for (let round = 1; round <= last; round++) {
    const due = rows.filter((row) => round <= turns(row));
    console.error(`round ${round} of ${last}: ${due.length} rows ...`);
    for (const row of due) rounds[row.key]!.push(await measure(row.kind, row.server, row.url, row.headers));
  }
  return Object.fromEntries(Object.entries(rounds).map(([key, figures]) => [key, median(figures)]));
}

async function main(): Promise<void> {
  const loadTools = prepareTools();
  console.error('timing steps of the warm path with the CPU caches swept ...');
  const coldCache = coldCacheCosts();
  const started = { wall: performance.now(), machine: machineCpuSeconds(), bench: processCpuSeconds(process.pid) };
  await writeFile(join(dir, 'htpasswd'), `${USER}:${await bcrypt.hash(PASSWORD, 10)}\n`, { mode: 0o600 });
  const es = await forgegate('ES256');
  const rs = await forgegate('RS256');

  console.error('starting Redis, the fake GitLab and the servers under test ...');
  const { model, users } = createModel();
  const modelFile = join(dir, 'gitlab-model.json');
  await writeFile(modelFile, JSON.stringify(model));
  const redis = await startRedis();
  const redisPids = childPids('redis-server');
  const fake = await startFakeGitLab(modelFile);
  try {
    const bare = await start(['bench/servers/koa-hello.mjs']);
    const es256 = await start(es.args);
    const header = await checkToken(es256.url, BASIC, ['pull', 'push']);
    await checkToken(es256.url, {}, ['pull']);
    const rs256 = await start(rs.args);
    const rsHeader = await checkToken(rs256.url, BASIC, ['pull', 'push']);
    const floor = async (
      name: string,
      script: string,
      keyDir: string,
      expected: Record<string, unknown>,
      ...extra: string[]
    ) => {
      const server = await start([script, keyDir, ...extra]);
      sameHeader(await checkToken(server.url, BASIC, ['pull', 'push']), expected, name);
      return server;
    };
    const nodeFloor = await floor('node:crypto floor', NODE_FLOOR, es.keyDir, header);
    const groupedFloor = await floor('grouped node:crypto floor', NODE_FLOOR, es.keyDir, header, '0', 'grouped');
    const joseFloor = await floor('jose floor', 'bench/servers/koa-jose.mjs', es.keyDir, header);
    const nodeFloorRs = await floor('node:crypto RS256 floor', NODE_FLOOR, rs.keyDir, rsHeader);
    const gitlab = await start(await gitlabForgegate('gitlab', fake, redis.url, WARM_TTL_SECONDS));
    const warmGitLab = await prepareWarmGitLab(gitlab, fake, users.warm);

    const token = (server: ServerProcess, headers: Record<string, string> = BASIC) => ({
      server,
      url: server.url + TOKEN_PATH,
      headers,
    });
    const rows: Row[] = [
      { key: 'bare', server: bare, url: bare.url, headers: {}, kind: 'saturate' },
      { key: 'nodeFloor', ...token(nodeFloor), kind: 'saturate' },
      { key: 'groupedFloor', ...token(groupedFloor), kind: 'saturate' },
      { key: 'joseFloor', ...token(joseFloor), kind: 'saturate' },
      { key: 'es256', ...token(es256), kind: 'saturate' },
      { key: 'gitlab', server: gitlab, ...warmGitLab, kind: 'saturate' },
      { key: 'anonymous', ...token(es256, {}), kind: 'saturate' },
      { key: 'nodeFloorRs', ...token(nodeFloorRs), kind: 'saturate' },
      { key: 'rs256', ...token(rs256), kind: 'saturate' },
      { key: 'latencyJoseFloor', ...token(joseFloor), kind: 'latency' },
      { key: 'latencyEs256', ...token(es256), kind: 'latency' },
      { key: 'latencyGitlab', server: gitlab, ...warmGitLab, kind: 'latency' },
      { key: 'steadyNodeFloor', ...token(nodeFloor), kind: 'steady' },
      { key: 'steadyJoseFloor', ...token(joseFloor), kind: 'steady' },
      { key: 'steadyEs256', ...token(es256), kind: 'steady' },
      { key: 'steadyGitlab', server: gitlab, ...warmGitLab, kind: 'steady' },
    ];
    const redisBefore = await redisCommandCalls(redis.url);
    const figures = await measureRows(rows);
    // The grouped node:crypto floor again, busy-waiting forgegate's own CPU per request (static
    // account): whatever of forgegate's latencies this floor shows too follows from the CPU per request.
    const busyUs = Math.max(0, figures.es256!.cpuUs - figures.groupedFloor!.cpuUs);
    const paddedFloor = await floor('padded floor', NODE_FLOOR, es.keyDir, header, busyUs.toFixed(1), 'grouped');
    const paddedFigures = await measureRows([
      { key: 'saturate', ...token(paddedFloor), kind: 'saturate' },
      { key: 'latency', ...token(paddedFloor), kind: 'latency' },
      { key: 'steady', ...token(paddedFloor), kind: 'steady' },
    ]);
    await stopServer(paddedFloor);
    const gitlabRequests = figures.gitlab!.requests + figures.latencyGitlab!.requests + figures.steadyGitlab!.requests;
    const warm = {
      figures: figures.gitlab!,
      steady: figures.steadyGitlab!,
      forgeCalls: (await fake.stats()).total,
      redisPerRequest: redisPerRequest(redisBefore, await redisCommandCalls(redis.url), gitlabRequests),
    };
    const rssMiB = {
      bare: await stopServer(bare),
      nodeFloor: await stopServer(nodeFloor),
      es256: await stopServer(es256),
      rs256: await stopServer(rs256),
    };
    for (const server of [groupedFloor, joseFloor, nodeFloorRs]) await stopServer(server);

    const forge = await forgeScenarios(gitlab, fake, redis.url, users, warm);

    const wallSeconds = (performance.now() - started.wall) / 1000;
    for (const pid of redisPids) serverCpuSeconds += processCpuSeconds(pid);
    serverCpuSeconds += fake.process.cpuSeconds();
    const ours = processCpuSeconds(process.pid) - started.bench + serverCpuSeconds;
    const machine = machineCpuSeconds();
    const capacity = wallSeconds * availableParallelism();
    const results: Results = {
      date: new Date(),
      node: process.version,
      cores: availableParallelism(),
      cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
      tools: loadTools,
      bare: figures.bare!,
      nodeFloor: figures.nodeFloor!,
      groupedFloor: figures.groupedFloor!,
      joseFloor: figures.joseFloor!,
      nodeFloorRs: figures.nodeFloorRs!,
      es256: figures.es256!,
      rs256: figures.rs256!,
      anonymous: figures.anonymous!,
      latency: {
        joseFloor: figures.latencyJoseFloor!,
        es256: figures.latencyEs256!,
        gitlab: figures.latencyGitlab!,
      },
      steady: {
        nodeFloor: figures.steadyNodeFloor!,
        joseFloor: figures.steadyJoseFloor!,
        es256: figures.steadyEs256!,
        gitlab: figures.steadyGitlab!,
      },
      coldCache,
      padded: {
        busyUs,
        saturate: paddedFigures.saturate!,
        latency: paddedFigures.latency!,
        steady: paddedFigures.steady!,
      },
      forge,
      rssMiB,
      foreignCpuShare: Math.max(0, machine.busy - started.machine.busy - ours) / capacity,
      stolenCpuShare: (machine.stolen - started.machine.stolen) / capacity,
    };
    console.log(renderText(results));
    await writeFile(new URL('../BENCHMARKS.md', import.meta.url), renderMarkdown(results));
    console.log('wrote BENCHMARKS.md');
  } finally {
    for (const server of [...running]) await stopServer(server);
    await fake.process.stop();
    await redis.stop();
  }
}

/** Forge economy, stampede and cold latency on the GitLab process of the warm path; memory on a fresh one. */
async function forgeScenarios(
  gitlab: ServerProcess,
  fake: FakeForge,
  redisUrl: string,
  users: ReturnType<typeof createModel>['users'],
  warm: WarmGitLab,
): Promise<ForgeResults> {
  // These are about forge calls and their latency, not forgegate's CPU: every CPU again.
  unpin(gitlab.pid);
  console.error('measuring forgegate with GitLab: cold latency, stampede, economy ...');
  const roundTripMs = await forgeRoundTrip(fake, users.warm);
  const cold = await coldLatency(gitlab, fake, users.coldWarmup, users.cold);
  const crowd = await stampede(gitlab, fake, users.stampede);
  const economics = await economy(gitlab, fake, users.economy);
  const rssMiB = await stopServer(gitlab);

  console.error('measuring forgegate memory over many credentials ...');
  // Started so that a signal makes it write a heap snapshot (after the figures are read): its full GC tells live data from garbage.
  const snapshots = join(dir, 'heap');
  await mkdir(snapshots);
  const server = await start([
    '--heapsnapshot-signal=SIGUSR2',
    `--diagnostic-dir=${snapshots}`,
    ...(await gitlabForgegate('memory', fake, redisUrl)),
  ]);
  unpin(server.pid);
  const mem = await memory(server, fake, users.memory, snapshots);
  await stopServer(server);
  return { warm, roundTripMs, cold, stampede: crowd, economy: economics, memory: mem, rssMiB };
}

await main();
