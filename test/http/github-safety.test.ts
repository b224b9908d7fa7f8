import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeGitHub, type GitHubToken } from '../fakes/github.js';
import { assertDenied, lastAuditOf } from '../support/assertions.js';
import { startForgegate, type TestForgegate } from '../support/forgegate.js';
import { tokenMinter } from '../support/github-tokens.js';
import { granted, repo, tokenClient } from '../support/token-client.js';

// Access safety on GitHub, over real HTTP through octokit against a FakeGitHub that behaves
// like GitHub where a naive fake would not: read-only installation tokens listed like writing
// ones, fine-grained and App user tokens shown their user's role, renamed and transferred
// repositories answering 301. Each test names the way in it closes.

const SERVICE = 'registry.test';
const gh = new FakeGitHub();

/** Defaults: installationTokenPush [], trustUserTokenRole false. */
let fg: TestForgegate;
/** installationTokenPush: [acme/app, acme/old], trustUserTokenRole: true. */
let fgOptIn: TestForgegate;
/** A serviceToken for anonymous lookups. */
let fgService: TestForgegate;
/** Verified credentials cached for a minute, decisions not: what a session remembers, reused. */
let fgCached: TestForgegate;

const m = buildModel(gh);

before(async () => {
  const url = await gh.start();
  const start = (extra: Record<string, unknown>) =>
    startForgegate({ token: { service: SERVICE }, forges: [{ type: 'github', url, ...extra }] });
  fg = await start({});
  fgOptIn = await start({ installationTokenPush: ['Acme/App', 'acme/old'], trustUserTokenRole: true });
  fgService = await start({ serviceToken: m.tokens.service.token });
  fgCached = await startForgegate({
    token: { service: SERVICE },
    cache: { identityTtl: 60 },
    forges: [{ type: 'github', url, installationTokenPush: ['acme/*'] }],
  });
});
after(async () => {
  await Promise.all([fg, fgOptIn, fgService, fgCached].map((f) => f?.stop()));
  await gh.stop();
});

function buildModel(g: FakeGitHub) {
  for (const login of ['wes', 'ada', 'rita', 'mallory', 'bot']) g.addUser({ login });
  g.addOrg({ login: 'acme', base_permission: 'none' });
  g.addRepo({ full_name: 'acme/app', collaborators: { wes: 'write', ada: 'admin', rita: 'read' } });
  g.addRepo({ full_name: 'acme/ci', collaborators: { wes: 'write' } });
  g.addRepo({ full_name: 'acme/old', archived: true });
  g.addRepo({ full_name: 'acme/site', visibility: 'public', collaborators: { wes: 'write' } });
  g.addRepo({ full_name: 'acme/tool', collaborators: { mallory: 'admin', wes: 'write' } });
  g.addRepo({ full_name: 'acme/before', collaborators: { wes: 'write' } });
  g.addRepo({ full_name: 'acme/pubtool', visibility: 'public' });
  g.addRepo({ full_name: 'acme/deploy' });
  g.addRepo({ full_name: 'wes/dotfiles' });

  const token = tokenMinter(g, 'Zq8Lm2Pw4Rt6Yv8Nb3Jh5Gf1Dc0Sa');
  const tokens = {
    service: token('classic', 'bot', { scopes: ['repo'] }),
    // 1. installation tokens: a writing and a read-only GITHUB_TOKEN of acme/app look the same
    installRw: token('installation', undefined, { repositories: ['acme/app'] }),
    installRo: token('installation', undefined, { repositories: ['acme/app'], permission: 'read' }),
    installCi: token('installation', undefined, { repositories: ['acme/ci'] }),
    installOld: token('installation', undefined, { repositories: ['acme/old'] }),
    installDeploy: token('installation', undefined, { repositories: ['acme/deploy'] }),
    // 2. fine-grained PATs: a read-only one of a writer, a writing one of an admin
    fineWesRo: token('fine_grained', 'wes', { repositories: ['acme/app'], permission: 'read' }),
    fineAda: token('fine_grained', 'ada', { repositories: ['acme/app'] }),
    // 2. App user tokens: the App's installation permission is known
    appWesRead: token('app_user', 'wes', {
      repositories: ['acme/app'],
      appPermissions: { metadata: 'read', contents: 'read', packages: 'read' },
    }),
    appWesWrite: token('app_user', 'wes', {
      repositories: ['acme/app'],
      appPermissions: { metadata: 'read', contents: 'write' },
    }),
    appAdaPackages: token('app_user', 'ada', {
      repositories: ['acme/app'],
      appPermissions: { metadata: 'read', packages: 'write' },
    }),
    appAdaContents: token('app_user', 'ada', {
      repositories: ['acme/app'],
      appPermissions: { metadata: 'read', contents: 'write' },
    }),
    // Its App is installed on wes's own account only: acme's repositories are out of its reach.
    appWesElsewhere: token('app_user', 'wes', { repositories: ['wes/dotfiles'] }),
    appRitaWrite: token('app_user', 'rita', {
      repositories: ['acme/app'],
      appPermissions: { metadata: 'read', contents: 'write', packages: 'write' },
    }),
    // An unprefixed (pre-2021 shaped) token that sends no X-OAuth-Scopes: what it was granted is unknown.
    legacyFine: g.addToken({
      token: '5e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f',
      kind: 'fine_grained',
      user: 'wes',
      repositories: ['acme/app'],
    }),
    // classic tokens keep their scope gate
    wes: token('classic', 'wes', { scopes: ['repo'] }),
    ada: token('classic', 'ada', { scopes: ['repo', 'delete:packages'] }),
    mallory: token('classic', 'mallory', { scopes: ['repo', 'delete:packages'] }),
  };
  return { tokens };
}

