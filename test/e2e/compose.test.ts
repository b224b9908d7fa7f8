import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { get as httpsGet, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { Redis } from 'ioredis';
import { parse } from 'yaml';
import { startForgegateProcess, type ForgegateProcess } from '../support/forgegate-process.js';
import { buildOciImage } from '../support/oci-image.js';
import { freePort, onFreePort } from '../support/ports.js';
import { makeTempDir, spawnManaged, waitUntilReady, type ManagedProcess } from '../support/processes.js';
import { loopbackRedisArgs } from '../support/redis.js';
import { copy } from '../support/skopeo.js';

// docker-compose.yml and every file it mounts, read by the real programs that read them in
// the stack: docker-compose (the compose file), `forgegate check`, docker-registry 2.8 and
// Caddy. No container engine runs here, so the last test runs the same stack on loopback,
// with only host names and ports rewritten, and pushes an image through Caddy's TLS.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist/cli.js');
const HEALTHCHECK_NOTE = 'the compose healthcheck is the Dockerfile HEALTHCHECK';

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
}
interface Compose {
  services: Record<string, Service>;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, timeout: 60_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr: error !== null && code === -1 ? `${stderr}\n${error.message}` : stderr });
    });
  });
}

/** A clean environment: nothing from the developer's shell (REGISTRY_HOST, REGISTRY_*) leaks in. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp', ...extra };
}

/** The host file bind-mounted at `target` in `service`. */
function mountSource(service: Service, target: string): string {
  const mount = (service.volumes ?? []).map((v) => v.split(':')).find(([, to]) => to === target);
  assert.ok(mount, `a volume is mounted at ${target}`);
  return mount[0]!;
}

/** The one setting the stack requires (docker-compose.yml): Redis's password. */
const REDIS_PASSWORD = 'compose-test-redis-password';

async function composeConfig(env: Record<string, string> = {}): Promise<Compose> {
  const result = await run(
    'docker-compose',
    ['-f', join(ROOT, 'docker-compose.yml'), 'config'],
    cleanEnv({ REDIS_PASSWORD, ...env }),
  );
  assert.equal(result.code, 0, `docker-compose config failed: ${result.stderr}`);
  return parse(result.stdout) as Compose;
}

/** deploy/compose/registry.yml with storage, address and certificate moved into `dir`. */
async function registryConfig(dir: string, addr: string, certificate: string): Promise<string> {
  const config = parse(await readFile(join(ROOT, 'deploy/compose/registry.yml'), 'utf8')) as Record<string, any>;
  config.storage.filesystem.rootdirectory = join(dir, 'storage');
  config.http.addr = addr;
  config.http.secret = 'compose-test';
  config.auth.token.rootcertbundle = certificate;
  const path = join(dir, 'config.yml');
  await writeFile(path, JSON.stringify(config));
  return path;
}

/** docker-registry as the compose service runs it: its REGISTRY_* environment, nothing else. */
async function startRegistry(configPath: string, url: string, env: Record<string, string>): Promise<ManagedProcess> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('REGISTRY_')));
  const proc = spawnManaged('docker-registry', ['serve', configPath], { cwd: ROOT, env: { ...inherited, ...env } });
  await waitUntilReady(
    'docker-registry',
    proc,
    async () => (await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) })).status === 401,
  );
  return proc;
}

