import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeGitHub } from '../fakes/github.js';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import { startForgegate, type TestForgegate } from '../support/forgegate.js';
import { repo, tokenClient } from '../support/token-client.js';

// Static ACL rules are for static (htpasswd) accounts, and for anonymous callers where a rule
// names "": a GitLab or GitHub user whose login equals an ACL account never gets its rules.
// The catalog of a forge caller is its forge's to judge: instance admins only, and only
// through a token whose scopes reach the registry (a GitLab `read_user` token, a GitHub
// fine-grained token list nothing). Through the real gitbeaker and octokit clients.

const SERVICE = 'registry.test';
const CATALOG = 'registry:catalog:*';
const CATALOG_GRANT = [{ type: 'registry', name: 'catalog', actions: ['*'] }];
const gitlab = new FakeGitLab();
const github = new FakeGitHub();
let fg: TestForgegate;
const { token } = tokenClient(SERVICE, () => fg);

const gl = {
  // A GitLab user who happens to carry the name of the ACL's admin account.
  namesake: 'glpat-namesake-acl-Qx7Zk2Lm9Pw4',
  rootReadUser: 'glpat-root-read-user-Qx7Zk2Lm9',
  rootReadRegistry: 'glpat-root-read-registry-Qx7Zk',
  rootApi: 'glpat-root-api-Qx7Zk2Lm9Pw4Rt6Y',
};
const gh = {
  namesake: 'ghp_namesakeAclQx7Zk2Lm9Pw4Rt6Yv8Nb3Jh5Gf1Dc',
  siteAdminFine: 'github_pat_siteAdminFineQx7Zk2Lm9Pw4Rt6Yv8Nb3',
  siteAdminPackages: 'ghp_siteAdminPackagesQx7Zk2Lm9Pw4Rt6Yv8Nb3J',
  siteAdminGist: 'ghp_siteAdminGistQx7Zk2Lm9Pw4Rt6Yv8Nb3Jh5Gf',
};

before(async () => {
  const [gitlabUrl, githubUrl] = await Promise.all([gitlab.start(), github.start()]);
  const namesake = gitlab.addUser({ username: 'registry-admin' });
  const root = gitlab.addUser({ username: 'root', is_admin: true });
  const bot = gitlab.addUser({ username: 'forgegate-bot', is_admin: true, bot: true });
  gitlab.addProject({ path_with_namespace: 'team/app' });
  gitlab.addMember('team/app', namesake.id, ACCESS.reporter);
  gitlab.addToken({ token: gl.namesake, user_id: namesake.id, scopes: ['read_user'] });
  gitlab.addToken({ token: gl.rootReadUser, user_id: root.id, scopes: ['read_user'] });
  gitlab.addToken({ token: gl.rootReadRegistry, user_id: root.id, scopes: ['read_registry'] });
  gitlab.addToken({ token: gl.rootApi, user_id: root.id, scopes: ['api'] });
  gitlab.addToken({ token: 'glpat-service-acl-Qx7Zk2Lm9Pw', user_id: bot.id, scopes: ['read_api'] });

  github.addUser({ login: 'registry-admin' });
  github.addUser({ login: 'octo-admin', site_admin: true });
  github.addToken({ token: gh.namesake, kind: 'classic', user: 'registry-admin', scopes: ['gist'] });
  github.addToken({ token: gh.siteAdminFine, kind: 'fine_grained', user: 'octo-admin' });
  github.addToken({ token: gh.siteAdminPackages, kind: 'classic', user: 'octo-admin', scopes: ['read:packages'] });
  github.addToken({ token: gh.siteAdminGist, kind: 'classic', user: 'octo-admin', scopes: ['gist'] });

  fg = await startForgegate({
    token: { service: SERVICE },
    users: { htpasswd: new URL('../fixtures/htpasswd', import.meta.url).pathname },
    acl: [
      { account: 'registry-admin', type: 'registry', name: 'catalog', actions: ['*'] },
      { account: 'registry-admin', name: '**', actions: ['*'] },
      { account: 'admin', type: 'registry', name: 'catalog', actions: ['*'] },
      { account: '', type: 'registry', name: 'catalog', actions: ['*'] },
    ],
    forges: [
      { type: 'gitlab', url: gitlabUrl, adminMode: false, serviceToken: 'glpat-service-acl-Qx7Zk2Lm9Pw' },
      { type: 'github', url: githubUrl, prefix: 'gh/' },
    ],
  });
});

after(async () => {
  await fg?.stop();
  await Promise.all([gitlab.stop(), github.stop()]);
});

describe('ACL rules do not follow names onto forge users', () => {
  test('a GitLab user named like the ACL admin account gets neither its catalog nor its images', async () => {
    const answer = await token('registry-admin', gl.namesake, [CATALOG, repo('team/app'), repo('gh/any/thing')]);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, [], 'a read_user token earns nothing, by rule or by name');
    const line = fg.logs().findLast((l) => l.msg === 'token request') as Record<string, any>;
    assert.equal(line.subject, 'registry-admin');
    assert.ok(
      (line.denied as string[]).some((d) => d.startsWith('catalog: *') && /grant no registry access/.test(d)),
      JSON.stringify(line.denied),
    );
  });

  test('a GitHub user named like the ACL admin account gets no catalog either', async () => {
    const answer = await token('registry-admin', gh.namesake, CATALOG);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, []);
  });

  test('the static account of that name keeps its rules, and anonymous callers the rule for ""', async () => {
    assert.deepEqual((await token('admin', 'admin-pass', CATALOG)).access, CATALOG_GRANT, 'static admin');
    assert.deepEqual((await token(null, null, CATALOG)).access, CATALOG_GRANT, 'anonymous, where a rule says so');
  });
});

describe("a forge admin's catalog goes through the token's scope gate first", () => {
  test('GitLab: read_user lists nothing; read_registry and api do', async () => {
    assert.deepEqual((await token('root', gl.rootReadUser, CATALOG)).access, [], 'read_user');
    assert.deepEqual((await token('root', gl.rootReadRegistry, CATALOG)).access, CATALOG_GRANT, 'read_registry');
    assert.deepEqual((await token('root', gl.rootApi, CATALOG)).access, CATALOG_GRANT, 'api');
  });

  test('GitHub: a site admin lists it with a classic packages token, not a fine-grained or gist-only one', async () => {
    assert.deepEqual((await token('octo-admin', gh.siteAdminPackages, CATALOG)).access, CATALOG_GRANT, 'read:packages');
    assert.deepEqual((await token('octo-admin', gh.siteAdminFine, CATALOG)).access, [], 'fine-grained');
    assert.deepEqual((await token('octo-admin', gh.siteAdminGist, CATALOG)).access, [], 'gist');
  });
});
