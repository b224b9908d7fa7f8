import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { decodeJwt } from 'jose';
import { FakeGitHub } from '../fakes/github.js';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import type { FakeServer } from '../fakes/server.js';
import { tokenRequests as audits } from '../support/assertions.js';
import { eventually } from '../support/eventually.js';
import { basic, startForgegate, type TestForgegate } from '../support/forgegate.js';
import { makeTempDir } from '../support/processes.js';
import { startRedis, type RunningRedis } from '../support/redis.js';

// docs/forges.md (its last section) over real HTTP: the decision cache in front of a FakeGitLab (prefix "")
// and a FakeGitHub (prefix "gh/"), proved by the calls the fakes count. Each scenario starts
// its own forgegate(s) with a fresh signing key (so a fresh credential HMAC) and its own
// Redis key prefix, so no scenario sees another's cache. Tests run one at a time.

const SERVICE = 'registry.test';
const gl = new FakeGitLab();
const gh = new FakeGitHub();
const m = buildModel(gl, gh);

/** The Redis most scenarios share; never killed, so section 8 can read what they left. */
let redis: RunningRedis;
/** A second Redis for section 6, which kills, restarts and pauses it. */
let flaky: RunningRedis;

const started: TestForgegate[] = [];
const sentBasic = new Set<string>();
const refreshTokens: string[] = [];

before(async () => {
  [redis, flaky] = await Promise.all([startRedis(), startRedis(), gl.start(), gh.start()]);
});
after(async () => {
  await Promise.all(started.map((f) => f.stop()));
  await Promise.all([gl.stop(), gh.stop(), redis?.stop(), flaky?.stop()]);
});
beforeEach(() => {
  for (const fake of [gl, gh]) {
    fake.clearInjections();
    fake.resetCalls();
    fake.latencyMs = 0;
  }
});

// ---- the model ---------------------------------------------------------------------------------

function buildModel(lab: FakeGitLab, hub: FakeGitHub) {
  const olga = lab.addUser({ username: 'olga' }); // Owner of group
  const dev = lab.addUser({ username: 'dev' }); // Developer of group/proj
  lab.addProject({ path_with_namespace: 'group/proj' });
  lab.addMember('group', olga.id, ACCESS.owner);
  lab.addMember('group/proj', dev.id, ACCESS.developer);

  for (const login of ['ada', 'wes']) hub.addUser({ login });
  hub.addRepo({ full_name: 'ada/app', collaborators: { wes: 'write' } }); // private, ada owns it
  const classic = (user: string) =>
    hub.addToken({
      token: `ghp_${user}Qx7Zk2Lm9Pw4Rt6Yv8Nb3Jh5Gf1Dc0Sa`,
      kind: 'classic',
      user,
      scopes: ['repo', 'delete:packages'],
    });

  const tokens = {
    olga: lab.addToken({ token: 'glpat-olga-api-Qx7Zk2Lm9Pw4', user_id: olga.id, scopes: ['api'] }).token,
    dev: lab.addToken({ token: 'glpat-dev-api-Qx7Zk2Lm9Pw4', user_id: dev.id, scopes: ['api'] }).token,
    ada: classic('ada').token,
    wes: classic('wes').token,
    /** GitLab knows no such token. */
    bogus: 'glpat-nobody-Qx7Zk2Lm9Pw4',
  };
  return { tokens, secrets: Object.values(tokens) };
}

// ---- helpers -----------------------------------------------------------------------------------
// Every assert.ok carries a message: without one, a failing assert.ok makes node:assert parse
// this file's source (one long line once tsx has transformed it), which takes minutes.

type Grant = { type: string; name: string; actions: string[] };

interface Answer {
  status: number;
  body: any;
  /** The JWT's access claim on a 200; undefined otherwise. */
  access: Grant[] | undefined;
}

interface Options {
  redisUrl?: string | null;
  keyDir?: string;
  keyPrefix?: string;
  identityTtl?: number;
  decisionTtl?: number;
  negativeTtl?: number;
  staleIfError?: number;
}

let prefixes = 0;
const uniquePrefix = (): string => `fg${++prefixes}:`;