const client = tokenClient(SERVICE, () => fg);
const { token } = client;
const APP = 'acme/app/img';

const lastAudit = lastAuditOf(() => fg);

describe('1. installation tokens (GITHUB_TOKEN) pull only, unless installationTokenPush names the repository', () => {
  const install = (t: GitHubToken, scope: string, on = fg) => token('x-access-token', t.token, scope, on);

  test("a read-only GITHUB_TOKEN (a fork's pull request, Dependabot) gets pull only on its own repository", async () => {
    const answer = await install(m.tokens.installRo, repo(APP));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, granted(APP, 'pull'));
    assertDenied(fg, /push denied: .*installationTokenPush/);
  });

  test('a writing one cannot be told apart: pull only as well', async () => {
    assert.deepEqual((await install(m.tokens.installRw, repo(APP))).access, granted(APP, 'pull'));
    assert.deepEqual((await install(m.tokens.installRw, repo(APP, '*'))).access, granted(APP, 'pull'));
  });

  test('opted in (globs, any case): pull and push on the named own repository, never delete', async () => {
    const answer = await install(m.tokens.installRw, repo(APP, 'pull,push,delete'), fgOptIn);
    assert.deepEqual(answer.access, granted(APP, 'pull', 'push'));
    assertDenied(fgOptIn, 'installation tokens never delete');
  });

  test('opted in, but not for this repository: pull only', async () => {
    const answer = await install(m.tokens.installCi, repo('acme/ci/img'), fgOptIn);
    assert.deepEqual(answer.access, granted('acme/ci/img', 'pull'));
    assertDenied(fgOptIn, /installationTokenPush/);
  });

  test("a named repository that is not the token's own: nothing (the name list only narrows)", async () => {
    const answer = await install(m.tokens.installCi, repo(APP), fgOptIn);
    assert.deepEqual(answer.access, []);
  });

  test('opted in and archived: pull only', async () => {
    const answer = await install(m.tokens.installOld, repo('acme/old/img'), fgOptIn);
    assert.deepEqual(answer.access, granted('acme/old/img', 'pull'));
    assertDenied(fgOptIn, 'archived');
  });
});

