import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeGitHub } from '../fakes/github.js';
import { FakeGitLab } from '../fakes/gitlab.js';
import { startForgegate, type TestForgegate } from '../support/forgegate.js';

// POST /explain for callers without credentials (or without a credential of the image's
// forge). The forge looks with its service token, which sees private projects and follows
// renames: the page must not let such a caller tell a private repository from an absent one,
// nor learn any name but the one it asked about. One answer for every case; the audit line
// keeps the forge's own reasons for the operator.

const SERVICE = 'registry.test';
const github = new FakeGitHub();
const gitlab = new FakeGitLab();
const GITLAB_USER_TOKEN = 'glpat-explain-anon-Qx7Zk2Lm9';
const GITHUB_SERVICE = 'ghp_serviceExplainQx7Zk2Lm9Pw4Rt6Yv8Nb3Jh5Gf1';
let fg: TestForgegate;

before(async () => {
  await Promise.all([github.start(), gitlab.start()]);
  github.addUser({ login: 'forgegate-bot' });
  github.addToken({ token: GITHUB_SERVICE, kind: 'classic', user: 'forgegate-bot', scopes: ['repo'] });
  github.addOrg({ login: 'acme' });
  github.addOrgMember('acme', 'forgegate-bot'); // the service token sees the organisation's private repositories
  github.addRepo({ full_name: 'acme/private-app', visibility: 'private' });
  github.addRepo({ full_name: 'Acme/Public-Lib', visibility: 'public' });
  const bot = gitlab.addUser({ username: 'forgegate-bot', is_admin: true, bot: true });
  gitlab.addToken({ token: 'glpat-service-explain-Qx7Zk2', user_id: bot.id, scopes: ['read_api'] });
  const user = gitlab.addUser({ username: 'gitlab-user' });
  gitlab.addToken({ token: GITLAB_USER_TOKEN, user_id: user.id, scopes: ['api'] });
  gitlab.addProject({ path_with_namespace: 'group/private-app', visibility: 'private' });
  fg = await startForgegate({
    token: { service: SERVICE },
    forges: [
      { type: 'github', url: github.url, prefix: 'gh/', serviceToken: GITHUB_SERVICE },
      { type: 'gitlab', url: gitlab.url, serviceToken: 'glpat-service-explain-Qx7Zk2' },
    ],
  });
});

after(async () => {
  await fg?.stop();
  await Promise.all([github.stop(), gitlab.stop()]);
});

async function explain(image: string, username = '', password = ''): Promise<Record<string, any>> {
  const response = await fetch(`${fg.url}/explain`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password, image }),
  });
  assert.equal(response.status, 200);
  return (await response.json()) as Record<string, any>;
}

/** The verdicts with the image's own name replaced, so that two images' answers compare. */
function shape(body: Record<string, any>): unknown {
  return JSON.stringify(body.verdicts).split(body.repository).join('<image>');
}

describe('one answer for "private" and "absent"', () => {
  test('GitHub with a service token: a private repository reads exactly like one that does not exist', async () => {
    const hidden = await explain('gh/acme/private-app');
    const absent = await explain('gh/acme/no-such-app');
    assert.equal(hidden.authenticated, true);
    assert.equal(hidden.identity.kind, 'anonymous');
    assert.deepEqual(shape(hidden), shape(absent));
    for (const verdict of hidden.verdicts) assert.equal(verdict.granted, false);
    assert.match(
      hidden.verdicts[0].reason,
      /^pull denied: nothing lets a caller without a credential of this forge pull gh\/acme\/private-app/,
    );
    // The operator still sees why.
    const lines = fg
      .logs()
      .filter((l) => l.explain === true)
      .slice(-2) as Record<string, any>[];
    assert.match(lines[0]!.denied[0], /acme\/private-app is not public/);
    assert.match(lines[1]!.denied[0], /no GitHub repository acme\/no-such-app/);
  });

  test('GitLab with a service token: the same', async () => {
    assert.deepEqual(shape(await explain('group/private-app')), shape(await explain('group/no-such-app')));
  });

  test('a GitLab user asking about GitHub images is anonymous there, and gets the same one answer', async () => {
    const hidden = await explain('gh/acme/private-app', 'gitlab-user', GITLAB_USER_TOKEN);
    const absent = await explain('gh/acme/no-such-app', 'gitlab-user', GITLAB_USER_TOKEN);
    assert.equal(hidden.identity.subject, 'gitlab-user');
    assert.deepEqual(shape(hidden), shape(absent));
  });

  test("what anyone may do is granted in words naming only the image asked about, not the forge's name", async () => {
    const body = await explain('gh/acme/public-lib');
    const pull = body.verdicts.find((v: { action: string }) => v.action === 'pull');
    assert.deepEqual(pull, {
      action: 'pull',
      granted: true,
      rule: 'anonymous',
      reason: 'pull granted: anyone may pull gh/acme/public-lib',
    });
    assert.ok(
      !JSON.stringify(body.verdicts).includes('Acme/Public-Lib'),
      "the forge's own spelling of the name is not shown",
    );
  });
});