/** A forgegate with GitLab and GitHub behind it and caching on (TTLs 60/60/10 unless told). */
async function start(options: Options = {}): Promise<TestForgegate> {
  const {
    redisUrl = null,
    keyDir,
    keyPrefix = uniquePrefix(),
    identityTtl = 60,
    decisionTtl = 60,
    negativeTtl = 10,
    staleIfError = 0,
  } = options;
  const fg = await startForgegate({
    token: { service: SERVICE, ...(keyDir ? { keyDir } : {}) },
    forges: [
      { type: 'gitlab', url: gl.url, timeout: 1 },
      { type: 'github', url: gh.url, prefix: 'gh/', timeout: 1 },
    ],
    cache: { identityTtl, decisionTtl, negativeTtl, staleIfError, redisUrl, keyPrefix },
  });
  started.push(fg);
  return fg;
}

/** Two replicas: one Redis, one signing key, one key prefix; both connected to Redis. */
async function startReplicas(redisUrl: string): Promise<[TestForgegate, TestForgegate]> {
  const keyDir = await makeTempDir('keys');
  const keyPrefix = uniquePrefix();
  const a = await start({ redisUrl, keyDir, keyPrefix });
  const b = await start({ redisUrl, keyDir, keyPrefix });
  await Promise.all([redisUp(a), redisUp(b)]);
  return [a, b];
}

/** GET /token with Basic user:password, one scope (or none). */
async function token(
  on: TestForgegate,
  user: string,
  password: string,
  scope?: string,
  extraQuery = '',
): Promise<Answer> {
  const query = new URLSearchParams({ service: SERVICE });
  if (scope !== undefined) query.append('scope', scope);
  const authorization = basic(user, password);
  sentBasic.add(authorization.slice('Basic '.length));
  const response = await fetch(`${on.url}/token?${query}${extraQuery}`, { headers: { Authorization: authorization } });
  const body = (await response.json()) as any;
  return {
    status: response.status,
    body,
    access: response.status === 200 ? (decodeJwt(body.token).access as Grant[]) : undefined,
  };
}

