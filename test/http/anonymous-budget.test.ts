import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeGitHub } from '../fakes/github.js';
import { FakeGitLab } from '../fakes/gitlab.js';
import { lastAudit as lastLine } from '../support/assertions.js';
import { basic, startForgegate, type TestForgegate } from '../support/forgegate.js';
import { repo } from '../support/token-client.js';

// Requests without credentials are judged with the service token, whose quota everyone shares
// (GitHub: 5,000 an hour; per address 60 without a token). Two bounds keep anybody who never
// authenticated from spending it: one request has at most 16 images judged by forges (the rest
// are denied with a reason, without a forge call), and each address gets a budget of forge
// calls a minute (limits.anonymousForgeCalls) for what is judged as for anyone (no credential
// of the image's forge), counted as they are made; past it, 429 with Retry-After and no forge
// call. Through the real octokit and gitbeaker clients.

const SERVICE = 'registry.test';
const github = new FakeGitHub({ limit: 40 });
const gitlab = new FakeGitLab();
const SERVICE_TOKEN = 'ghp_serviceBotQx7Zk2Lm9Pw4Rt6Yv8Nb3Jh5Gf1Dc0Sa';
const GITLAB_SERVICE = 'glpat-service-budget-Qx7Zk2Lm9';
const USER_TOKEN = 'ghp_userBudgetQx7Zk2Lm9Pw4Rt6Yv8Nb3Jh5Gf1Dc0S';

before(async () => {
  await Promise.all([github.start(), gitlab.start()]);
  github.addUser({ login: 'forgegate-bot' });
  github.addUser({ login: 'dev' });
  github.addToken({ token: SERVICE_TOKEN, kind: 'classic', user: 'forgegate-bot', scopes: ['repo'] });
  github.addToken({ token: USER_TOKEN, kind: 'classic', user: 'dev', scopes: ['repo'] });
  github.addOrg({ login: 'acme' });
  for (let i = 0; i < 80; i++) github.addRepo({ full_name: `acme/lib-${i}`, visibility: 'public' });
  const bot = gitlab.addUser({ username: 'forgegate-bot', is_admin: true, bot: true });
  gitlab.addToken({ token: GITLAB_SERVICE, user_id: bot.id, scopes: ['read_api'] });
  for (let i = 0; i < 20; i++) gitlab.addProject({ path_with_namespace: `group/lib-${i}`, visibility: 'public' });
});

after(async () => {
  await Promise.all([github.stop(), gitlab.stop()]);
});

async function start(anonymousForgeCalls: number): Promise<TestForgegate> {
  return startForgegate({
    server: { trustProxy: true },
    token: { service: SERVICE },
    cache: { identityTtl: 60, decisionTtl: 60, negativeTtl: 10 },
    forges: [
      { type: 'github', url: github.url, prefix: 'gh/', serviceToken: SERVICE_TOKEN },
      { type: 'gitlab', url: gitlab.url, prefix: 'gl/', serviceToken: GITLAB_SERVICE },
    ],
    limits: { anonymousForgeCalls },
  });
}

