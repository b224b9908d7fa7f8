import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { after, before, describe, test } from 'node:test';
import { FakeGitHub } from '../fakes/github.js';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import { basic, startForgegate, type TestForgegate } from '../support/forgegate.js';
import { makeTempDir } from '../support/processes.js';
import { repo } from '../support/token-client.js';

// A forge ignores the username of a token login, so many callers share the same few:
// `oauth2` (what our docs suggest), `x-access-token`, anything. Nothing forgegate keeps may
// be keyed by that free text: failed logins count per address and per credential (so one
// address cannot ban `oauth2` for everyone), and the verified-credential cache is keyed by
// what the forge reads (so a new username does not make a known token cold again). Only
// the kind of credential a username selects matters (GitLab's `gitlab-ci-token`).

const SERVICE = 'registry.test';
const LIMITS = { failures: 3, window: 60, ban: 120 };
const gitlab = new FakeGitLab();
const github = new FakeGitHub();
/** Many callers, one username each way: GitLab users log in as oauth2, GitHub users as x-access-token. */
const glTokens: string[] = [];
const ghTokens: string[] = [];
let jobToken = '';

before(async () => {
  await Promise.all([gitlab.start(), github.start()]);
  gitlab.addProject({ path_with_namespace: 'team/app' });
  github.addOrg({ login: 'acme' });
  github.addRepo({ full_name: 'acme/app' });
  const users = [];
  for (let i = 0; i < 4; i++) {
    const user = gitlab.addUser({ username: `dev-${i}` });
    users.push(user);
    gitlab.addMember('team/app', user.id, ACCESS.developer);
    const glToken = gitlab.addToken({ token: `glpat-shared-${i}-Qx7Zk2Lm9Pw4Rt`, user_id: user.id, scopes: ['api'] });
    glTokens.push(glToken.token);
    github.addUser({ login: `octo-${i}` });
    github.addOrgMember('acme', `octo-${i}`);
    const ghToken = `ghp_shared${i}Qx7Zk2Lm9Pw4Rt6Yv8Nb3Jh5Gf1Dc0Sa`;
    ghTokens.push(github.addToken({ token: ghToken, kind: 'classic', user: `octo-${i}`, scopes: ['repo'] }).token);
  }
  const job = gitlab.addJob({ token: 'glcbt-64_shared-job-Qx7Zk2Lm9', project: 'team/app', user_id: users[0]!.id });
  jobToken = job.token;
});

after(async () => {
  await Promise.all([gitlab.stop(), github.stop()]);
});

function forges() {
  return [
    { type: 'gitlab', url: gitlab.url },
    { type: 'github', url: github.url, prefix: 'gh/' },
  ];
}

type Answer = { status: number; message: string };

async function login(fg: TestForgegate, ip: string, user: string, password: string, scope = ''): Promise<Answer> {
  const query = new URLSearchParams({ service: SERVICE });
  if (scope) query.append('scope', scope);
  const response = await fetch(`${fg.url}/token?${query}`, {
    headers: { Authorization: basic(user, password), 'X-Forwarded-For': ip },
  });
  const body = (await response.json()) as any;
  return { status: response.status, message: body.errors?.[0]?.message ?? '' };
}

