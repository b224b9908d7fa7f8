import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeGitHub } from '../fakes/github.js';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import { startForgegate, type TestForgegate } from '../support/forgegate.js';
import { makeTempDir } from '../support/processes.js';
import { granted, repo, tokenClient } from '../support/token-client.js';

// What an attacker's pass over the authorization path tried that already held, kept as tests
// so that it keeps holding: refresh tokens across services and forges, odd scope syntax, the
// catalog under other spellings, a static account shadowing a forge user of the same name.

const SERVICE = 'registry.test';
const gitlab = new FakeGitLab();
const github = new FakeGitHub();
const ALICE_PAT = 'glpat-alice-review-Qx7Zk2Lm9Pw';
const ROOT_PAT = 'glpat-root-review-Qx7Zk2Lm9Pw4';
const GH_TOKEN = 'ghp_reviewDevQx7Zk2Lm9Pw4Rt6Yv8Nb3Jh5Gf1Dc0Sa';
let keyDir = '';
let fg: TestForgegate;
const client = tokenClient(SERVICE, () => fg);

const config = (overrides: Record<string, unknown> = {}) => ({
  token: { service: SERVICE, keyDir },
  users: { htpasswd: new URL('../fixtures/htpasswd', import.meta.url).pathname },
  acl: [
    { account: '*', name: 'team/**', actions: ['pull'] },
    { account: 'admin', type: 'registry', name: 'catalog', actions: ['*'] },
  ],
  forges: [
    { type: 'gitlab', url: gitlab.url, adminMode: false },
    { type: 'github', url: github.url, prefix: 'gh/' },
  ],
  ...overrides,
});

before(async () => {
  await Promise.all([gitlab.start(), github.start()]);
  keyDir = await makeTempDir('keys');
  const alice = gitlab.addUser({ username: 'alice' });
  const root = gitlab.addUser({ username: 'root', is_admin: true });
  gitlab.addProject({ path_with_namespace: 'group/app' });
  gitlab.addMember('group/app', alice.id, ACCESS.developer);
  gitlab.addToken({ token: ALICE_PAT, user_id: alice.id, scopes: ['api'] });
  gitlab.addToken({ token: ROOT_PAT, user_id: root.id, scopes: ['api'] });
  github.addUser({ login: 'dev' });
  github.addToken({ token: GH_TOKEN, kind: 'classic', user: 'dev', scopes: ['repo'] });
  github.addRepo({ full_name: 'dev/app' });
  fg = await startForgegate(config());
});

after(async () => {
  await fg?.stop();
  await Promise.all([gitlab.stop(), github.stop()]);
});

async function offlineToken(): Promise<string> {
  const answer = await client.token('dev', GH_TOKEN, repo('gh/dev/app', 'pull'), fg, '&offline_token=true');
  return answer.body.refresh_token as string;
}

describe('refresh tokens', () => {
  test('issued for one service, they open on no other, even with the same keys', async () => {
    const refreshToken = await offlineToken();
    const other = await startForgegate(config({ token: { service: 'other.registry', keyDir } }));
    try {
      const answer = await client.post(
        { grant_type: 'refresh_token', refresh_token: refreshToken, service: 'other.registry' },
        other,
      );
      assert.equal(answer.status, 401, JSON.stringify(answer.body));
    } finally {
      await other.stop();
    }
  });

  test('naming a forge that is no longer configured, they are refused', async () => {
    const refreshToken = await offlineToken();
    const gitlabOnly = await startForgegate(config({ forges: [{ type: 'gitlab', url: gitlab.url }] }));
    try {
      github.resetCalls();
      const answer = await client.post(
        { grant_type: 'refresh_token', refresh_token: refreshToken, scope: repo('dev/app', 'pull') },
        gitlabOnly,
      );
      assert.equal(answer.status, 401);
      assert.equal(github.calls(), 0);
    } finally {
      await gitlabOnly.stop();
    }
  });
});

describe('odd requests', () => {
  test('service twice with different values, 65 scopes, bad names and actions: 400, never a grant', async () => {
    const query = (q: string) => fetch(`${fg.url}/token?${q}`).then((r) => r.status);
    assert.equal(await query(`service=${SERVICE}&service=other`), 400);
    const many = Array.from({ length: 65 }, (_, i) => `scope=repository:r/n${i}:pull`);
    assert.equal(await query(`service=${SERVICE}&${many.join('&')}`), 400);
    const odd = ['group/../app:pull', 'group/%61pp:pull', 'Group/App:pull', 'group/app:'];
    odd.push('group/app:pull;push', 'group/app:pull:push');
    for (const scope of odd.map((text) => `repository:${text}`)) {
      assert.equal(await query(`service=${SERVICE}&scope=${encodeURIComponent(scope)}`), 400, scope);
    }
  });

  test('the catalog under other spellings gives nothing a non-admin did not have', async () => {
    for (const scope of ['registry:catalog:pull', 'registry(x):catalog:*', 'registry:catalog:*']) {
      assert.deepEqual((await client.token('oauth2', ALICE_PAT, scope)).access, [], `a GitLab developer, ${scope}`);
      assert.deepEqual(
        (await client.token('bob', 'bob-pass', scope)).access,
        [],
        `a static account without the rule, ${scope}`,
      );
    }
    const admin = await client.token('root', ROOT_PAT, 'registry(x):catalog:*');
    assert.deepEqual(
      admin.access,
      [{ type: 'registry', class: 'x', name: 'catalog', actions: ['*'] }],
      'an admin: the catalog, under the class asked',
    );
  });

  test('repository(plugin) scopes are judged as the same repository', async () => {
    const answer = await client.token('oauth2', ALICE_PAT, ['repository(plugin):group/app:pull,push,delete']);
    assert.deepEqual(answer.access, [
      { type: 'repository', class: 'plugin', name: 'group/app', actions: ['pull', 'push'] },
    ]);
  });

  test('a glob account rule never speaks for anonymous callers', async () => {
    assert.deepEqual((await client.token(null, null, repo('team/app', 'pull'))).access, []);
    assert.deepEqual(
      (await client.token('bob', 'bob-pass', repo('team/app', 'pull'))).access,
      granted('team/app', 'pull'),
    );
  });

  test('a static account shadows the forge user of its name: its password is checked, no forge asked', async () => {
    gitlab.resetCalls();
    const answer = await client.token('alice', ALICE_PAT, repo('group/app', 'pull'));
    assert.equal(answer.status, 401, 'alice is a static account: the GitLab token is a wrong password for it');
    assert.equal(gitlab.calls(), 0);
    assert.equal(
      (await client.token('oauth2', ALICE_PAT, repo('group/app', 'pull'))).status,
      200,
      'under any other name the token works',
    );
  });
});