async function ask(fg: TestForgegate, ip: string, scopes: string[], auth?: string) {
  const query = new URLSearchParams({ service: SERVICE });
  for (const scope of scopes) query.append('scope', scope);
  const headers: Record<string, string> = { 'X-Forwarded-For': ip };
  if (auth) headers.Authorization = auth;
  const response = await fetch(`${fg.url}/token?${query}`, { headers });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

/** The status of a pull of one image. */
async function pull(fg: TestForgegate, ip: string, image: string, auth?: string): Promise<number> {
  return (await ask(fg, ip, [repo(image, 'pull')], auth)).status;
}

describe('one request: at most 16 images judged by forges', () => {
  let fg: TestForgegate;
  before(async () => {
    fg = await start(1000);
  });
  after(() => fg?.stop());

  test('64 scopes cost 16 lookups; the rest are denied with a reason, without a forge call', async () => {
    github.resetCalls();
    github.resetRateLimits();
    const scopes = Array.from({ length: 64 }, (_, i) => repo(`gh/acme/lib-${i}`, 'pull'));
    const answer = await ask(fg, '198.51.100.10', scopes);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(github.calls('GET /repos/:owner/:repo'), 16, 'one lookup for each of the first 16 images');
    assert.equal(github.quotaUsed(SERVICE_TOKEN), 16, "the service token's quota paid for 16");
    const line = lastLine(fg);
    assert.equal(line.granted.length, 16, 'the first 16 public images are granted');
    assert.deepEqual(line.granted[0], 'repository:gh/acme/lib-0:pull');
    const denied = line.denied as string[];
    assert.equal(denied.length, 48);
    const notJudged = 'not judged: one request may name at most 16 images served by forges';
    assert.equal(denied[0], `gh/acme/lib-16: pull denied: ${notJudged}; ask for gh/acme/lib-16 in another request`);
  });

  test('the same holds for a logged-in caller, and for GitLab images (several candidate paths each)', async () => {
    gitlab.resetCalls();
    const scopes = Array.from({ length: 20 }, (_, i) => repo(`gl/group/lib-${i}/a/b`, 'pull'));
    const answer = await ask(fg, '198.51.100.11', scopes, basic('dev', USER_TOKEN));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.ok(gitlab.calls('GET /projects/:id') <= 16 * 3, `GitLab lookups: ${gitlab.calls('GET /projects/:id')}`);
    assert.equal(lastLine(fg).granted.length, 16);
  });
});

describe('callers without credentials: a budget of forge calls per address', () => {
  const BUDGET = 5;
  let fg: TestForgegate;
  before(async () => {
    fg = await start(BUDGET);
    github.resetRateLimits();
  });
  after(() => fg?.stop());

  test('past the budget: 429 JSON with Retry-After, and no forge call', async () => {
    const ip = '203.0.113.5';
    github.resetCalls();
    for (let i = 0; i < BUDGET; i++) assert.equal(await pull(fg, ip, `gh/acme/lib-${i}`), 200, `call ${i + 1}`);
    assert.equal(github.calls(), BUDGET);
    const refused = await ask(fg, ip, [repo('gh/acme/lib-50', 'pull')]);
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.errors[0].code, 'TOOMANYREQUESTS');
    const message = refused.body.errors[0].message as string;
    assert.match(message, /^too many forge lookups without credentials of the forge from this address; /);
    assert.match(message, /; log in, or retry in \d+ seconds$/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${refused.headers.get('retry-after')}`);
    assert.equal(github.calls(), BUDGET, 'the refused request made no forge call');
    assert.equal(lastLine(fg).outcome, 'throttled');
  });

  test('what needs no forge call is answered; logged-in callers and other addresses are not held back', async () => {
    const ip = '203.0.113.5';
    github.resetCalls();
    assert.equal(await pull(fg, ip, 'gh/acme/lib-0'), 200, 'cached: no forge call, nothing spent');
    const dev = basic('dev', USER_TOKEN);
    assert.equal(await pull(fg, ip, 'gh/acme/lib-51', dev), 200, 'a logged-in caller from that address');
    assert.equal((await ask(fg, '203.0.113.6', [repo('gh/acme/lib-52', 'pull')])).status, 200, 'another address');
    assert.equal(await pull(fg, ip, 'gh/acme/lib-53'), 429, 'still spent for anonymous requests from the first');
  });

  test("another forge's credential counts for nothing here: a GitHub login's GitLab lookups are metered", async () => {
    const ip = '203.0.113.12';
    gitlab.resetCalls();
    let refused = 0;
    const dev = basic('dev', USER_TOKEN);
    for (let i = 0; i < 12; i++) if ((await pull(fg, ip, `gl/group/lib-${i}`, dev)) === 429) refused++;
    const lookups = gitlab.calls('GET /projects/:id');
    assert.ok(lookups <= BUDGET, `GitLab lookups on its service token: ${lookups}`);
    assert.ok(refused >= 12 - BUDGET, `refused: ${refused}`);
    const images = Array.from({ length: 8 }, (_, i) => repo(`gh/acme/lib-${20 + i}`, 'pull'));
    const own = await ask(fg, ip, images, basic('dev', USER_TOKEN));
    assert.equal(own.status, 200, 'its own forge, on its own token: not metered');
  });

  test("a stream of anonymous requests from one address cannot spend the service token's quota", async () => {
    github.resetRateLimits();
    const ip = '203.0.113.7';
    let refused = 0;
    for (let i = 0; i < 60; i++) {
      const scopes = [repo(`gh/acme/lib-${i % 80}`, 'pull'), repo(`gh/acme/lib-${(i + 17) % 80}`, 'pull')];
      if ((await ask(fg, ip, scopes)).status === 429) refused++;
    }
    assert.ok(refused > 50, `refused: ${refused}`);
    const used = github.quotaUsed(SERVICE_TOKEN);
    assert.ok(used <= BUDGET, `service token calls: ${used} of its 40`);
    const elsewhere = await ask(fg, '203.0.113.8', [repo('gh/acme/lib-79', 'pull')]);
    assert.equal(elsewhere.status, 200, 'an anonymous pull from another address still works');
  });

  test('IPv6 addresses draw on the budget of their /64: a host cannot rotate its way around it', async () => {
    for (let i = 1; i <= BUDGET; i++) assert.equal(await pull(fg, `2001:db8:a:b::${i}`, `gh/acme/lib-${30 + i}`), 200);
    assert.equal(await pull(fg, '2001:db8:a:b:ffff:1:2:3', 'gh/acme/lib-40'), 429, 'another address of the same /64');
    assert.equal(await pull(fg, '2001:db8:a:c::1', 'gh/acme/lib-40'), 200, 'the next /64');
  });

  test('POST /explain without credentials draws on the same budget', async () => {
    const ip = '203.0.113.9';
    const explain = (image: string) =>
      fetch(`${fg.url}/explain`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': ip },
        body: JSON.stringify({ image }),
      });
    for (let i = 0; i < BUDGET; i++) assert.equal((await explain(`gh/acme/lib-${60 + i}`)).status, 200);
    const refused = await explain('gh/acme/lib-70');
    assert.equal(refused.status, 429);
    assert.ok(refused.headers.get('retry-after'), 'Retry-After');
  });
});

describe('limits.anonymousForgeCalls', () => {
  test('defaults to 60 a minute; at least 1', async () => {
    const { parseConfig } = await import('../../src/config/load.js');
    assert.equal(parseConfig({}, {}, 'test').limits.anonymousForgeCalls, 60);
    assert.throws(() => parseConfig({ limits: { anonymousForgeCalls: 0 } }, {}, 'test'), /limits\.anonymousForgeCalls/);
  });
});
