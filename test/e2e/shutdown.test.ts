import assert from 'node:assert/strict';
import { request } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeGitLab } from '../fakes/gitlab.js';
import { onFreePort } from '../support/ports.js';
import { makeTempDir, spawnManaged, waitUntilReady, type ManagedProcess } from '../support/processes.js';
import { startRedis, type RunningRedis } from '../support/redis.js';

// Graceful SIGTERM (what `docker stop` and Kubernetes send): stop accepting,
// finish in-flight requests within a bound (10 s), close Redis, exit 0. The in-flight request
// is held open by a slow fake GitLab, so it is provably in flight when the signal arrives.

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const TOKEN = 'glpat-slow-Shutdown4Qx7Zk2Lm9';

const gitlab = new FakeGitLab();
let redis: RunningRedis;

before(async () => {
  await gitlab.start();
  const user = gitlab.addUser({ username: 'slow' });
  gitlab.addToken({ token: TOKEN, user_id: user.id, scopes: ['api'] });
  gitlab.addProject({ path_with_namespace: 'team/app', visibility: 'public' });
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
  await gitlab.stop();
});

interface Started {
  proc: ManagedProcess;
  url: string;
  port: number;
}

function startServe(): Promise<Started> {
  return onFreePort(async (port) => {
    const dir = await makeTempDir('shutdown');
    const config = join(dir, 'forgegate.yaml');
    await writeFile(
      config,
      [
        `server: {listen: "127.0.0.1:${port}"}`,
        `token: {keyDir: "${dir}/keys"}`,
        `cache: {redisUrl: "${redis.url}"}`,
        `forges: [{type: gitlab, url: "${gitlab.url}", timeout: 60}]`,
      ].join('\n'),
    );
    const proc = spawnManaged(process.execPath, [CLI, 'serve', '--config', config], {
      cwd: dir,
      env: { ...process.env, LOG_LEVEL: 'info' },
    });
    const url = `http://127.0.0.1:${port}`;
    await waitUntilReady(
      'forgegate',
      proc,
      async () => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) })).ok,
    );
    return { proc, url, port };
  });
}

/** A fresh connection to `port` (no pooled keep-alive socket): its status, or the connection error code. */
function freshRequest(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

function tokenRequest(url: string): Promise<Response> {
  const query = new URLSearchParams({ service: 'container-registry', scope: 'repository:team/app:pull' });
  return fetch(`${url}/token?${query}`, {
    headers: { Authorization: `Basic ${Buffer.from(`slow:${TOKEN}`).toString('base64')}` },
  });
}

async function untilGitLabAsked(): Promise<void> {
  for (let i = 0; gitlab.calls() === 0; i++) {
    assert.ok(i < 1000, 'the token request reached GitLab');
    await sleep(10);
  }
}

describe('forgegate serve on SIGTERM', () => {
  test('stops accepting, finishes the request in flight, closes Redis and exits 0', async () => {
    const { proc, url, port } = await startServe();
    try {
      gitlab.resetCalls();
      gitlab.latencyMs = 500; // per GitLab call: the request stays in flight for about 1.5 s
      const inFlight = tokenRequest(url);
      await untilGitLabAsked();
      const exited = proc.stop('SIGTERM', 30_000);
      await sleep(100); // the signal is delivered and the listener closed
      assert.equal(await freshRequest(port), 'ECONNREFUSED', 'a new connection is refused while draining');
      const response = await inFlight;
      assert.equal(response.status, 200, 'the request in flight finished normally');
      assert.ok(typeof ((await response.json()) as { token?: string }).token === 'string', 'with its token');
      await exited;
      const logs = proc.logs();
      assert.match(logs, /"msg":"forgegate stopped"/);
      assert.match(logs, /exited with code 0/);
      assert.ok(!/SIGKILL/.test(logs), 'no escalation was needed');
    } finally {
      gitlab.latencyMs = 0;
      await proc.stop('SIGKILL');
    }
  });

  test('a request that outlives the bound is cut, and the process still exits 0', async () => {
    const { proc, url } = await startServe();
    try {
      gitlab.resetCalls();
      gitlab.latencyMs = 40_000; // longer than the 10 s bound; stop() ends the fake's sleep
      const inFlight = tokenRequest(url).then(
        (r) => r.status,
        (error: Error) => error.name,
      );
      await untilGitLabAsked();
      await proc.stop('SIGTERM', 25_000);
      assert.match(proc.logs(), /exited with code 0/, 'exited by itself within the bound, not killed');
      assert.notEqual(await inFlight, 200, 'the request past the bound did not complete');
    } finally {
      gitlab.latencyMs = 0;
      await proc.stop('SIGKILL');
    }
  });
});