/** POST /token with a refresh token. */
async function refresh(on: TestForgegate, refreshToken: string, scope: string): Promise<Answer> {
  const response = await fetch(`${on.url}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      service: SERVICE,
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: 'docker',
      scope,
    }).toString(),
  });
  const body = (await response.json()) as any;
  return {
    status: response.status,
    body,
    access: response.status === 200 ? (decodeJwt(body.access_token).access as Grant[]) : undefined,
  };
}

const repo = (name: string, actions = 'pull,push,delete'): string => `repository:${name}:${actions}`;
const granted = (name: string, ...actions: string[]): Grant[] => [{ type: 'repository', name, actions }];

/** The calls a fake received so far, per endpoint (endpoints never called are absent). */
function callsOf(fake: FakeServer): Record<string, number> {
  return Object.fromEntries(
    [...new Set(fake.requests().map((r) => r.endpoint))].map((endpoint) => [endpoint, fake.calls(endpoint)]),
  );
}

/** A PAT's verification: both calls go out at once. */
const GITLAB_IDENTITY = { 'GET /personal_access_tokens/self': 1, 'GET /user': 1 };
/** The project's protection rules: olga (Owner) may push, and lists them with her own token. */
const GITLAB_RULES = { 'GET /projects/:id/registry/protection/repository/rules': 1 };
/** ...and the first resolution of group/proj/<image>: 404 on the image path, then the project, then its rules. */
const GITLAB_ROUND = { ...GITLAB_IDENTITY, 'GET /projects/:id': 2, ...GITLAB_RULES };
/**
 * ...or, once any caller resolved that image, only its project: the GitLab forge remembers
 * image -> project resolutions (in process, 10 min) apart from the decision cache. The rules
 * are project facts: read once per project and cache.decisionTtl, whoever asks next.
 */
const GITLAB_ROUND_KNOWN = { ...GITLAB_IDENTITY, 'GET /projects/:id': 1 };
const GITHUB_ROUND = { 'GET /user': 1, 'GET /repos/:owner/:repo': 1 };

/** The `cache` field of every token audit line, oldest first. */
function cacheField(on: TestForgegate): unknown[] {
  return audits(on).map((line) => line.cache);
}

/** Waits until the forgegate's Redis connection is ready, so a first request does not find it still connecting. */
const redisUp = (on: TestForgegate, timeoutMs?: number) =>
  eventually('redis is up', () => on.runtime.redis?.status === 'up', timeoutMs);

/** A port on 127.0.0.1 where nothing listens (it was free a moment ago). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ---- 1. repeat requests -------------------------------------------------------------------------

for (const level of ['in-process only', 'with Redis'] as const) {
  describe(`1. repeat requests cost one forge round (${level})`, () => {
    let fg: TestForgegate;
    before(async () => {
      fg = await start({ redisUrl: level === 'with Redis' ? redis.url : null });
      if (level === 'with Redis') await redisUp(fg);
    });

    test('GitLab: 20 identical requests, one identity round and one project resolution; audit cache miss, then hit', async () => {
      for (let i = 0; i < 20; i++) {
        const answer = await token(fg, 'olga', m.tokens.olga, repo('group/proj/app'));
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.deepEqual(answer.access, granted('group/proj/app', 'pull', 'push', 'delete'));
      }
      assert.deepEqual(callsOf(gl), GITLAB_ROUND);
      assert.deepEqual(
        gl.requests('GET /projects/:id').map((r) => r.url),
        ['/api/v4/projects/group%2Fproj%2Fapp', '/api/v4/projects/group%2Fproj'],
      );
      assert.deepEqual(callsOf(gh), {});
      assert.deepEqual(cacheField(fg), ['miss', ...Array(19).fill('hit')]);
    });

    test('GitLab: a second image of the same project by the same user: no identity call, one resolution of the new image', async () => {
      for (let i = 0; i < 5; i++) {
        const answer = await token(fg, 'olga', m.tokens.olga, repo('group/proj/other'));
        assert.deepEqual(answer.access, granted('group/proj/other', 'pull', 'push', 'delete'));
      }
      assert.deepEqual(callsOf(gl), { 'GET /projects/:id': 2 });
      assert.deepEqual(cacheField(fg).slice(-5), ['miss', 'hit', 'hit', 'hit', 'hit']);
    });

    test('GitLab: the same image by another user: their own identity and decision, their own access', async () => {
      for (let i = 0; i < 5; i++) {
        const answer = await token(fg, 'dev', m.tokens.dev, repo('group/proj/app'));
        assert.deepEqual(answer.access, granted('group/proj/app', 'pull', 'push'));
        assert.equal(decodeJwt(answer.body.token).sub, 'dev');
      }
      assert.deepEqual(callsOf(gl), GITLAB_ROUND_KNOWN);
      assert.deepEqual(
        gl.requests('GET /projects/:id').map((r) => r.url),
        ['/api/v4/projects/group%2Fproj'],
      );
      assert.ok(
        gl.requests().every((r) => r.headers.authorization === `Bearer ${m.tokens.dev}`),
        "asked with dev's own token",
      );
      assert.deepEqual(cacheField(fg).slice(-5), ['miss', 'hit', 'hit', 'hit', 'hit']);
      // olga's answer is still hers, still from cache.
      assert.deepEqual(
        (await token(fg, 'olga', m.tokens.olga, repo('group/proj/app'))).access,
        granted('group/proj/app', 'pull', 'push', 'delete'),
      );
      assert.deepEqual(callsOf(gl), GITLAB_ROUND_KNOWN);
    });

    test('GitHub: 20 identical requests, one GET /user and one GET /repos', async () => {
      for (let i = 0; i < 20; i++) {
        const answer = await token(fg, 'ada', m.tokens.ada, repo('gh/ada/app'));
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.deepEqual(answer.access, granted('gh/ada/app', 'pull', 'push', 'delete'));
      }
      assert.deepEqual(callsOf(gh), GITHUB_ROUND);
      assert.deepEqual(callsOf(gl), {});
      assert.deepEqual(cacheField(fg).slice(-20), ['miss', ...Array(19).fill('hit')]);
    });

    test('GitHub: a second image of the same repository, then the same image by another user', async () => {
      for (let i = 0; i < 3; i++)
        assert.deepEqual(
          (await token(fg, 'ada', m.tokens.ada, repo('gh/ada/app/other'))).access,
          granted('gh/ada/app/other', 'pull', 'push', 'delete'),
        );
      assert.deepEqual(callsOf(gh), { 'GET /repos/:owner/:repo': 1 });
      gh.resetCalls();
      for (let i = 0; i < 3; i++)
        assert.deepEqual(
          (await token(fg, 'wes', m.tokens.wes, repo('gh/ada/app'))).access,
          granted('gh/ada/app', 'pull', 'push'),
        );
      assert.deepEqual(callsOf(gh), GITHUB_ROUND);
      assert.deepEqual(cacheField(fg).slice(-6), ['miss', 'hit', 'hit', 'miss', 'hit', 'hit']);
    });
  });
}

// ---- 2. stampede --------------------------------------------------------------------------------

for (const level of ['in-process only', 'with Redis'] as const) {
  describe(`2. stampede (${level})`, () => {
    let calls: Record<string, number> = {};

    test('500 concurrent identical cold requests: 500 identical 200s', async () => {
      const fg = await start({ redisUrl: level === 'with Redis' ? redis.url : null });
      if (level === 'with Redis') await redisUp(fg);
      gl.latencyMs = 50;
      const answers = await Promise.all(
        Array.from({ length: 500 }, () => token(fg, 'olga', m.tokens.olga, repo('group/proj/app'))),
      );
      calls = callsOf(gl);
      assert.deepEqual(
        answers.map((a) => a.status).filter((s) => s !== 200),
        [],
      );
      for (const answer of answers)
        assert.deepEqual(answer.access, granted('group/proj/app', 'pull', 'push', 'delete'));
    });

    // With Redis, a request that missed the in-process level awaits a Redis GET before it
    // joins the single flight. If the flight ends meanwhile (its Redis SET is fire-and-forget,
    // and the in-flight entry is gone), that request finds neither and starts a second one.
    test('...and they cost exactly one identity round and one project resolution', () => {
      assert.deepEqual(calls, GITLAB_ROUND);
    });
  });
}

// ---- 3. negative cache --------------------------------------------------------------------------

describe('3. rejected credentials are remembered for cache.negativeTtl', () => {
  test('a bad token is asked about once, then refused from cache: 401 every time', async () => {
    const fg = await start({ redisUrl: redis.url, negativeTtl: 10 });
    await redisUp(fg);
    for (let i = 0; i < 10; i++) {
      const answer = await token(fg, 'olga', m.tokens.bogus, repo('group/proj/app'));
      assert.equal(answer.status, 401, JSON.stringify(answer.body));
      assert.equal(answer.body.errors[0].code, 'UNAUTHORIZED');
    }
    assert.deepEqual(callsOf(gl), GITLAB_IDENTITY);
    const lines = audits(fg);
    assert.equal(lines.length, 10);
    assert.deepEqual(new Set(lines.map((l) => l.outcome)), new Set(['unauthorized']));
    assert.match(lines.at(-1)!.reason, /remembered for cache\.negativeTtl/);
  });

  test('a remembered refusal does not stand in for a good token of the same user', async () => {
    const fg = await start({ redisUrl: redis.url });
    await redisUp(fg);
    assert.equal((await token(fg, 'olga', m.tokens.bogus, repo('group/proj/app'))).status, 401);
    assert.deepEqual(
      (await token(fg, 'olga', m.tokens.olga, repo('group/proj/app'))).access,
      granted('group/proj/app', 'pull', 'push', 'delete'),
    );
  });
});

// ---- 4. TTL backstop ------------------------------------------------------------------------------

describe('4. TTLs end every cached answer', () => {
  test('identityTtl 1 and decisionTtl 1: after 1.1 s the forge is asked again', async () => {
    const fg = await start({ redisUrl: redis.url, identityTtl: 1, decisionTtl: 1 });
    await redisUp(fg);
    const ask = async () =>
      assert.deepEqual(
        (await token(fg, 'olga', m.tokens.olga, repo('group/proj/app'))).access,
        granted('group/proj/app', 'pull', 'push', 'delete'),
      );
    await ask();
    await ask();
    assert.deepEqual(callsOf(gl), GITLAB_ROUND);
    await sleep(1100);
    gl.resetCalls();
    await ask();
    const anew = { ...GITLAB_ROUND_KNOWN, ...GITLAB_RULES };
    assert.deepEqual(callsOf(gl), anew, 'asked anew, not served from the in-process level or Redis');
    assert.deepEqual(cacheField(fg), ['miss', 'hit', 'miss']);
  });

  test('negativeTtl 1: a refused token is asked about again after 1.1 s', async () => {
    const fg = await start({ redisUrl: redis.url, negativeTtl: 1 });
    await redisUp(fg);
    for (let i = 0; i < 3; i++)
      assert.equal((await token(fg, 'x', m.tokens.bogus, repo('group/proj/app'))).status, 401);
    assert.deepEqual(callsOf(gl), GITLAB_IDENTITY);
    await sleep(1100);
    assert.equal((await token(fg, 'x', m.tokens.bogus, repo('group/proj/app'))).status, 401);
    assert.deepEqual(callsOf(gl), { 'GET /personal_access_tokens/self': 2, 'GET /user': 2 });
  });
});

// ---- 5. Redis shared by two replicas ----------------------------------------------------------------

describe('5. two forgegates sharing Redis and the signing key', () => {
  let a: TestForgegate;
  let b: TestForgegate;
  before(async () => {
    [a, b] = await startReplicas(redis.url);
  });

  test('a request on A, then the same on B: B asks no forge', async () => {
    assert.deepEqual(
      (await token(a, 'olga', m.tokens.olga, repo('group/proj/app'))).access,
      granted('group/proj/app', 'pull', 'push', 'delete'),
    );
    assert.deepEqual(
      (await token(a, 'ada', m.tokens.ada, repo('gh/ada/app'))).access,
      granted('gh/ada/app', 'pull', 'push', 'delete'),
    );
    assert.deepEqual(callsOf(gl), GITLAB_ROUND);
    assert.deepEqual(callsOf(gh), GITHUB_ROUND);
    gl.resetCalls();
    gh.resetCalls();

    assert.deepEqual(
      (await token(b, 'olga', m.tokens.olga, repo('group/proj/app'))).access,
      granted('group/proj/app', 'pull', 'push', 'delete'),
    );
    assert.deepEqual(
      (await token(b, 'ada', m.tokens.ada, repo('gh/ada/app'))).access,
      granted('gh/ada/app', 'pull', 'push', 'delete'),
    );
    assert.equal(
      gl.calls() + gh.calls(),
      0,
      `B asked the forges: ${JSON.stringify({ gitlab: callsOf(gl), github: callsOf(gh) })}`,
    );
    assert.deepEqual(cacheField(b), ['hit', 'hit']);
  });

  test('a refresh token issued by A works on B, from the shared cache', async () => {
    const login = await token(a, 'dev', m.tokens.dev, repo('group/proj/app'), '&offline_token=true');
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const refreshToken = login.body.refresh_token as string;
    assert.ok(refreshToken, 'a refresh token');
    refreshTokens.push(refreshToken);
    gl.resetCalls();

    const used = await refresh(b, refreshToken, repo('group/proj/app'));
    assert.equal(used.status, 200, JSON.stringify(used.body));
    assert.equal(decodeJwt(used.body.access_token).sub, 'dev');
    assert.deepEqual(used.access, granted('group/proj/app', 'pull', 'push'));
    assert.deepEqual(callsOf(gl), {}, 'B re-verified the credential from Redis');
    assert.equal(audits(b).at(-1)!.credential, 'refresh');
  });
});

// ---- 6. Redis faults --------------------------------------------------------------------------------

describe('6. Redis faults never fail a request', () => {
  let a: TestForgegate;
  let b: TestForgegate;
  before(async () => {
    [a, b] = await startReplicas(flaky.url);
  });

  /** Request i: olga or dev on a new image (so the forge is asked too), on A or B. */
  const ask = async (i: number): Promise<void> => {
    const [user, actions] =
      i % 2 === 0 ? (['olga', ['pull', 'push', 'delete']] as const) : (['dev', ['pull', 'push']] as const);
    const image = `group/proj/img${i}`;
    const answer = await token(i % 3 === 0 ? b : a, user, m.tokens[user], repo(image));
    assert.equal(answer.status, 200, `request ${i}: ${JSON.stringify(answer.body)}`);
    assert.deepEqual(answer.access, granted(image, ...actions), `request ${i}`);
  };

  /** A fresh image asked on A, then on B: B must find it in Redis. */
  const sharedAgain = async (image: string): Promise<void> => {
    assert.deepEqual(
      (await token(a, 'olga', m.tokens.olga, repo(image))).access,
      granted(image, 'pull', 'push', 'delete'),
    );
    gl.resetCalls();
    assert.deepEqual(
      (await token(b, 'olga', m.tokens.olga, repo(image))).access,
      granted(image, 'pull', 'push', 'delete'),
    );
    assert.deepEqual(callsOf(gl), {}, `B did not find ${image} in Redis`);
  };

  test('killed mid-run, then restarted: every request 200 with the right access; sharing comes back without a forgegate restart', async (t) => {
    if (process.env.REDIS_URL) return t.skip('needs a Redis this test started (REDIS_URL is set)');
    await sharedAgain('group/proj/before-kill');
    let i = 0;
    for (; i < 10; i++) await ask(i);
    // Killed while a burst is in flight.
    const burst = Promise.all(Array.from({ length: 30 }, (_, k) => ask(100 + k)));
    await flaky.kill();
    await burst;
    for (; i < 30; i++) await ask(i);
    // The earlier answers are still served, from the in-process level.
    gl.resetCalls();
    await ask(2);
    assert.deepEqual(callsOf(gl), {});

    await flaky.restart();
    for (; i < 50; i++) await ask(i);
    await Promise.all([redisUp(a), redisUp(b)]);
    await sleep(1100); // a failed command makes a replica skip Redis for a second
    for (; i < 60; i++) await ask(i);
    await sharedAgain('group/proj/after-restart');
    const warned = a
      .logs()
      .some((l) => l.msg === 'redis is unreachable: serving from the in-process cache and the forges');
    assert.ok(warned, 'A logged that Redis was down');
    assert.ok(
      a.logs().some((l) => l.msg === 'redis is reachable again'),
      'A logged the recovery',
    );
  });

  test('paused (SIGSTOP): requests still answer 200, then Redis serves again', async (t) => {
    if (process.env.REDIS_URL) return t.skip('needs a Redis this test started (REDIS_URL is set)');
    await Promise.all([redisUp(a), redisUp(b)]);
    // test/support/redis.ts does not expose the pid; the server states it itself.
    const probe = new Redis(flaky.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    await probe.connect();
    const pid = Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
    probe.disconnect();
    assert.ok(pid > 0, 'redis-server pid');

    process.kill(pid, 'SIGSTOP');
    try {
      for (let i = 200; i < 215; i++) {
        const t0 = Date.now();
        await ask(i);
        assert.ok(Date.now() - t0 < 1500, `request ${i} took ${Date.now() - t0} ms against a paused Redis`);
      }
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await sleep(1100); // past the skip window
    await sharedAgain('group/proj/after-pause');
  });

  test('paused, then resumed: runtime.redis.status returns to "up"', async () => {
    await eventually('A reports redis up again', () => a.runtime.redis?.status === 'up', 3000);
  });

  test('a redisUrl where nothing listens: correct answers from the start, cached in process; /readyz 200, redis degraded', async () => {
    const fg = await start({ redisUrl: `redis://127.0.0.1:${await deadPort()}` });
    try {
      for (let i = 0; i < 5; i++) {
        const answer = await token(fg, 'olga', m.tokens.olga, repo('group/proj/app'));
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.deepEqual(answer.access, granted('group/proj/app', 'pull', 'push', 'delete'));
      }
      assert.deepEqual(callsOf(gl), GITLAB_ROUND, 'the in-process level still caches');
      assert.deepEqual(cacheField(fg), ['miss', 'hit', 'hit', 'hit', 'hit']);
      // test/support/forgegate.ts does not wire serve.ts's readiness: /readyz says nothing of
      // Redis here, so its state is read from the runtime.
      assert.equal((await fetch(`${fg.url}/readyz`)).status, 200);
      assert.equal(fg.runtime.redis?.status, 'down');
      assert.ok(
        fg
          .logs()
          .some((l) => l.msg === 'redis is unreachable at start: serving from the in-process cache and the forges'),
        'a warning that Redis is unreachable',
      );
    } finally {
      await stopForGood(fg);
    }
  });

  test('close() with Redis unreachable ends the reconnection attempts: the process exits by itself', async () => {
    const port = await deadPort();
    const source = `
      import { RedisLevel } from ${JSON.stringify(new URL('../../src/cache/redis.ts', import.meta.url).href)};
      import { silentLogger } from ${JSON.stringify(new URL('../../src/log.ts', import.meta.url).href)};
      const level = new RedisLevel('redis://127.0.0.1:${port}', 'x:', silentLogger);
      await new Promise((r) => setTimeout(r, 500));
      await level.close();
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], {
      stdio: 'ignore',
    });
    const exited = await Promise.race([
      new Promise<boolean>((resolve) => child.on('exit', () => resolve(true))),
      sleep(10_000).then(() => false),
    ]);
    if (!exited) child.kill('SIGKILL');
    assert.ok(exited, 'the process still runs 10 s after close(): ioredis keeps reconnecting');
  });
});

async function stopForGood(fg: TestForgegate): Promise<void> {
  const i = started.indexOf(fg);
  if (i >= 0) {
    started.splice(i, 1);
    await fg.stop();
  }
}

// ---- 7. stale-if-error --------------------------------------------------------------------------------

describe('7. stale-if-error', () => {
  const warmThenBreak = async (fg: TestForgegate, kind: 'status' | 'timeout') => {
    assert.deepEqual(
      (await token(fg, 'olga', m.tokens.olga, repo('group/proj/app'))).access,
      granted('group/proj/app', 'pull', 'push', 'delete'),
    );
    await sleep(1200);
    gl.inject(kind === 'status' ? { kind: 'status', status: 500 } : { kind: 'timeout' });
    return token(fg, 'olga', m.tokens.olga, repo('group/proj/app'));
  };

  for (const kind of ['status', 'timeout'] as const) {
    const failure = kind === 'status' ? 'HTTP 500' : 'a timeout';
    test(`staleIfError 30, TTLs 1: GitLab answering ${failure} after expiry: 200 with the cached access, cache "stale"`, async () => {
      const fg = await start({ redisUrl: redis.url, identityTtl: 1, decisionTtl: 1, staleIfError: 30 });
      await redisUp(fg);
      const answer = await warmThenBreak(fg, kind);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.access, granted('group/proj/app', 'pull', 'push', 'delete'));
      assert.ok(gl.calls() > GITLAB_ROUND['GET /projects/:id'] + 2, 'GitLab was asked again after the TTL');
      assert.deepEqual(cacheField(fg), ['miss', 'stale']);
      const warnings = fg.logs().filter((l) => l.level === 'warn' && /serving a stale/.test(String(l.msg)));
      assert.deepEqual(warnings.map((l) => l.msg).sort(), [
        'forge unavailable: serving a stale decision',
        'forge unavailable: serving a stale verified credential',
      ]);
    });

    test(`staleIfError 0: the same scenario with ${failure} answers 503`, async () => {
      const fg = await start({ redisUrl: redis.url, identityTtl: 1, decisionTtl: 1, staleIfError: 0 });
      await redisUp(fg);
      const answer = await warmThenBreak(fg, kind);
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      assert.equal(answer.body.errors[0].code, 'UNAVAILABLE');
      assert.equal(audits(fg).at(-1)!.outcome, 'unavailable');
    });
  }
});

// ---- 8. secrets -------------------------------------------------------------------------------------

describe('8. no secret reaches Redis', () => {
  test('KEYS * and every value in both test Redis servers: no token, Basic credential or refresh token', async () => {
    const secrets = [...m.secrets, ...sentBasic, ...refreshTokens];
    assert.ok(secrets.length >= 8, `only ${secrets.length} secrets recorded`);
    let keys = 0;
    for (const server of [redis, flaky]) {
      const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
      try {
        const dump: string[] = [];
        for (const key of await client.keys('*')) {
          const type = await client.type(key);
          const value =
            type === 'string'
              ? [(await client.get(key)) ?? '']
              : type === 'set'
                ? await client.smembers(key)
                : [`(${type})`];
          dump.push(key, ...value);
          keys++;
        }
        const text = dump.join('\n');
        for (const secret of secrets) assert.ok(!text.includes(secret), `Redis holds ${secret.slice(0, 12)}...`);
      } finally {
        client.disconnect();
      }
    }
    const identities = await (async () => {
      const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      try {
        return (await client.keys('*:id:gitlab:*')).length;
      } finally {
        client.disconnect();
      }
    })();
    assert.ok(keys > 20, `only ${keys} keys: the scenarios above did not use Redis`);
    assert.ok(identities > 0, 'no verified GitLab credential in Redis');
  });
});