describe('docker-compose.yml', () => {
  let compose: Compose;
  const stops: (() => Promise<void>)[] = [];
  before(async () => {
    compose = await composeConfig();
  });
  after(async () => {
    for (const stop of stops.reverse()) await stop();
  });

  test('docker-compose parses it; images are pinned; every mounted file is in the repository', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['forgegate', 'proxy', 'redis', 'registry']);
    for (const [name, service] of Object.entries(compose.services)) {
      assert.ok(service.image, `service ${name} names an image`);
      assert.match(
        service.image,
        /:\d+\.\d+\.\d+(-[a-z0-9.]+)?$/,
        `service ${name}: image ${service.image} is pinned to an exact version`,
      );
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('/')) assert.ok(existsSync(source), `service ${name} mounts ${source}, which exists`);
      }
    }
    assert.match(compose.services.registry!.image!, /^registry:2\.8\./);
    assert.match(compose.services.redis!.image!, /^redis:7\.\d+\.\d+-alpine$/);
  });

  test('Redis requires a password, forgegate uses it, and the stack does not start without one', async () => {
    const { redis, forgegate } = compose.services;
    assert.deepEqual(redis!.command!.slice(0, 3), ['redis-server', '--requirepass', REDIS_PASSWORD]);
    assert.equal(redis!.environment!.REDISCLI_AUTH, REDIS_PASSWORD, 'the healthcheck authenticates');
    assert.equal(forgegate!.environment!.REDIS_PASSWORD, REDIS_PASSWORD);
    const forgegateYaml = parse(await readFile(mountSource(forgegate!, '/config/forgegate.yaml'), 'utf8')) as Record<
      string,
      any
    >;
    assert.equal(forgegateYaml.cache.redisUrl, 'redis://:${REDIS_PASSWORD}@redis:6379/0');
    const without = await run('docker-compose', ['-f', join(ROOT, 'docker-compose.yml'), 'config'], cleanEnv());
    assert.notEqual(without.code, 0, 'docker-compose refuses the stack without REDIS_PASSWORD');
    assert.match(without.stderr, /set REDIS_PASSWORD/);
  });

  test('the compose healthcheck is the Dockerfile HEALTHCHECK', async () => {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const line = /^HEALTHCHECK .*\\\n\s+CMD (\[.*\])$/m.exec(dockerfile);
    assert.ok(line, 'the Dockerfile has an exec-form HEALTHCHECK');
    assert.deepEqual(
      ['CMD', ...(JSON.parse(line[1]!) as string[])],
      compose.services.forgegate!.healthcheck!.test,
      HEALTHCHECK_NOTE,
    );
  });

  test('forgegate check --offline accepts the mounted forgegate.yaml with the compose environment', async () => {
    const forgegate = compose.services.forgegate!;
    const dir = await makeTempDir('compose-check');
    const text = (await readFile(mountSource(forgegate, '/config/forgegate.yaml'), 'utf8'))
      .replace('/config/htpasswd', mountSource(forgegate, '/config/htpasswd'))
      .replace('/data/keys', join(dir, 'keys'));
    await writeFile(join(dir, 'forgegate.yaml'), text);
    const result = await run(
      process.execPath,
      [CLI, 'check', '--offline', '--config', join(dir, 'forgegate.yaml')],
      cleanEnv(forgegate.environment),
    );
    assert.equal(result.code, 0, `forgegate check: ${result.stderr}`);
    assert.match(result.stdout, /ok: htpasswd .* is readable/);
    assert.match(result.stdout, /ok: all checks passed/);
  });

  test('docker-registry 2.8 serves the mounted registry.yml: 401 naming the realm and service of forgegate', async () => {
    const registry = compose.services.registry!;
    const forgegateConfig = parse(
      await readFile(mountSource(compose.services.forgegate!, '/config/forgegate.yaml'), 'utf8'),
    ) as Record<string, any>;
    const registryYml = parse(
      await readFile(mountSource(registry, '/etc/docker/registry/config.yml'), 'utf8'),
    ) as Record<string, any>;
    assert.equal(
      registryYml.auth.token.issuer,
      forgegateConfig.token.issuer,
      'registry and forgegate agree on the issuer',
    );
    assert.equal(
      registryYml.auth.token.service,
      forgegateConfig.token.service,
      'registry and forgegate agree on the service',
    );
    assert.equal(registryYml.auth.token.rootcertbundle, '/certs/forgegate/cert.pem');
    assert.ok(
      registry.volumes!.includes('forgegate-keys:/certs/forgegate:ro'),
      'the registry mounts forgegate keys read-only',
    );
    assert.ok(
      compose.services.forgegate!.volumes!.includes('forgegate-keys:/data/keys:rw'),
      'forgegate writes its keys to the shared volume',
    );

    const dir = await makeTempDir('compose-registry');
    const keysConfig = join(dir, 'keys.yaml');
    await writeFile(keysConfig, `token: {keyDir: "${join(dir, 'keys')}"}\nforges: []\n`);
    assert.equal(
      (await run(process.execPath, [CLI, 'keys', 'generate', '--config', keysConfig], cleanEnv())).code,
      0,
      'keys generate',
    );

    const { proc, url } = await onFreePort(async (port) => {
      const addr = `127.0.0.1:${port}`;
      const url = `http://${addr}`;
      return {
        url,
        proc: await startRegistry(
          await registryConfig(dir, addr, join(dir, 'keys', 'cert.pem')),
          url,
          registry.environment ?? {},
        ),
      };
    });
    stops.push(() => proc.stop());
    const response = await fetch(`${url}/v2/`);
    assert.equal(response.status, 401);
    assert.equal(
      response.headers.get('www-authenticate'),
      'Bearer realm="https://localhost/token",service="container-registry"',
    );
    // REGISTRY_HOST moves the realm with it.
    const moved = await composeConfig({ REGISTRY_HOST: 'registry.example.com' });
    assert.equal(moved.services.registry!.environment!.REGISTRY_AUTH_TOKEN_REALM, 'https://registry.example.com/token');
    assert.equal(moved.services.forgegate!.environment!.PUBLIC_URL, 'https://registry.example.com');
    await proc.stop();
  });

  test('caddy validates the Caddyfile, self-signed by default and with ACME', async () => {
    const caddyfile = mountSource(compose.services.proxy!, '/etc/caddy/Caddyfile');
    const home = await makeTempDir('compose-caddy');
    const caddyEnv = (extra: Record<string, string>) =>
      cleanEnv({ HOME: home, XDG_DATA_HOME: home, XDG_CONFIG_HOME: home, ...extra });
    const selfSigned = await run(
      'caddy',
      ['validate', '--config', caddyfile, '--adapter', 'caddyfile'],
      caddyEnv(compose.services.proxy!.environment ?? {}),
    );
    assert.equal(selfSigned.code, 0, `caddy validate: ${selfSigned.stderr}`);
    const acme = await run(
      'caddy',
      ['validate', '--config', caddyfile, '--adapter', 'caddyfile'],
      caddyEnv({ REGISTRY_HOST: 'registry.example.com', ACME_EMAIL: 'ops@example.com' }),
    );
    assert.equal(acme.code, 0, `caddy validate (ACME): ${acme.stderr}`);

    const adapted = await run('caddy', ['adapt', '--config', caddyfile, '--adapter', 'caddyfile'], caddyEnv({}));
    assert.equal(adapted.code, 0, `caddy adapt: ${adapted.stderr}`);
    const json = adapted.stdout;
    assert.ok(json.includes('"internal"'), 'the default issuer is the internal CA');
    assert.ok(
      json.includes('"forgegate:5001"') && json.includes('"registry:5000"'),
      'Caddy proxies to forgegate and the registry',
    );
    for (const path of ['/token', '/auth/token', '/hooks/*', '/', '/assets/*', '/explain', '/.well-known/jwks.json']) {
      assert.ok(json.includes(`"${path}"`), `${path} goes to forgegate`);
    }
    for (const path of ['/metrics', '/healthz', '/readyz'])
      assert.ok(!json.includes(`"${path}"`), `${path} stays inside the stack`);
  });

  test('the stack on loopback: an htpasswd account pushes and pulls through Caddy TLS', async (t) => {
    const dir = await makeTempDir('compose-stack');
    let forgegate: ForgegateProcess | undefined;
    const procs: ManagedProcess[] = [];
    t.after(async () => {
      for (const proc of procs.reverse()) await proc.stop();
      await forgegate?.stop();
    });
    // Redis as the compose service runs it: its own command line, password included.
    const redis = await onFreePort(async (port) => {
      const args = [...compose.services.redis!.command!.slice(1), ...loopbackRedisArgs(port, dir)];
      const proc = spawnManaged('redis-server', args, { cwd: dir, env: cleanEnv() });
      await waitUntilReady('redis-server', proc, () => redisAnswers(port, REDIS_PASSWORD));
      return { port, proc };
    });
    procs.push(redis.proc);
    const proxyPort = await freePort();
    const publicUrl = `https://localhost:${proxyPort}`;

    // The operator's step: an admin line in the htpasswd file.
    const htpasswd = join(dir, 'htpasswd');
    await writeFile(
      htpasswd,
      `${await readFile(join(ROOT, 'deploy/compose/htpasswd'), 'utf8')}admin:${bcrypt.hashSync('admin-pass', 4)}\n`,
    );
    const forgegateYaml = (await readFile(join(ROOT, 'deploy/compose/forgegate.yaml'), 'utf8'))
      .replace('"0.0.0.0:5001"', '"127.0.0.1:{{PORT}}"')
      .replace('${PUBLIC_URL}', publicUrl)
      .replace('${GITLAB_URL}', 'http://127.0.0.1:9')
      .replace('/data/keys', '{{DIR}}/keys')
      .replace('/config/htpasswd', htpasswd)
      .replace('${REDIS_PASSWORD}@redis:6379', `${REDIS_PASSWORD}@127.0.0.1:${redis.port}`);
    forgegate = await startForgegateProcess(forgegateYaml);
    // The image's HEALTHCHECK, run against it.
    const [, , script] = compose.services.forgegate!.healthcheck!.test.slice(1);
    const health = await run(
      process.execPath,
      ['-e', script!],
      cleanEnv({ FORGEGATE_HEALTHCHECK_URL: `${forgegate.url}/healthz` }),
    );
    assert.equal(health.code, 0, `the healthcheck passes on a serving forgegate: ${health.stderr}`);

    const registryDir = await makeTempDir('compose-stack-registry');
    const registry = await onFreePort(async (port) => {
      const addr = `127.0.0.1:${port}`;
      const config = await registryConfig(registryDir, addr, forgegate!.certificate);
      return {
        addr,
        proc: await startRegistry(config, `http://${addr}`, { REGISTRY_AUTH_TOKEN_REALM: `${publicUrl}/token` }),
      };
    });
    procs.push(registry.proc);

    const caddyfile = join(dir, 'Caddyfile');
    await writeFile(
      caddyfile,
      (await readFile(join(ROOT, 'deploy/compose/Caddyfile'), 'utf8'))
        .replace('forgegate:5001', new URL(forgegate.url).host)
        .replace('registry:5000', registry.addr)
        // Caddy would also claim :80 for HTTP->HTTPS redirects; port 80 is not ours to take here.
        .replace(
          'skip_install_trust',
          `skip_install_trust\n\thttp_port ${await freePort()}\n\thttps_port ${proxyPort}`,
        ),
    );
    const caddy = spawnManaged('caddy', ['run', '--config', caddyfile, '--adapter', 'caddyfile'], {
      cwd: dir,
      env: cleanEnv({ HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir, REGISTRY_HOST: `localhost:${proxyPort}` }),
    });
    procs.push(caddy);
    // Caddy's internal CA signs the certificate: this probe, like docker for localhost, does not verify it.
    await waitUntilReady(
      'caddy',
      caddy,
      () => insecureStatus(`${publicUrl}/v2/`).then((status) => status === 401),
      20_000,
    );

    const image = await buildOciImage(undefined, { marker: 'compose' });
    const ref = `docker://localhost:${proxyPort}/team/app:v1`;
    const push = await copy(image.ref, ref, { creds: 'admin:admin-pass' });
    assert.equal(push.code, 0, `push through Caddy: ${push.stderr}\n${caddy.logs().slice(-2000)}`);
    const pulled = await makeTempDir('compose-pulled');
    const pull = await copy(ref, `oci:${pulled}:v1`, { creds: 'admin:admin-pass' });
    assert.equal(pull.code, 0, `pull through Caddy: ${pull.stderr}`);
    const denied = await copy(image.ref, `docker://localhost:${proxyPort}/team/app:v2`, { creds: 'admin:wrong' });
    assert.notEqual(denied.code, 0, 'a wrong password is refused');
    const line = await forgegate.waitForAudit((l) => JSON.stringify(l).includes('team/app'));
    assert.ok(line, 'forgegate logged the token request');
    const ready = (await (await fetch(`${forgegate.url}/readyz`)).json()) as {
      dependencies: { redis?: { status: string } };
    };
    assert.equal(ready.dependencies.redis?.status, 'ok', 'forgegate reached Redis with the password');

    // The status page and its form, through Caddy; /metrics stays inside.
    const page = await insecureGet(`${publicUrl}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /forgegate/);
    const explained = await insecureGet(
      `${publicUrl}/explain`,
      JSON.stringify({ username: 'admin', password: 'admin-pass', image: 'team/app' }),
    );
    assert.equal(explained.status, 200, explained.body);
    assert.match(explained.body, /"granted":true/);
    assert.notEqual((await insecureGet(`${publicUrl}/metrics`)).status, 200, '/metrics is not routed to forgegate');
  });
});

/** Whether a Redis on `port` answers PING with `password`. */
async function redisAnswers(port: number, password: string): Promise<boolean> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    password,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** GET (or POST `json`) over TLS without verifying the certificate, like curl -k. */
function insecureGet(url: string, json?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers =
      json === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) };
    const request = httpsRequest(
      url,
      { method: json === undefined ? 'GET' : 'POST', headers, rejectUnauthorized: false, timeout: 5000 },
      (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (c: string) => (body += c));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
    request.end(json);
  });
}

/** The HTTP status of `url` over TLS without verifying the certificate (like curl -k). */
function insecureStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpsGet(url, { rejectUnauthorized: false, timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}
