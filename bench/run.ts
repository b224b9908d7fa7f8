import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { startServer, type ServerProcess } from './child.js';
import { machineCpuSeconds, processCpuSeconds } from './cpu.js';
import { measure } from './load.js';
import { renderMarkdown, renderText, type Results } from './report.js';

// `npm run bench`: warm-path throughput and latency of the token endpoint against a bare Koa
// server, ES256 vs RS256, anonymous requests, and peak memory. It reports; it never fails on
// a missed goal. forgegate runs as `node dist/cli.js serve`, so `npm run bench` builds first.

const SERVICE = 'registry.bench';
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
    anonymous: es256.anonymous,
    rssMiB: { es256: es256.rssMiB, rs256: rs256.rssMiB, bare: bare.rssMiB },
    foreignCpuShare: Math.max(0, machine.busy - started.machine.busy - ours) / capacity,
    stolenCpuShare: (machine.stolen - started.machine.stolen) / capacity,
  };
  console.log(renderText(results));
  await writeFile(new URL('../BENCHMARKS.md', import.meta.url), renderMarkdown(results));
  console.log('wrote BENCHMARKS.md');
}

await main();
