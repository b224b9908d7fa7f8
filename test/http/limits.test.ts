import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, afterEach, before, describe, mock, test } from 'node:test';
import { FakeGitLab } from '../fakes/gitlab.js';
import { basic, startForgegate, type TestForgegate } from '../support/forgegate.js';
import { startRedis, type RunningRedis } from '../support/redis.js';

// Brute-force bans over real HTTP. The clock is node:test's mocked Date
// (rate-limiter-flexible's in-memory store reads Date.now()); requests go through node:http
// without an agent, which keeps no timers that a jumping clock could trip.

const SERVICE = 'registry.test';
const PASSWORD = { alice: 'alice-pass', admin: 'admin-pass' };
const LIMITS = { failures: 3, window: 60, ban: 120 };
const fixture = new URL('../fixtures/htpasswd', import.meta.url).pathname;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

function call(
  fg: TestForgegate,
  init: { ip?: string; auth?: string; query?: string; form?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.ip) headers['X-Forwarded-For'] = init.ip;
  if (init.auth) headers.Authorization = init.auth;
  const body = init.form ? new URLSearchParams({ service: SERVICE, ...init.form }).toString() : undefined;
  if (body) headers['Content-Type'] = 'application/x-www-form-urlencoded';
  const url = new URL(`${fg.url}/token?service=${SERVICE}${init.query ?? ''}`);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: body ? 'POST' : 'GET', headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const login = (fg: TestForgegate, ip: string, user: string, password: string) =>
  call(fg, { ip, auth: basic(user, password) });

async function failTimes(fg: TestForgegate, n: number, ip: string, user: string): Promise<void> {
  // Each a different wrong password: a forge token that fails is also counted (and banned) as itself.
  for (let i = 0; i < n; i++) {
    const answer = await login(fg, ip, user, `wrong-${user}-${ip}-${i}`);
    assert.equal(answer.status, 401, `failure ${i + 1} is a plain 401`);
  }
}

function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('bans, in memory, with the clock controlled', () => {
  let fg: TestForgegate;
  const gitlab = new FakeGitLab();
  let jobToken = '';
  let pat = '';

  before(async () => {
    const url = await gitlab.start();
    const carl = gitlab.addUser({ username: 'carl' });
    gitlab.addProject({ path_with_namespace: 'group/ci' });
    gitlab.addMember('group/ci', carl.id, 30);
    jobToken = gitlab.addJob({ token: 'glcbt-64_limits-job-Qx7', project: 'group/ci', user_id: carl.id }).token;
    pat = gitlab.addToken({ token: 'glpat-carl-limits-Qx7', user_id: carl.id, scopes: ['api'] }).token;
    fg = await startForgegate({
      server: { trustProxy: true },
      token: { service: SERVICE },
      users: { htpasswd: fixture },
      acl: [{ account: '*', name: '${account}/**', actions: ['pull', 'push'] }],
      forges: [{ type: 'gitlab', url, prefix: 'gl/' }],
      limits: LIMITS,
    });
  });
  after(async () => {
    await fg.stop();
    await gitlab.stop();
  });
  afterEach(() => mock.timers.reset());

  test('the failure that reaches the count bans the IP: 429, Retry-After, JSON in both error formats; the ban ends on time', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const ip = '198.51.100.1';
    await login(fg, ip, 'nobody-1', 'x').then((a) => assert.equal(a.status, 401, 'unknown account: 401'));
    await failTimes(fg, LIMITS.failures - 1, ip, 'nobody-2');

    const refused = await login(fg, ip, 'alice', PASSWORD.alice);
    assert.equal(refused.status, 429, 'a banned IP is refused even with a right password');
    assert.equal(refused.headers['retry-after'], String(LIMITS.ban));
    assert.equal(refused.body.errors[0].code, 'TOOMANYREQUESTS');
    assert.match(
      refused.body.errors[0].message,
      /too many failed login attempts from this address; retry in 120 seconds/,
    );
    const oauth = await call(fg, { ip, form: { grant_type: 'password', username: 'alice', password: PASSWORD.alice } });
    assert.equal(oauth.status, 429);
    assert.ok(
      oauth.body.error && oauth.body.error_description.includes('retry in'),
      'the POST form gets the RFC 6749 format',
    );

    mock.timers.tick(60_000);
    const later = await login(fg, ip, 'alice', PASSWORD.alice);
    assert.equal(later.status, 429, 'still banned half-way');
    assert.equal(later.headers['retry-after'], '60', 'Retry-After counts down with the clock');

    mock.timers.tick(60_001);
    assert.equal((await login(fg, ip, 'alice', PASSWORD.alice)).status, 200, 'unbanned once the ban is over');
    assert.equal(
      (await login(fg, '198.51.100.99', 'alice', PASSWORD.alice)).status,
      200,
      'other addresses were never banned',
    );

    const audit = fg.logs().filter((l) => l.msg === 'token request' && l.outcome === 'banned');
    assert.ok(audit.length >= 3, 'refused requests have audit lines with outcome "banned"');
    const scrape = await (await fetch(`${fg.url}/metrics`)).text();
    assert.ok(metric(scrape, 'forgegate_bans_total', 'scope="ip"') >= 1, 'the ban is counted');
    assert.ok(metric(scrape, 'forgegate_banned_requests_total', 'scope="ip"') >= 3, 'refusals are counted');
  });

  test('failures outside the window are forgotten', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const ip = '198.51.100.2';
    await failTimes(fg, LIMITS.failures - 1, ip, 'nobody-3');
    mock.timers.tick(LIMITS.window * 1000 + 1);
    await failTimes(fg, LIMITS.failures - 1, ip, 'nobody-3');
    assert.equal((await login(fg, ip, 'alice', PASSWORD.alice)).status, 200, 'never 3 failures within one window');
  });

  test('an account is banned from every address, other accounts are not', async () => {
    for (let i = 0; i < LIMITS.failures; i++) await failTimes(fg, 1, `203.0.113.${i + 1}`, 'admin');
    const refused = await login(fg, '203.0.113.200', 'admin', PASSWORD.admin);
    assert.equal(refused.status, 429);
    assert.match(refused.body.errors[0].message, /for this account/);
    assert.equal(
      (await login(fg, '203.0.113.200', 'alice', PASSWORD.alice)).status,
      200,
      'alice logs in from the same address',
    );
    await fg.guard.forgive('203.0.113.200', 'admin');
    assert.equal((await login(fg, '203.0.113.200', 'admin', PASSWORD.admin)).status, 200, 'forgive lifts the ban');
  });

  test('a success forgives its own failures, on the account and on the IP', async () => {
    const ip = '198.51.100.3';
    for (let round = 0; round < 3; round++) {
      await failTimes(fg, LIMITS.failures - 1, ip, 'alice');
      assert.equal(
        (await login(fg, ip, 'alice', PASSWORD.alice)).status,
        200,
        `round ${round}: the typo-er is never banned`,
      );
    }
  });

  test('a success does not forgive failures for other accounts (password spraying)', async () => {
    const ip = '198.51.100.4';
    await failTimes(fg, 1, ip, 'victim-1');
    await failTimes(fg, 1, ip, 'victim-2');
    assert.equal((await login(fg, ip, 'alice', PASSWORD.alice)).status, 200);
    await failTimes(fg, 1, ip, 'victim-3');
    assert.equal((await login(fg, ip, 'alice', PASSWORD.alice)).status, 429, 'the third failure from the IP bans it');
  });

  test('anonymous, refresh tokens and job tokens do not count and pass an IP ban', async () => {
    const ip = '198.51.100.5';
    const offline = await call(fg, { ip, auth: basic('alice', PASSWORD.alice), query: '&offline_token=true' });
    const refreshToken = offline.body.refresh_token as string;
    assert.ok(refreshToken, 'a refresh token was issued');

    for (let i = 0; i < LIMITS.failures + 2; i++) {
      assert.equal((await call(fg, { ip })).status, 200, 'anonymous');
      assert.equal((await login(fg, ip, 'gitlab-ci-token', `glcbt-64_unknown-${i}`)).status, 401, 'unknown job token');
      assert.equal(
        (await call(fg, { ip, form: { grant_type: 'refresh_token', refresh_token: 'a.b.c.d.e' } })).status,
        401,
        'broken refresh token',
      );
    }
    assert.equal((await login(fg, ip, 'alice', PASSWORD.alice)).status, 200, 'none of those counted');

    await failTimes(fg, LIMITS.failures, ip, 'nobody-5');
    assert.equal((await login(fg, ip, 'alice', PASSWORD.alice)).status, 429, 'the IP is banned now');
    assert.equal(
      (await call(fg, { ip, query: '&scope=repository:gl/group/ci:pull' })).status,
      200,
      'anonymous still served',
    );
    assert.equal(
      (await call(fg, { ip, form: { grant_type: 'refresh_token', refresh_token: refreshToken } })).status,
      200,
      'refresh token still served',
    );
    assert.equal((await login(fg, ip, 'gitlab-ci-token', jobToken)).status, 200, 'the job token still served');
  });

  test('banned requests never reach the forge', async () => {
    const ip = '198.51.100.6';
    await failTimes(fg, LIMITS.failures, ip, 'carl'); // wrong personal access tokens, asked of GitLab
    const before = gitlab.calls();
    assert.ok(before > 0, 'the failures were GitLab answers');
    const refused = await login(fg, ip, 'carl', pat);
    assert.equal(refused.status, 429);
    assert.equal(gitlab.calls(), before, 'GitLab was not asked');
  });
});

