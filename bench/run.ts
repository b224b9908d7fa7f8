import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { startRedis } from '../test/support/redis.js';
import { startServer, type ServerProcess } from './child.js';
import { machineCpuSeconds, processCpuSeconds } from './cpu.js';
import { createModel } from './forge-model.js';
import { coldLatency, economy, forgeRoundTrip, gitlabConfig, memory, SERVICE, stampede, startFakeGitLab, warmGitLab, type FakeForge } from './forge-scenarios.js';
import { measure } from './load.js';
import { renderMarkdown, renderText, type ForgeResults, type Results } from './report.js';

// `npm run bench`: warm-path throughput and latency of the token endpoint against a bare Koa
// server, ES256 vs RS256, anonymous requests, and peak memory; then, with a real Redis and a
// fake GitLab answering in 50 ms, a GitLab token's warm path, forge economy, a stampede, cold
// latency and memory over many credentials (bench/forge-scenarios.ts). It reports; it never
// fails on a missed goal. forgegate runs as `node dist/cli.js serve`, so `npm run bench` builds first.

/** The V8 flag of the memory-optimized start-up (docs/configuration.md, Memory). */
const SMALL_HEAP = '--optimize-for-size';
const USER = 'ci-bench';
const PASSWORD = randomBytes(18).toString('base64url');
const TOKEN_PATH = `/token?${new URLSearchParams({ service: SERVICE, scope: 'repository:bench/app:pull,push' })}`;
const BASIC = { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };

const dir = await mkdtemp(join(tmpdir(), 'forgegate-bench-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
process.on('SIGINT', () => process.exit(130)); // so the exit handlers above and in child.ts run

/** Writes a configuration file (JSON is YAML) and returns the arguments that serve it. */
async function forgegate(algorithm: 'ES256' | 'RS256'): Promise<string[]> {
  const file = join(dir, `forgegate-${algorithm}.yaml`);
  const config = {
    server: { listen: '127.0.0.1:0' },
    token: { service: SERVICE, algorithm, keyDir: join(dir, `keys-${algorithm}`) },
    users: { htpasswd: join(dir, 'htpasswd') },
    acl: [
      { account: USER, name: 'bench/**', actions: ['pull', 'push'] },
      { account: '', name: 'bench/**', actions: ['pull'] },
    ],
    forges: [],
  };
  await writeFile(file, JSON.stringify(config));
  return ['dist/cli.js', 'serve', '--config', file];
}

/** forgegate in front of the fake GitLab and Redis. */
async function gitlabForgegate(name: string, fake: FakeForge, redisUrl: string): Promise<string[]> {
  const file = join(dir, `forgegate-${name}.yaml`);
  await writeFile(file, JSON.stringify(gitlabConfig(fake.url, redisUrl, join(dir, `keys-${name}`))));
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

/** Runs `work` against a fresh server process, then reads its peak RSS and stops it. */
async function withServer<T>(args: string[], work: (server: ServerProcess) => Promise<T>): Promise<T & { rssMiB: number }> {
  const server = await startServer(args);
  try {
    const result = await work(server);
    serverCpuSeconds += server.cpuSeconds();
    return { ...result, rssMiB: server.peakRssMiB() };
  } finally {
    await server.stop();
  }
}

// One request before the load: it fails loudly if the setup is wrong, and it pays the bcrypt
// check so that the measured requests are the warm path.
async function checkToken(url: string, headers: Record<string, string>, actions: string[]): Promise<void> {
  const response = await fetch(url + TOKEN_PATH, { headers });
  const body = (await response.json()) as { token?: string };
  const claims = body.token ? JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString()) : undefined;
  const granted = claims?.access?.[0]?.actions;
  if (response.status !== 200 || JSON.stringify(granted) !== JSON.stringify(actions)) {
    throw new Error(`setup check failed: HTTP ${response.status}, granted ${JSON.stringify(granted)}, expected ${JSON.stringify(actions)}: ${JSON.stringify(body)}`);
  }
}

async function main(): Promise<void> {
  const started = { wall: performance.now(), machine: machineCpuSeconds(), bench: processCpuSeconds(process.pid) };
  await writeFile(join(dir, 'htpasswd'), `${USER}:${await bcrypt.hash(PASSWORD, 10)}\n`, { mode: 0o600 });

  console.error('measuring bare Koa ...');
  const bare = await withServer(['bench/servers/koa-hello.mjs'], async (s) => ({ figures: await measure(s.url) }));

  console.error('measuring forgegate ES256 (static account, then anonymous) ...');
  const es256 = await withServer(await forgegate('ES256'), async (s) => {
    await checkToken(s.url, BASIC, ['pull', 'push']);
    const figures = await measure(s.url + TOKEN_PATH, BASIC);
    await checkToken(s.url, {}, ['pull']);
    return { figures, anonymous: await measure(s.url + TOKEN_PATH) };
  });

  console.error('measuring forgegate RS256 (static account) ...');
  const rs256 = await withServer(await forgegate('RS256'), async (s) => {
    await checkToken(s.url, BASIC, ['pull', 'push']);
    return { figures: await measure(s.url + TOKEN_PATH, BASIC) };
  });

  // The memory-optimized start-up (docs: node --optimize-for-size): its cost on the warm path.
  console.error('measuring forgegate ES256 (static account) under node --optimize-for-size ...');
  const es256Small = await withServer([SMALL_HEAP, ...(await forgegate('ES256'))], async (s) => {
    await checkToken(s.url, BASIC, ['pull', 'push']);
    return { figures: await measure(s.url + TOKEN_PATH, BASIC) };
  });

  const forge = await forgeScenarios();

  const wallSeconds = (performance.now() - started.wall) / 1000;
  const ours = processCpuSeconds(process.pid) - started.bench + serverCpuSeconds;
  const machine = machineCpuSeconds();
  const capacity = wallSeconds * availableParallelism();
  const results: Results = {
    date: new Date(),
    node: process.version,
    cores: availableParallelism(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    bare: bare.figures,
    es256: es256.figures,
    rs256: rs256.figures,
    es256Small: es256Small.figures,
    anonymous: es256.anonymous,
    forge,
    rssMiB: { es256: es256.rssMiB, rs256: rs256.rssMiB, bare: bare.rssMiB },
    foreignCpuShare: Math.max(0, machine.busy - started.machine.busy - ours) / capacity,
    stolenCpuShare: (machine.stolen - started.machine.stolen) / capacity,
  };
  console.log(renderText(results));
  await writeFile(new URL('../BENCHMARKS.md', import.meta.url), renderMarkdown(results));
  console.log('wrote BENCHMARKS.md');
}

async function forgeScenarios(): Promise<ForgeResults> {
  console.error('starting Redis and the fake GitLab ...');
  const { model, users } = createModel();
  const modelFile = join(dir, 'gitlab-model.json');
  await writeFile(modelFile, JSON.stringify(model));
  const redis = await startRedis();
  const redisPids = childPids('redis-server');
  try {
    const fake = await startFakeGitLab(modelFile);
    try {
      console.error('measuring forgegate with GitLab: warm path (GitLab PAT), cold latency, stampede, economy ...');
      const scenarios = await withServer(await gitlabForgegate('gitlab', fake, redis.url), async (s) => {
        const warm = await warmGitLab(s, fake, redis.url, users.warm);
        const roundTripMs = await forgeRoundTrip(fake, users.warm);
        const cold = await coldLatency(s, fake, users.coldWarmup, users.cold);
        const crowd = await stampede(s, fake, users.stampede);
        return { warm, roundTripMs, cold, stampede: crowd, economy: await economy(s, fake, users.economy) };
      });
      console.error('measuring forgegate memory over many credentials ...');
      // Started so that a signal makes it write a heap snapshot (after the figures are read): its full GC tells live data from garbage.
      const snapshots = join(dir, 'heap');
      await mkdir(snapshots);
      const args = ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshots}`, ...(await gitlabForgegate('memory', fake, redis.url))];
      const { memory: mem } = await withServer(args, async (s) => ({ memory: await memory(s, fake, users.memory, snapshots) }));
      console.error('measuring forgegate memory over many credentials under node --optimize-for-size ...');
      const small = await withServer([SMALL_HEAP, ...(await gitlabForgegate('memory-small', fake, redis.url))], async (s) => ({ memory: await memory(s, fake, users.memory) }));
      const { rssMiB, ...rest } = scenarios;
      return { ...rest, memory: mem, memorySmall: small.memory, rssMiB };
    } finally {
      serverCpuSeconds += fake.process.cpuSeconds();
      await fake.process.stop();
    }
  } finally {
    for (const pid of redisPids) serverCpuSeconds += processCpuSeconds(pid);
    await redis.stop();
  }
}

await main();