describe("2. fine-grained PATs and App user tokens: the user's role is not the token's permission", () => {
  test('a read-only fine-grained PAT of a writer: pull only by default', async () => {
    const answer = await token('wes', m.tokens.fineWesRo.token, repo(APP));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, granted(APP, 'pull'));
    assertDenied(fg, /push denied: .*trustUserTokenRole/);
    assert.equal(lastAudit().identityKind, 'github-fine-grained');
  });

  test('a fine-grained PAT of an admin: pull only by default; the role with trustUserTokenRole', async () => {
    assert.deepEqual((await token('ada', m.tokens.fineAda.token, repo(APP))).access, granted(APP, 'pull'));
    assert.deepEqual(
      (await token('ada', m.tokens.fineAda.token, repo(APP), fgOptIn)).access,
      granted(APP, 'pull', 'push', 'delete'),
    );
  });

  test('a token without a known prefix and without X-OAuth-Scopes is judged like a fine-grained one', async () => {
    const answer = await token('wes', m.tokens.legacyFine.token, repo(APP));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, granted(APP, 'pull'));
    assertDenied(fg, /trustUserTokenRole/);
  });

  test("an App user token whose App may only read: pull only, whatever the user's role and trustUserTokenRole", async () => {
    for (const on of [fg, fgOptIn]) {
      const answer = await token('wes', m.tokens.appWesRead.token, repo(APP), on);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.access, granted(APP, 'pull'));
      assertDenied(on, /push denied: .*App .*read/);
      assert.equal(lastAudit(on).identityKind, 'github-app-user');
    }
  });

  test("an App user token whose App may write: the intersection with the user's role", async () => {
    assert.deepEqual(
      (await token('wes', m.tokens.appWesWrite.token, repo(APP, 'pull,push,delete'))).access,
      granted(APP, 'pull', 'push'),
    );
    assert.deepEqual(
      (await token('rita', m.tokens.appRitaWrite.token, repo(APP, 'pull,push'))).access,
      granted(APP, 'pull'),
    );
    assertDenied(fg, 'rita lacks push');
    // Delete needs the App's packages: write besides the admin role.
    assert.deepEqual(
      (await token('ada', m.tokens.appAdaPackages.token, repo(APP, 'pull,push,delete'))).access,
      granted(APP, 'pull', 'push', 'delete'),
    );
    assert.deepEqual(
      (await token('ada', m.tokens.appAdaContents.token, repo(APP, 'pull,push,delete'))).access,
      granted(APP, 'pull', 'push'),
    );
    assertDenied(fg, /delete denied: .*packages/);
  });

  test('an App user token whose installations cannot be listed (404): what it may do is unknown, pull only', async () => {
    await gh.whileInjected({ endpoint: 'GET /user/installations', kind: 'status', status: 404, times: 1 }, async () => {
      const answer = await token('wes', m.tokens.appWesWrite.token, repo(APP));
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.access, granted(APP, 'pull'));
      assertDenied(fg, /trustUserTokenRole/);
    });
  });

  test('an App user token whose installations answer 502: 503, never a guess', async () => {
    await gh.whileInjected({ endpoint: 'GET /user/installations', kind: 'status', status: 502, times: 1 }, async () => {
      const answer = await token('wes', m.tokens.appWesWrite.token, repo(APP));
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
    });
  });

  test('a classic token keeps its scope gate: repo scope and write role push', async () => {
    assert.deepEqual((await token('wes', m.tokens.wes.token, repo(APP))).access, granted(APP, 'pull', 'push'));
  });
});