describe('bans shared through Redis', () => {
  let redis: RunningRedis;
  let a: TestForgegate;
  let b: TestForgegate;

  before(async () => {
    redis = await startRedis();
    const config = {
      server: { trustProxy: true },
      token: { service: SERVICE },
      users: { htpasswd: fixture },
      cache: { redisUrl: redis.url, keyPrefix: `limits-${process.pid}:` },
      limits: LIMITS,
    };
    a = await startForgegate(config);
    b = await startForgegate(config);
    for (let i = 0; i < 50 && !(a.runtime.redis?.status === 'up' && b.runtime.redis?.status === 'up'); i++)
      await new Promise((r) => setTimeout(r, 50));
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  test('failures on two replicas add up, and the ban holds on both', async () => {
    const ip = '192.0.2.1';
    await failTimes(a, 1, ip, 'nobody-6');
    await failTimes(b, 1, ip, 'nobody-6');
    await failTimes(a, 1, ip, 'nobody-6');
    assert.equal((await login(b, ip, 'alice', PASSWORD.alice)).status, 429, 'replica b sees the ban replica a started');
    assert.equal((await login(a, ip, 'alice', PASSWORD.alice)).status, 429);
  });

  test('a success on one replica forgives on the other', async () => {
    const ip = '192.0.2.2';
    await failTimes(a, LIMITS.failures - 1, ip, 'alice');
    assert.equal((await login(b, ip, 'alice', PASSWORD.alice)).status, 200);
    await failTimes(a, LIMITS.failures - 1, ip, 'alice');
    assert.equal((await login(a, ip, 'alice', PASSWORD.alice)).status, 200, 'the earlier failures were forgiven');
  });

  test('the warm path of a caller without failures spares Redis (one lookup a second, not three per request)', async () => {
    const { Redis } = await import('ioredis');
    const probe = new Redis(redis.url);
    const processed = async () => Number(/total_commands_processed:(\d+)/.exec(await probe.info('stats'))![1]);
    try {
      const ip = '192.0.2.9';
      assert.equal((await login(a, ip, 'alice', PASSWORD.alice)).status, 200);
      const before = await processed();
      const n = 50;
      for (let i = 0; i < n; i++) assert.equal((await login(a, ip, 'alice', PASSWORD.alice)).status, 200);
      const perRequest = ((await processed()) - before - 1) / n; // -1: the INFO itself
      assert.ok(perRequest < 2, `Redis commands per warm request: ${perRequest} (12 without the in-process memo)`);
    } finally {
      probe.disconnect();
    }
  });

  test('Redis down: fail open to a per-process limiter, never 5xx', async () => {
    await redis.kill();
    const ip = '192.0.2.3';
    assert.equal((await login(a, ip, 'alice', PASSWORD.alice)).status, 200, 'logins work without Redis');
    await failTimes(a, LIMITS.failures, ip, 'nobody-7');
    assert.equal((await login(a, ip, 'alice', PASSWORD.alice)).status, 429, 'the per-process limiter still bans');
    assert.equal(
      (await login(b, ip, 'alice', PASSWORD.alice)).status,
      200,
      'other replicas do not share it while Redis is down',
    );
    await redis.restart();
  });
});

describe('limits.enabled: false', () => {
  test('no bans', async () => {
    const fg = await startForgegate({
      users: { htpasswd: fixture },
      token: { service: SERVICE },
      limits: { ...LIMITS, enabled: false },
    });
    try {
      await failTimes(fg, LIMITS.failures + 2, '127.0.0.1', 'alice');
      assert.equal((await login(fg, '127.0.0.1', 'alice', PASSWORD.alice)).status, 200);
    } finally {
      await fg.stop();
    }
  });
});

describe('limits configuration', () => {
  test('defaults: on, 30 failures in 180 s, ban 900 s; the section is strict', async () => {
    const { parseConfig } = await import('../../src/config/load.js');
    const limits = { enabled: true, failures: 30, window: 180, ban: 900, anonymousForgeCalls: 60 };
    assert.deepEqual(parseConfig({}, {}, 'test').limits, limits);
    assert.throws(() => parseConfig({ limits: { failures: 5, banTime: 60 } }, {}, 'test'), /banTime/);
    assert.throws(() => parseConfig({ limits: { failures: 0 } }, {}, 'test'), /failures/);
  });
});
