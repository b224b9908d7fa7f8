import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FakeGitHub } from '../fakes/github.js';
import { FakeGitLab } from '../fakes/gitlab.js';
import { startForgegate, type TestForgegate } from '../support/forgegate.js';
import { granted, repo, tokenClient } from '../support/token-client.js';

// A refresh token (docker's identity token) carries a forge credential inside, encrypted for
// forgegate. Typed as a password with a username, it is no forge token: it must never be sent
// to a forge, least of all to another forge than the one whose credential it carries (that
// forge's operator could replay it to forgegate for the other forge's access).

const SERVICE = 'registry.test';
const github = new FakeGitHub();
const gitlab = new FakeGitLab();
const GH_TOKEN = 'ghp_refreshCrossQx7Zk2Lm9Pw4Rt6Yv8Nb3Jh5Gf1Dc0';
let fg: TestForgegate;
const client = tokenClient(SERVICE, () => fg);

before(async () => {
  await Promise.all([github.start(), gitlab.start()]);
  github.addUser({ login: 'dev' });
  github.addToken({ token: GH_TOKEN, kind: 'classic', user: 'dev', scopes: ['repo'] });
  github.addRepo({ full_name: 'dev/app' });
  gitlab.addProject({ path_with_namespace: 'group/app', visibility: 'public' });
  fg = await startForgegate({
    token: { service: SERVICE },
    forges: [
      { type: 'gitlab', url: gitlab.url },
      { type: 'github', url: github.url, prefix: 'gh/' },
    ],
  });
});

after(async () => {
  await fg?.stop();
  await Promise.all([github.stop(), gitlab.stop()]);
});

test('a refresh token typed with a username goes to no forge', async () => {
  const offline = await client.token('dev', GH_TOKEN, repo('gh/dev/app', 'pull'), fg, '&offline_token=true');
  const refreshToken = offline.body.refresh_token as string;
  assert.ok(refreshToken, 'a refresh token was issued');
  gitlab.resetCalls();
  github.resetCalls();
  const typed = await client.token('oauth2', refreshToken, repo('group/app', 'pull'));
  assert.equal(typed.status, 401, JSON.stringify(typed.body));
  assert.equal(gitlab.calls(), 0, 'GitLab never saw the GitHub refresh token');
  assert.equal(github.calls(), 0);
  const line = fg.logs().findLast((l) => l.msg === 'token request') as Record<string, any>;
  assert.match(line.reason, /the password is a forgegate refresh token/);
  // Presented as docker presents it, it works.
  const proper = await client.token('', refreshToken, repo('gh/dev/app', 'pull'));
  assert.deepEqual(proper.access, granted('gh/dev/app', 'pull'));
});