describe('3. renamed and transferred repositories: an answer for another path is no answer', () => {
  test("Mallory transfers acme/tool to herself: acme/tool/* is nobody's, not hers; Acme re-creates it and it is Acme's", async () => {
    const IMG = 'acme/tool/img';
    const before = await token('mallory', m.tokens.mallory.token, repo(IMG, 'pull,push,delete'));
    assert.deepEqual(
      before.access,
      granted(IMG, 'pull', 'push', 'delete'),
      'an admin of acme/tool, before the transfer',
    );

    gh.moveRepo('acme/tool', 'mallory/tool');
    gh.resetCalls();
    const moved = await token('mallory', m.tokens.mallory.token, repo(IMG, 'pull,push,delete'));
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.deepEqual(moved.access, []);
    assertDenied(fg, 'no GitHub repository acme/tool visible to mallory');
    assert.equal(gh.calls('GET /repositories/:id'), 1, 'octokit followed the 301');
    // Her repository under its new name is hers.
    assert.deepEqual(
      (await token('mallory', m.tokens.mallory.token, repo('mallory/tool/img', 'push'))).access,
      granted('mallory/tool/img', 'push'),
    );

    gh.addRepo({ full_name: 'acme/tool', collaborators: { ada: 'admin' } });
    assert.deepEqual(
      (await token('ada', m.tokens.ada.token, repo(IMG, 'pull,push,delete'))).access,
      granted(IMG, 'pull', 'push', 'delete'),
    );
    assert.deepEqual((await token('mallory', m.tokens.mallory.token, repo(IMG, 'pull,push,delete'))).access, []);
  });

  test('a renamed repository: its old name holds nothing for its own writer', async () => {
    gh.moveRepo('acme/before', 'acme/after');
    assert.deepEqual((await token('wes', m.tokens.wes.token, repo('acme/before/img'))).access, []);
    assertDenied(fg, 'no GitHub repository acme/before visible to wes');
    assert.deepEqual(
      (await token('wes', m.tokens.wes.token, repo('acme/after/img'))).access,
      granted('acme/after/img', 'pull', 'push'),
    );
  });

  test('an installation whose own repository moved away: its remembered repository list does not make the re-created name its own', async () => {
    const IMG = 'acme/deploy/img';
    const own = await token('x-access-token', m.tokens.installDeploy.token, repo(IMG, 'pull,push'), fgCached);
    assert.deepEqual(own.access, granted(IMG, 'pull', 'push'), 'its own repository, named in installationTokenPush');
    gh.moveRepo('acme/deploy', 'mallory/deploy');
    gh.addRepo({ full_name: 'acme/deploy', collaborators: { ada: 'admin' } });
    gh.resetCalls();
    const after = await token('x-access-token', m.tokens.installDeploy.token, repo(IMG, 'pull,push'), fgCached);
    assert.equal(after.status, 200, JSON.stringify(after.body));
    assert.equal(gh.calls('GET /installation/repositories'), 0, 'the session came from the cache');
    assert.deepEqual(after.access, []);
    assertDenied(fgCached, 'no GitHub repository acme/deploy visible to the installation token');
  });

  test("anonymous callers, with and without a service token: a renamed public repository's old name pulls nothing", async () => {
    gh.moveRepo('acme/pubtool', 'acme/pubtool2');
    for (const on of [fg, fgService]) {
      const answer = await token(null, null, repo('acme/pubtool/img'), on);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.access, []);
      assert.deepEqual(
        (await token(null, null, repo('acme/pubtool2/img'), on)).access,
        granted('acme/pubtool2/img', 'pull'),
      );
    }
  });
});

describe('the GitHub path, read as an attacker', () => {
  test('two GitHub instances: a token of one goes only to the instance of the images asked for, which refuses it', async () => {
    const other = new FakeGitHub();
    const otherUrl = await other.start();
    other.addUser({ login: 'wes' });
    other.addOrg({ login: 'acme', base_permission: 'none' });
    other.addRepo({ full_name: 'acme/app', collaborators: { wes: 'admin' } });
    const two = await startForgegate({
      token: { service: SERVICE },
      forges: [
        { type: 'github', name: 'hub', url: gh.url, prefix: 'gh/' },
        { type: 'github', name: 'ghe', url: otherUrl, prefix: 'ghe/' },
      ],
    });
    try {
      gh.resetCalls();
      const answer = await token('wes', m.tokens.wes.token, repo('ghe/acme/app/img'), two);
      assert.equal(answer.status, 401, JSON.stringify(answer.body));
      assert.equal(gh.calls(), 0, 'the instance that issued the token never saw the request');
      assert.ok(other.requests().every((r) => r.endpoint === 'GET /user' || r.endpoint === 'GET /repos/:owner/:repo'));
      // Asked for both instances at once, nobody can tell where it belongs: refused, sent nowhere.
      gh.resetCalls();
      other.resetCalls();
      const both = await token('wes', m.tokens.wes.token, [repo('gh/acme/app/img'), repo('ghe/acme/app/img')], two);
      assert.equal(both.status, 401);
      assert.equal(gh.calls() + other.calls(), 0);
    } finally {
      await two.stop();
      await other.stop();
    }
  });

  test('an App user token whose App is installed elsewhere only: nothing on a private repository of another owner', async () => {
    const answer = await token('wes', m.tokens.appWesElsewhere.token, repo(APP));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, []);
  });
});