describe('bans on shared usernames', () => {
  let fg: TestForgegate;
  before(async () => {
    fg = await startForgegate({
      server: { trustProxy: true },
      token: { service: SERVICE },
      users: { htpasswd: new URL('../fixtures/htpasswd', import.meta.url).pathname },
      forges: forges(),
      limits: LIMITS,
    });
  });
  after(() => fg?.stop());

  test('failed logins as oauth2 from one address ban that address, not oauth2 for every user everywhere', async () => {
    const attacker = '198.51.100.66';
    for (let i = 0; i < LIMITS.failures; i++) {
      assert.equal((await login(fg, attacker, 'oauth2', `glpat-wrong-${i}-Qx7Zk2Lm9`)).status, 401);
    }
    const banned = await login(fg, attacker, 'oauth2', glTokens[0]!);
    assert.equal(banned.status, 429, 'the attacking address is banned');
    assert.match(banned.message, /from this address/);
    for (let i = 0; i < glTokens.length; i++) {
      const answer = await login(fg, `203.0.113.${10 + i}`, 'oauth2', glTokens[i]!, repo('team/app', 'pull,push'));
      assert.equal(answer.status, 200, `GitLab user ${i} logging in as oauth2 from elsewhere: ${answer.message}`);
    }
  });

  test('the same for x-access-token on GitHub', async () => {
    const attacker = '198.51.100.67';
    for (let i = 0; i < LIMITS.failures; i++) {
      assert.equal(
        (await login(fg, attacker, 'x-access-token', `ghp_wrong${i}Qx7Zk2Lm9Pw4Rt6Yv8Nb3Jh5Gf1Dc0S`)).status,
        401,
      );
    }
    assert.equal((await login(fg, attacker, 'x-access-token', ghTokens[0]!)).status, 429);
    for (let i = 0; i < ghTokens.length; i++) {
      const answer = await login(
        fg,
        `203.0.113.${20 + i}`,
        'x-access-token',
        ghTokens[i]!,
        repo('gh/acme/app', 'pull'),
      );
      assert.equal(
        answer.status,
        200,
        `GitHub user ${i} logging in as x-access-token from elsewhere: ${answer.message}`,
      );
    }
  });

  test('a bad credential tried from many addresses is banned as a credential; its username is not', async () => {
    const stale = 'glpat-revoked-in-a-ci-loop-Qx7Zk2';
    for (let i = 0; i < LIMITS.failures; i++) {
      assert.equal((await login(fg, `192.0.2.${100 + i}`, 'oauth2', stale)).status, 401);
    }
    const refused = await login(fg, '192.0.2.200', 'oauth2', stale);
    assert.equal(refused.status, 429, 'that credential, from a fresh address');
    assert.match(refused.message, /with this credential/);
    assert.equal(
      (await login(fg, '192.0.2.200', 'anyone-else', stale)).status,
      429,
      'whatever username it is typed with',
    );
    assert.equal(
      (await login(fg, '192.0.2.200', 'oauth2', glTokens[1]!)).status,
      200,
      'another credential under the same username, from that address',
    );
    assert.equal(
      (await login(fg, '192.0.2.201', 'oauth2', 'glpat-another-bad-one-Qx7Zk2')).status,
      401,
      'another bad credential is merely refused',
    );
  });

  test("one's own valid token under the shared username does not forgive a spray from that address", async () => {
    const sprayer = '198.51.100.68';
    for (let i = 0; i < LIMITS.failures - 1; i++) {
      assert.equal((await login(fg, sprayer, 'oauth2', `glpat-spray-${i}-Qx7Zk2Lm9`)).status, 401);
    }
    assert.equal(
      (await login(fg, sprayer, 'oauth2', glTokens[2]!)).status,
      200,
      'the sprayer logs in with a token of its own',
    );
    assert.equal((await login(fg, sprayer, 'oauth2', 'glpat-spray-last-Qx7Zk2Lm9')).status, 401);
    assert.equal(
      (await login(fg, sprayer, 'oauth2', glTokens[2]!)).status,
      429,
      'three failures from the address: banned',
    );
  });

  test('static accounts, names forgegate owns, are still counted and banned as accounts', async () => {
    for (let i = 0; i < LIMITS.failures; i++) {
      assert.equal((await login(fg, `192.0.2.${150 + i}`, 'bob', `not-bobs-${i}`)).status, 401);
    }
    const refused = await login(fg, '192.0.2.250', 'bob', 'still-not-bobs');
    assert.equal(refused.status, 429);
    assert.match(refused.message, /for this account/);
  });

  test('the counters hold no username and no secret', async () => {
    // rate-limiter-flexible's in-memory store: the keys Redis would hold.
    const storage = (fg.guard as any).limiter._memoryStorage._storage as Map<string, unknown>;
    assert.ok(storage.size > 0, 'failures were counted');
    const keys = [...storage.keys()].join('\n');
    assert.match(keys, /credential:/, 'forge-token failures are counted per credential');
    for (const text of ['oauth2', 'x-access-token', 'glpat-', 'ghp_', 'revoked']) {
      assert.ok(!keys.includes(text), `"${text}" in a limiter key`);
    }
  });
});

describe('the credential cache is keyed by what the forge reads', () => {
  let fg: TestForgegate;
  before(async () => {
    const cache = { identityTtl: 60, decisionTtl: 60, negativeTtl: 10 };
    fg = await startForgegate({ token: { service: SERVICE }, forges: forges(), cache });
  });
  after(() => fg?.stop());

  const get = async (user: string, password: string, scope: string) => {
    const query = new URLSearchParams({ service: SERVICE, scope });
    const response = await fetch(`${fg.url}/token?${query}`, { headers: { Authorization: basic(user, password) } });
    return response.status;
  };

  test('a GitLab token logged in with 30 usernames is verified once', async () => {
    gitlab.resetCalls();
    for (let i = 0; i < 30; i++) assert.equal(await get(`name-${i}`, glTokens[2]!, repo('team/app', 'pull')), 200);
    assert.equal(gitlab.calls('GET /personal_access_tokens/self'), 1, 'one verification for 30 usernames');
    assert.equal(gitlab.calls('GET /projects/:id'), 1, 'and one project lookup');
  });

  test('a GitHub token logged in with 30 usernames is verified once', async () => {
    github.resetCalls();
    for (let i = 0; i < 30; i++) assert.equal(await get(`name-${i}`, ghTokens[2]!, repo('gh/acme/app', 'pull')), 200);
    assert.equal(github.calls('GET /user'), 1, 'one verification for 30 usernames');
  });

  test('the kind of credential still matters: refused as a job token is not refused as a personal token', async () => {
    assert.equal(
      await get('gitlab-ci-token', glTokens[3]!, repo('team/app', 'pull')),
      401,
      'a personal token is no job token',
    );
    assert.equal(
      await get('oauth2', glTokens[3]!, repo('team/app', 'pull')),
      200,
      'the rejection of the job-token kind is not remembered for it',
    );
    assert.equal(await get('gitlab-ci-token', jobToken, repo('team/app', 'pull')), 200, 'the job token');
    assert.equal(
      await get('oauth2', jobToken, repo('team/app', 'pull')),
      401,
      'a job token typed without gitlab-ci-token is not one',
    );
  });
});

describe('a static account named like the job-token user', () => {
  test('is a password like any other: counted and banned, not waved through as CI', async () => {
    const file = join(await makeTempDir('htpasswd'), 'htpasswd');
    await writeFile(file, `gitlab-ci-token:${bcrypt.hashSync('robot-pass', 4)}\n`);
    const base = { server: { trustProxy: true }, token: { service: SERVICE }, forges: forges(), limits: LIMITS };
    const fg = await startForgegate({ ...base, users: { htpasswd: file } });
    try {
      for (let i = 0; i < LIMITS.failures; i++) {
        assert.equal((await login(fg, `192.0.2.${30 + i}`, 'gitlab-ci-token', `guess-${i}`)).status, 401);
      }
      const refused = await login(fg, '192.0.2.40', 'gitlab-ci-token', 'robot-pass');
      assert.equal(refused.status, 429, 'the account is banned after its failures');
      assert.match(refused.message, /for this account/);
    } finally {
      await fg.stop();
    }
  });
});
