import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { ACCESS, FakeGitLab, type GitLabToken, type GitLabUser } from '../fakes/gitlab.js';
import type { Injection } from '../fakes/server.js';
import { assertDenied, assertUnauthorized, assertUnavailableFrom, lastAuditOf } from '../support/assertions.js';
import { startForgegate, type TestForgegate } from '../support/forgegate.js';
import { granted, repo, tokenClient } from '../support/token-client.js';

// docs/forges.md, GitLab, over real HTTP: forgegate in-process in front of a FakeGitLab, every
// answer decoded down to the JWT `access` claim. One fake model serves every forgegate below;
// tests run one at a time, so call counts and injected failures never overlap.

const SERVICE = 'registry.test';
const fake = new FakeGitLab();
const m = buildModel(fake);

/** With a service token and the push allowlist: the configuration most tests use. */
let fg: TestForgegate;
/** No service token: registry-only tokens, anonymous callers and job tokens cannot read projects. */
let fgNoService: TestForgegate;
/** Service token, anonymous pulls turned off. */
let fgNoAnonymous: TestForgegate;
/** timeout: 1 s, for injected failures. */
let fgFast: TestForgegate;
/** The service token of a bot that is only Reporter of the top group (not admin, not Maintainer). */
let fgWeakService: TestForgegate;
/** Service token, nothing cached: every request asks GitLab what it says now. */
let fgNoCache: TestForgegate;
/** Service token, adminMode: false (an instance without Admin Mode). */
let fgNoAdminMode: TestForgegate;
const everyForgegate = (): TestForgegate[] => [
  ...[fg, fgNoService, fgNoAnonymous, fgFast, fgWeakService],
  ...[fgNoCache, fgNoAdminMode],
];
/** Refresh tokens and Basic credentials sent during the run: none may reach a log either. */
const refreshTokens: string[] = [];
const client = tokenClient(SERVICE, () => fg);
const sentBasic = client.sentBasic;

before(async () => {
  const url = await fake.start();
  const forge = { type: 'gitlab', url };
  const start = (extra: Record<string, unknown>, cache: Record<string, number> = {}) =>
    startForgegate({ token: { service: SERVICE }, forges: [{ ...forge, ...extra }], cache });
  fg = await start({
    serviceToken: m.tokens.service.token,
    jobTokenPushAllowlist: [{ source: 'group/ci', targets: ['group/apps/**'] }],
  });
  fgNoService = await start({});
  fgNoAnonymous = await start({ serviceToken: m.tokens.service.token, anonymousPull: false });
  fgFast = await start({ serviceToken: m.tokens.service.token, timeout: 1 });
  fgWeakService = await start({ serviceToken: m.tokens.weakService.token });
  fgNoCache = await start({ serviceToken: m.tokens.service.token }, { identityTtl: 0, decisionTtl: 0, negativeTtl: 0 });
  fgNoAdminMode = await start({ serviceToken: m.tokens.service.token, adminMode: false });
});
after(async () => {
  await Promise.all(everyForgegate().map((f) => f?.stop()));
  await fake.stop();
});

// ---- the GitLab model ------------------------------------------------------------------------

function buildModel(gl: FakeGitLab) {
  const user = (username: string, init: Partial<GitLabUser> = {}) => gl.addUser({ username, ...init });
  const users = {
    root: user('root', { is_admin: true }),
    bot: user('forgegate-bot', { bot: true, is_admin: true }), // owns the service token
    weakBot: user('forgegate-reader', { bot: true }), // Reporter of the top group only
    olga: user('olga'), // Owner of the top group
    mia: user('mia'),
    dev: user('dev'),
    rita: user('rita'),
    gus: user('gus'),
    nina: user('nina'), // member of nothing
    eve: user('eve', { external: true }),
    bob: user('bob', { state: 'blocked' }),
    dee: user('dee', { state: 'deactivated' }),
    carl: user('carl'), // runs the CI jobs; not even a member of group/ci
    projectBot: user('project_7_bot_3f1a', { bot: true }),
    groupBot: user('group_3_bot_77aa', { bot: true }),
    serviceAccount: user('service_account_group_3_c0ff', { bot: true }),
    mallory: user('mallory'), // Owner of acme/tool until she moves it away
    acme: user('acme-dev'), // Developer of the acme/tool created after the move
    wanda: user('wanda'), // added to group/sub/proj past a user cap: awaiting, no access yet
  };

  const project = (path: string, init: Parameters<FakeGitLab['addProject']>[0] | object = {}) =>
    gl.addProject({ path_with_namespace: path, ...init });
  project('group/sub/proj'); // private: the matrix target
  project('group/proj');
  project('group/WebApp'); // mixed case in GitLab, lower case in the registry
  project('group/internal', { visibility: 'internal' });
  project('group/public', { visibility: 'public' });
  project('group/reg-private', { visibility: 'public', container_registry_access_level: 'private' });
  project('group/reg-disabled', { visibility: 'public', container_registry_access_level: 'disabled' });
  project('group/archived', { archived: true });
  project('other/secret');
  project('group/ci'); // where the CI jobs run
  project('group/allowed');
  project('group/allowed-guest');
  project('group/not-allowed');
  project('group/apps/x');
  project('group/other', { visibility: 'internal' });
  project('acme/tool'); // moved to mallory/tool by section 11
  project('acme/lib'); // moved to mallory/lib by section 11
  project('group/ci-disabled', { container_registry_access_level: 'disabled' });
  project('group/ci-archived', { archived: true });
  project('other/ci'); // the weak service token (Reporter of group) cannot read it

  gl.addMember('group', users.olga.id, ACCESS.owner);
  gl.addMember('group', users.weakBot.id, ACCESS.reporter);
  gl.addMember('group/sub/proj', users.mia.id, ACCESS.maintainer);
  gl.addMember('group/sub/proj', users.dev.id, ACCESS.developer);
  gl.addMember('group/sub/proj', users.rita.id, ACCESS.reporter);
  gl.addMember('group/sub/proj', users.gus.id, ACCESS.guest);
  gl.addMember('group/sub/proj', users.projectBot.id, ACCESS.developer);
  gl.addMember('group/sub/proj', users.serviceAccount.id, ACCESS.maintainer);
  gl.addMember('group/sub', users.groupBot.id, ACCESS.reporter);
  gl.addMember('group/sub/proj', users.bob.id, ACCESS.developer);
  gl.addMember('group/sub/proj', users.dee.id, ACCESS.developer);
  gl.addMember('group/allowed', users.carl.id, ACCESS.reporter);
  gl.addMember('group/allowed-guest', users.carl.id, ACCESS.guest);
  gl.addMember('group/not-allowed', users.carl.id, ACCESS.reporter);
  gl.allowJobTokenAccess('group/allowed', 'group/ci');
  gl.allowJobTokenAccess('group/allowed-guest', 'group/ci');
  gl.addMember('acme/tool', users.mallory.id, ACCESS.owner);
  gl.addMember('acme/lib', users.mallory.id, ACCESS.owner);
  gl.addMember('group/sub/proj', users.wanda.id, ACCESS.developer, 'awaiting');
  gl.addMember('group/ci', users.eve.id, ACCESS.developer); // eve is external

  let n = 0;
  const token = (owner: GitLabUser, scopes: string[], init: Partial<GitLabToken> = {}): GitLabToken => {
    const prefix = init.kind === 'oauth' ? 'oauth' : 'glpat';
    return gl.addToken({
      token: `${prefix}-${owner.username}-${scopes.join('+')}-${++n}Qx7`,
      user_id: owner.id,
      scopes,
      ...init,
    });
  };
  const tokens = {
    // An admin's service token on an instance with Admin Mode needs admin_mode to act as one.
    service: token(users.bot, ['read_api', 'admin_mode'], { kind: 'service_account' }),
    weakService: token(users.weakBot, ['read_api'], { kind: 'service_account' }),
    root: token(users.root, ['api', 'admin_mode']), // forge adminMode is on by default
    olga: token(users.olga, ['api']),
    mia: token(users.mia, ['api']),
    dev: token(users.dev, ['api']),
    rita: token(users.rita, ['api']),
    gus: token(users.gus, ['api']),
    nina: token(users.nina, ['api']),
    eve: token(users.eve, ['api']),
    // item 1: every kind of credential
    project: token(users.projectBot, ['api'], { kind: 'project' }),
    group: token(users.groupBot, ['read_api'], { kind: 'group' }),
    serviceAccount: token(users.serviceAccount, ['api'], { kind: 'service_account' }),
    oauth: token(users.dev, ['api'], { kind: 'oauth' }),
    expired: token(users.dev, ['api'], { expires_at: '2020-01-01' }),
    revoked: token(users.dev, ['api'], { revoked: true }),
    oauthRevoked: token(users.dev, ['api'], { kind: 'oauth', revoked: true }),
    blocked: token(users.bob, ['api']),
    deactivated: token(users.dee, ['api']),
    // item 2: scopes, all on a Maintainer
    readApi: token(users.mia, ['read_api']),
    readRegistry: token(users.mia, ['read_registry']),
    writeRegistry: token(users.mia, ['write_registry']),
    registry: token(users.mia, ['read_registry', 'write_registry']),
    readRepository: token(users.mia, ['read_repository']),
    registryOutsider: token(users.nina, ['read_registry']),
    // item 8
    refresh: token(users.dev, ['api']),
    // item 11: Admin Mode and moved projects
    rootPlain: token(users.root, ['api']),
    rootAdminMode: token(users.root, ['api', 'admin_mode']),
    rootRegistry: token(users.root, ['read_registry', 'write_registry']),
    rootPlainNoAdminMode: token(users.root, ['api']),
    mallory: token(users.mallory, ['api']),
    malloryRegistry: token(users.mallory, ['read_registry', 'write_registry']),
    acme: token(users.acme, ['api']),
    wandaRegistry: token(users.wanda, ['read_registry', 'write_registry']),
  };
  const jobs = {
    running: gl.addJob({ token: `glcbt-64_running-${++n}Qx7`, project: 'group/ci', user_id: users.carl.id }),
    finished: gl.addJob({
      token: `glcbt-64_finished-${++n}Qx7`,
      project: 'group/ci',
      user_id: users.carl.id,
      status: 'success',
    }),
    // item 11
    disabled: gl.addJob({ token: `glcbt-64_disabled-${++n}Qx7`, project: 'group/ci-disabled', user_id: users.carl.id }),
    archived: gl.addJob({ token: `glcbt-64_archived-${++n}Qx7`, project: 'group/ci-archived', user_id: users.carl.id }),
    noService: gl.addJob({ token: `glcbt-64_noservice-${++n}Qx7`, project: 'group/ci', user_id: users.carl.id }),
    unreadable: gl.addJob({ token: `glcbt-64_unreadable-${++n}Qx7`, project: 'other/ci', user_id: users.carl.id }),
    external: gl.addJob({ token: `glcbt-64_external-${++n}Qx7`, project: 'group/ci', user_id: users.carl.id }),
    externalPort: gl.addJob({ token: `glcbt-64_external-port-${++n}Qx7`, project: 'group/ci', user_id: users.carl.id }),
    moved: gl.addJob({ token: `glcbt-64_moved-${++n}Qx7`, project: 'acme/lib', user_id: users.mallory.id }),
    blockedUser: gl.addJob({ token: `glcbt-64_blocked-${++n}Qx7`, project: 'group/sub/proj', user_id: users.bob.id }),
    externalUser: gl.addJob({ token: `glcbt-64_external-user-${++n}Qx7`, project: 'group/ci', user_id: users.eve.id }),
  };
  const secrets = [...Object.values(tokens).map((t) => t.token), ...Object.values(jobs).map((j) => j.token)];
  return { users, tokens, jobs, secrets };
}

// ---- helpers ----------------------------------------------------------------------------------

const { token, post } = client;

const lastAudit = lastAuditOf(() => fg);
const assertUnavailable = assertUnavailableFrom(/^GitLab "gitlab" /);

const PROJ = 'group/sub/proj/app';

// ---- 1. credentials ---------------------------------------------------------------------------

describe('1. credentials', () => {
  const kinds: [string, () => string, string, string[]][] = [
    ['personal access token (Developer)', () => m.tokens.dev.token, 'dev', ['pull', 'push']],
    [
      'project access token (its bot is Developer)',
      () => m.tokens.project.token,
      'project_7_bot_3f1a',
      ['pull', 'push'],
    ],
    [
      'group access token, read_api (its bot is Reporter of the parent group)',
      () => m.tokens.group.token,
      'group_3_bot_77aa',
      ['pull'],
    ],
    [
      'service account token (Maintainer)',
      () => m.tokens.serviceAccount.token,
      'service_account_group_3_c0ff',
      ['pull', 'push', 'delete'],
    ],
    ['OAuth access token, through /oauth/token/info (Developer)', () => m.tokens.oauth.token, 'dev', ['pull', 'push']],
  ];
  for (const [name, secret, subject, actions] of kinds) {
    test(`${name}: any username, the role's access`, async () => {
      for (const username of ['whatever', 'oauth2', subject]) {
        const answer = await token(username, secret(), repo(PROJ));
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.deepEqual(answer.access, granted(PROJ, ...actions), username);
        assert.equal(decodeJwt(answer.body.token).sub, subject);
      }
    });
  }

  test('CI job token with username gitlab-ci-token: its own project', async () => {
    const answer = await token('gitlab-ci-token', m.jobs.running.token, repo('group/ci/app'));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.access, granted('group/ci/app', 'pull', 'push', 'delete'));
    assert.equal(decodeJwt(answer.body.token).sub, 'carl');
    assert.equal(lastAudit().identityKind, 'gitlab-job');
  });

  test('a job token under another username is not a job token: 401', async () => {
    assertUnauthorized(await token('carl', m.jobs.running.token, repo('group/ci/app')));
  });

  test('a personal access token under gitlab-ci-token is not a job token: 401', async () => {
    assertUnauthorized(await token('gitlab-ci-token', m.tokens.dev.token, repo(PROJ)));
  });

  const refused: [string, () => [string, string]][] = [
    ['an unknown token', () => ['dev', 'glpat-does-not-exist-Qx7']],
    ['an expired token', () => ['dev', m.tokens.expired.token]],
    ['a revoked token', () => ['dev', m.tokens.revoked.token]],
    ['a revoked OAuth token', () => ['dev', m.tokens.oauthRevoked.token]],
    ["a blocked user's token", () => ['bob', m.tokens.blocked.token]],
    ["a deactivated user's token", () => ['dee', m.tokens.deactivated.token]],
    ["a finished job's token", () => ['gitlab-ci-token', m.jobs.finished.token]],
    ['an unknown job token', () => ['gitlab-ci-token', 'glcbt-64_nope-Qx7']],
  ];
  for (const [name, credential] of refused) {
    test(`401 with JSON and a Basic challenge for ${name}`, async () => {
      const [user, password] = credential();
      const answer = await token(user, password, repo(PROJ));
      assertUnauthorized(answer);
      assert.equal(lastAudit().outcome, 'unauthorized');
      const viaPost = await post({ grant_type: 'password', username: user, password, scope: repo(PROJ) });
      assert.equal(viaPost.status, 401);
      assert.equal(viaPost.body.error, 'invalid_grant');
    });
  }
});

// ---- 2. token scopes --------------------------------------------------------------------------

describe('2. token scopes gate the role (user mia is Maintainer)', () => {
  test('api: pull, push, delete', async () => {
    const answer = await token('mia', m.tokens.mia.token, repo(PROJ));
    assert.deepEqual(answer.access, granted(PROJ, 'pull', 'push', 'delete'));
  });

  test('read_api: pull only', async () => {
    const answer = await token('mia', m.tokens.readApi.token, repo(PROJ));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.access, granted(PROJ, 'pull'));
    assertDenied(fg, 'push denied: token scopes [read_api]');
  });

  test('read_repository without a serviceToken: 200, empty access, "grant no registry access"', async () => {
    const answer = await token('mia', m.tokens.readRepository.token, repo(PROJ), fgNoService);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, []);
    assertDenied(fgNoService, 'grant no registry access');
  });

  test('read_repository with a serviceToken: 200, empty access, "grant no registry access", no project lookup', async () => {
    fake.resetCalls();
    const answer = await token('mia', m.tokens.readRepository.token, repo(PROJ));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, []);
    assertDenied(fg, 'grant no registry access');
    // Scopes gate the credential before roles are looked at: the only project lookup is the
    // one speculated beside the verification of a token never seen (forge.ts, speculate).
    assert.ok(fake.calls('GET /projects/:id') <= 1, `${fake.calls('GET /projects/:id')} project lookups`);
  });

  test('registry-only tokens without a serviceToken: nothing, and the reason names serviceToken', async () => {
    for (const t of [m.tokens.readRegistry, m.tokens.writeRegistry, m.tokens.registry]) {
      const answer = await token('mia', t.token, repo(PROJ), fgNoService);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.access, [], t.scopes.join('+'));
      assertDenied(fgNoService, 'serviceToken');
    }
  });

  test('registry-only tokens with a serviceToken: the role through members/all', async () => {
    const cases: [GitLabToken, string[]][] = [
      [m.tokens.readRegistry, ['pull']],
      [m.tokens.writeRegistry, ['push']],
      [m.tokens.registry, ['pull', 'push']], // GitLab never lets write_registry delete
    ];
    for (const [t, actions] of cases) {
      fake.resetCalls();
      const answer = await token('mia', t.token, repo(PROJ));
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.access, granted(PROJ, ...actions), t.scopes.join('+'));
      assert.ok(fake.calls('GET /projects/:id/members/all/:user_id') >= 1, 'role asked through members/all');
    }
    // A non-member with a registry-only token sees nothing of a private project, by name neither.
    const outsider = await token('nina', m.tokens.registryOutsider.token, repo(PROJ));
    assert.equal(outsider.status, 200, JSON.stringify(outsider.body));
    assert.deepEqual(outsider.access, []);
    assertDenied(fg, `no GitLab project for image ${PROJ} visible to nina`);
  });
});

// ---- 3. image path to project -----------------------------------------------------------------

describe('3. image path to project', () => {
  test('group/sub/proj, group/sub/proj/app and group/sub/proj/app/x all map to group/sub/proj', async () => {
    for (const name of ['group/sub/proj', 'group/sub/proj/app', 'group/sub/proj/app/x']) {
      const answer = await token('dev', m.tokens.dev.token, repo(name));
      assert.deepEqual(answer.access, granted(name, 'pull', 'push'), name);
    }
  });

  test('a fourth segment below the project is too deep: no project', async () => {
    const name = 'group/sub/proj/a/b/c';
    const answer = await token('dev', m.tokens.dev.token, repo(name, 'pull'));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.access, []);
    assertDenied(fg, `no GitLab project for image ${name}`);
  });

  test('the lower-case image finds a mixed-case GitLab project', async () => {
    const answer = await token('olga', m.tokens.olga.token, repo('group/webapp/api'));
    assert.deepEqual(answer.access, granted('group/webapp/api', 'pull', 'push', 'delete'));
  });

  test('one segment: 200, empty access, "no GitLab project for image ..."', async () => {
    const answer = await token('olga', m.tokens.olga.token, repo('library'));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.access, []);
    assertDenied(fg, 'no GitLab project for image library');
  });

  test('no project on the path: 200, empty access, "no GitLab project for image ..."', async () => {
    const answer = await token('olga', m.tokens.olga.token, repo('nogroup/nothing/app'));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.access, []);
    assertDenied(fg, 'no GitLab project for image nogroup/nothing/app');
  });
});

// ---- 4. the permission matrix -----------------------------------------------------------------

describe('4. the permission matrix', () => {
  const roles: [string, keyof typeof m.tokens, string[]][] = [
    ['Guest', 'gus', []],
    ['Reporter', 'rita', ['pull']],
    ['Developer', 'dev', ['pull', 'push']],
    ['Maintainer', 'mia', ['pull', 'push', 'delete']],
    ['Owner (through the top group)', 'olga', ['pull', 'push', 'delete']],
  ];
  for (const [role, who, actions] of roles) {
    test(`${role} on a private project: ${actions.join(', ') || 'nothing'}`, async () => {
      const answer = await token(who, m.tokens[who].token, repo(PROJ));
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.access, actions.length ? granted(PROJ, ...actions) : []);
    });
  }

  test('a non-admin asking for * gets the explicit actions it holds, never *', async () => {
    const answer = await token('mia', m.tokens.mia.token, repo(PROJ, '*'));
    assert.deepEqual(answer.access, granted(PROJ, 'pull', 'push', 'delete'));
  });

  test('internal project: a non-member pulls, an external user does not', async () => {
    const nina = await token('nina', m.tokens.nina.token, repo('group/internal/app'));
    assert.deepEqual(nina.access, granted('group/internal/app', 'pull'));
    const eve = await token('eve', m.tokens.eve.token, repo('group/internal/app'));
    assert.equal(eve.status, 200);
    assert.deepEqual(eve.access, []);
  });

  test('public project: a non-member pulls, never pushes', async () => {
    const answer = await token('nina', m.tokens.nina.token, repo('group/public/app'));
    assert.deepEqual(answer.access, granted('group/public/app', 'pull'));
  });

  test('registry level private: members (Reporter+) only', async () => {
    const nina = await token('nina', m.tokens.nina.token, repo('group/reg-private/app'));
    assert.deepEqual(nina.access, []);
    assertDenied(fg, 'private to members');
    const olga = await token('olga', m.tokens.olga.token, repo('group/reg-private/app'));
    assert.deepEqual(olga.access, granted('group/reg-private/app', 'pull', 'push', 'delete'));
  });

  test('registry level disabled: nothing, even for the Owner and an instance admin', async () => {
    for (const who of ['olga', 'root'] as const) {
      const answer = await token(who, m.tokens[who].token, repo('group/reg-disabled/app'));
      assert.deepEqual(answer.access, [], who);
      assertDenied(fg, 'is disabled');
    }
  });

  test('archived project: the Owner pulls only', async () => {
    const answer = await token('olga', m.tokens.olga.token, repo('group/archived/app'));
    assert.deepEqual(answer.access, granted('group/archived/app', 'pull'));
    assertDenied(fg, 'archived');
  });

  test('an instance admin gets registry:catalog:* and *', async () => {
    const answer = await token('root', m.tokens.root.token, ['registry:catalog:*', repo('other/secret/app', '*')]);
    assert.deepEqual(answer.access, [
      { type: 'registry', name: 'catalog', actions: ['*'] },
      { type: 'repository', name: 'other/secret/app', actions: ['*'] },
    ]);
  });

  test('non-admins never get the catalog: an Owner, a job token, anonymous', async () => {
    const owner = await token('olga', m.tokens.olga.token, 'registry:catalog:*');
    assert.deepEqual(owner.access, []);
    const job = await token('gitlab-ci-token', m.jobs.running.token, 'registry:catalog:*');
    assert.deepEqual(job.access, []);
    const anonymous = await token(null, null, 'registry:catalog:*');
    assert.deepEqual(anonymous.access, []);
  });

  test('a private project the user cannot see reads as absent, "visible to" the user', async () => {
    const answer = await token('nina', m.tokens.nina.token, repo('other/secret/app'));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.access, []);
    const denied = lastAudit().denied as string[];
    assert.ok(denied.length > 0);
    for (const reason of denied)
      assert.match(reason, /no GitLab project for image other\/secret\/app visible to nina$/);
  });
});

// ---- 5. job tokens ----------------------------------------------------------------------------

describe('5. CI job tokens (job of group/ci, user carl)', () => {
  const job = (scope: string | string[], on: TestForgegate = fg) =>
    token('gitlab-ci-token', m.jobs.running.token, scope, on);

  test('own project: pull, push, delete; a skopeo-style * is narrowed, never *', async () => {
    assert.deepEqual((await job(repo('group/ci'))).access, granted('group/ci', 'pull', 'push', 'delete'));
    assert.deepEqual((await job(repo('group/ci/app', '*'))).access, granted('group/ci/app', 'pull', 'push', 'delete'));
  });

  test('another public or internal project: pull only', async () => {
    for (const name of ['group/public/app', 'group/internal/app']) {
      const answer = await job(repo(name));
      assert.deepEqual(answer.access, granted(name, 'pull'), name);
      assertDenied(fg, 'may only pull from other projects');
    }
  });

  test('a private project: pull when allowlisted and the job user is Reporter+', async () => {
    const answer = await job(repo('group/allowed/app'));
    assert.deepEqual(answer.access, granted('group/allowed/app', 'pull'));
  });

  test('a private project: nothing when allowlisted but the job user is only Guest', async () => {
    assert.deepEqual((await job(repo('group/allowed-guest/app'))).access, []);
  });

  test('a private project: nothing when the job user is Reporter but the job is not allowlisted', async () => {
    assert.deepEqual((await job(repo('group/not-allowed/app'))).access, []);
  });

  test('a private project: nothing without a serviceToken, even when allowlisted', async () => {
    assert.deepEqual((await job(repo('group/allowed/app'), fgNoService)).access, []);
    assertDenied(fgNoService, 'serviceToken');
  });

  test('a private project the job cannot reach: nothing', async () => {
    assert.deepEqual((await job(repo('other/secret/app'))).access, []);
  });

  test('jobTokenPushAllowlist: group/ci may push to group/apps/x, not delete; not push to group/other', async () => {
    assert.deepEqual((await job(repo('group/apps/x'))).access, granted('group/apps/x', 'pull', 'push'));
    assert.deepEqual((await job(repo('group/apps/x/img'))).access, granted('group/apps/x/img', 'pull', 'push'));
    assert.deepEqual((await job(repo('group/other/img'))).access, granted('group/other/img', 'pull'));
  });

  test('a service token that may not read the allowlist (not Maintainer there): 200, nothing, never 403', async () => {
    const answer = await job(repo('group/allowed/app'), fgWeakService);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, []);
  });

  test('without the allowlist configured, no cross-project push', async () => {
    assert.deepEqual((await job(repo('group/apps/x'), fgNoAnonymous)).access, []);
  });
});

// ---- 6. anonymous -----------------------------------------------------------------------------

describe('6. anonymous callers', () => {
  test('pull a public project with a serviceToken and anonymousPull on, never push', async () => {
    const answer = await token(null, null, repo('group/public/app'));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.access, granted('group/public/app', 'pull'));
    assert.equal(decodeJwt(answer.body.token).sub, '');
  });

  test('nothing with anonymousPull off', async () => {
    const answer = await token(null, null, repo('group/public/app'), fgNoAnonymous);
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.access, []);
  });

  test('nothing without a serviceToken', async () => {
    assert.deepEqual((await token(null, null, repo('group/public/app'), fgNoService)).access, []);
  });

  test('nothing on private or internal projects, which read as absent', async () => {
    for (const name of [PROJ, 'group/internal/app']) {
      const answer = await token(null, null, repo(name, 'pull'));
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.access, [], name);
      assertDenied(fg, `no GitLab project for image ${name}`);
    }
  });

  test('nothing on a public project whose registry is private', async () => {
    assert.deepEqual((await token(null, null, repo('group/reg-private/app'))).access, []);
  });
});

// ---- 7. failures fail closed -------------------------------------------------------------------

describe('7. GitLab failures fail closed', () => {
  const breakdowns: [string, Omit<Injection, 'endpoint'>][] = [
    ['a timeout', { kind: 'timeout' }],
    ['HTTP 500', { kind: 'status', status: 500 }],
    ['HTTP 429', { kind: 'status', status: 429 }],
    ['a malformed body', { kind: 'malformed' }],
    ['a truncated body', { kind: 'truncated' }],
    ['a connection reset', { kind: 'reset' }],
  ];
  for (const endpoint of ['GET /projects/:id', 'GET /personal_access_tokens/self']) {
    for (const [name, injection] of breakdowns) {
      test(`${name} on ${endpoint}: 503 naming the forge`, async () => {
        await fake.whileInjected({ ...injection, endpoint }, async () => {
          const answer = await token('dev', m.tokens.dev.token, repo(PROJ), fgFast);
          assertUnavailable(answer);
          assert.ok(answer.ms < 3000, `answered after ${answer.ms} ms`);
          assert.equal(lastAudit(fgFast).outcome, 'unavailable');
        });
      });
    }
  }

  test('on the POST form: 503 temporarily_unavailable', async () => {
    await fake.whileInjected({ endpoint: 'GET /projects/:id', kind: 'status', status: 500 }, async () => {
      const answer = await post(
        { grant_type: 'password', username: 'dev', password: m.tokens.dev.token, scope: repo(PROJ) },
        fgFast,
      );
      assert.equal(answer.status, 503);
      assert.equal(answer.body.error, 'temporarily_unavailable');
      assert.match(answer.body.error_description, /^GitLab "gitlab" /);
    });
  });

  const elsewhere: [string, string, () => [string, string], string][] = [
    ['GET /job', 'job token', () => ['gitlab-ci-token', m.jobs.running.token], 'group/ci/app'],
    ['GET /oauth/token/info', 'OAuth token', () => ['dev', m.tokens.oauth.token], PROJ],
    [
      'GET /projects/:id/members/all/:user_id',
      'job token on a private project',
      () => ['gitlab-ci-token', m.jobs.running.token],
      'group/allowed/app',
    ],
    [
      'GET /projects/:id/job_token_scope/allowlist',
      'job token on a private project',
      () => ['gitlab-ci-token', m.jobs.running.token],
      'group/allowed/app',
    ],
  ];
  for (const [endpoint, who, credential, image] of elsewhere) {
    test(`HTTP 500 on ${endpoint} (${who}): 503, not 401`, async () => {
      await fake.whileInjected({ endpoint, kind: 'status', status: 500 }, async () => {
        const [user, password] = credential();
        assertUnavailable(await token(user, password, repo(image), fgFast));
      });
    });
  }

  test('a 404 from GitLab on GET /projects/:id means no project: 200, empty access', async () => {
    await fake.whileInjected({ endpoint: 'GET /projects/:id', kind: 'status', status: 404 }, async () => {
      const answer = await token('olga', m.tokens.olga.token, repo(PROJ), fgFast);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.access, []);
      assertDenied(fgFast, `no GitLab project for image ${PROJ}`);
    });
  });

  test('a 401 from GitLab on GET /personal_access_tokens/self means 401', async () => {
    await fake.whileInjected(
      { endpoint: 'GET /personal_access_tokens/self', kind: 'status', status: 401 },
      async () => {
        assertUnauthorized(await token('olga', m.tokens.olga.token, repo(PROJ), fgFast));
      },
    );
  });

  test('a 401 from GitLab on GET /projects/:id means 401 UNAUTHORIZED', async () => {
    await fake.whileInjected({ endpoint: 'GET /projects/:id', kind: 'status', status: 401 }, async () => {
      assertUnauthorized(await token('olga', m.tokens.olga.token, repo(PROJ), fgFast));
      assert.equal(lastAudit(fgFast).outcome, 'unauthorized');
    });
  });
});

describe("7b. GitLab refusals that are not the caller's", () => {
  test('a 403 from GitLab on GET /projects/:id (own token) never becomes a 403', async () => {
    await fake.whileInjected({ endpoint: 'GET /projects/:id', kind: 'status', status: 403 }, async () => {
      const answer = await token('olga', m.tokens.olga.token, repo(PROJ), fgFast);
      assert.ok([200, 401].includes(answer.status), `HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
      if (answer.status === 200) assert.deepEqual(answer.access, []);
      else assertUnauthorized(answer);
    });
  });

  test("a 401 on the service token's GET /projects/:id is forgegate's problem: 503 for an anonymous caller, not 401", async () => {
    await fake.whileInjected({ endpoint: 'GET /projects/:id', kind: 'status', status: 401 }, async () => {
      assertUnavailable(await token(null, null, repo('group/public/app'), fgFast));
    });
  });
});

// ---- 8. refresh tokens -------------------------------------------------------------------------

describe('8. refresh tokens for GitLab tokens', () => {
  test('issued on offline_token=true, usable over POST, refused once the GitLab token is revoked', async () => {
    const t = m.tokens.refresh;
    const login = await token('dev', t.token, [], fg, '&offline_token=true');
    assert.equal(login.status, 200);
    const refresh = login.body.refresh_token as string;
    assert.ok(refresh, 'a refresh token');
    refreshTokens.push(refresh);
    assert.ok(!refresh.includes(t.token));

    const use = () =>
      post({ grant_type: 'refresh_token', refresh_token: refresh, client_id: 'docker', scope: repo(PROJ) });
    const ok = await use();
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(decodeJwt(ok.body.access_token).sub, 'dev');
    assert.deepEqual(decodeJwt(ok.body.access_token).access, granted(PROJ, 'pull', 'push'));

    t.revoked = true;
    try {
      const refused = await use();
      assert.equal(refused.status, 401);
      assert.equal(refused.body.error, 'invalid_grant');
      assertUnauthorized(await token('', refresh, repo(PROJ)));
    } finally {
      t.revoked = false;
    }
  });
});

// ---- 9. call economy ---------------------------------------------------------------------------

describe('9. GitLab calls per request (no cache yet)', () => {
  test('a PAT with api scope asking for group/proj/app', async () => {
    fake.resetCalls();
    const answer = await token('olga', m.tokens.olga.token, repo('group/proj/app', 'pull,push'));
    assert.deepEqual(answer.access, granted('group/proj/app', 'pull', 'push'));
    const calls = Object.fromEntries(
      [...new Set(fake.requests().map((r) => r.endpoint))].map((endpoint) => [endpoint, fake.calls(endpoint)]),
    );
    assert.deepEqual(calls, {
      'GET /personal_access_tokens/self': 1,
      'GET /user': 1,
      'GET /projects/:id': 2, // group/proj/app (404), then group/proj
      // push is granted: the project's protection rules, read with the Owner's own token.
      'GET /projects/:id/registry/protection/repository/rules': 1,
    });
    assert.deepEqual(
      fake.requests('GET /projects/:id').map((r) => r.url),
      ['/api/v4/projects/group%2Fproj%2Fapp', '/api/v4/projects/group%2Fproj'],
    );
  });

  test('a job token on its own project: GET /job, its project by id, and its protection rules', async () => {
    fake.resetCalls();
    const answer = await token('gitlab-ci-token', m.jobs.running.token, repo('group/ci/app'));
    assert.deepEqual(answer.access, granted('group/ci/app', 'pull', 'push', 'delete'));
    assert.equal(fake.calls(), 3);
    assert.equal(fake.calls('GET /job'), 1);
    assert.equal(fake.calls('GET /projects/:id/registry/protection/repository/rules'), 1);
    const lookups = fake.requests('GET /projects/:id').map((r) => r.url);
    assert.deepEqual(lookups, [`/api/v4/projects/${m.jobs.running.project_id}`]);
  });
});

// ---- 11. access safety: what real GitLab does that a naive model misses -------------------------

describe('11a. Admin Mode: an admin token without admin_mode is judged by its role', () => {
  // Admin Mode on: GitLab gives an admin's token admin powers only with the admin_mode scope.
  const withAdminMode = async (work: () => Promise<void>) => {
    fake.adminMode = true;
    try {
      await work();
    } finally {
      fake.adminMode = false;
    }
  };

  test('an api token of an admin, no admin_mode: a public project pulls only, no catalog, no *', () =>
    withAdminMode(async () => {
      const scopes = ['registry:catalog:*', repo('group/public/app', 'pull,push,delete,*')];
      const answer = await token('root', m.tokens.rootPlain.token, scopes);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.access, granted('group/public/app', 'pull'));
      assertDenied(fg, 'push denied: role none');
      // A private project of which root is no member is invisible to its token: as absent.
      const secret = await token('root', m.tokens.rootPlain.token, repo('other/secret/app', 'pull'));
      assert.deepEqual(secret.access, []);
      assertDenied(fg, 'no GitLab project for image other/secret/app visible to root');
    }));

  test('a registry-only token of an admin, described through the service token: judged by role', () =>
    withAdminMode(async () => {
      const answer = await token('root', m.tokens.rootRegistry.token, ['registry:catalog:*', repo(PROJ, 'pull,push')]);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.access, []);
      assertDenied(fg, `no GitLab project for image ${PROJ} visible to root`);
    }));

  test('the reason says why an admin is judged by its role', () =>
    withAdminMode(async () => {
      await token('root', m.tokens.rootPlain.token, repo('group/public/app', '*'));
      assertDenied(fg, 'root is an admin, but Admin Mode gives admin powers only to tokens with the admin_mode scope');
    }));

  test("adminMode: false (an instance without Admin Mode): an admin's api token acts as an admin", async () => {
    const scopes = ['registry:catalog:*', repo('other/secret/app', '*')];
    const answer = await token('root', m.tokens.rootPlainNoAdminMode.token, scopes, fgNoAdminMode);
    assert.deepEqual(answer.access, [
      { type: 'registry', name: 'catalog', actions: ['*'] },
      { type: 'repository', name: 'other/secret/app', actions: ['*'] },
    ]);
  });

  test('adminMode on (the default) where the instance has none: the same token is judged by its role', async () => {
    const answer = await token('root', m.tokens.rootPlainNoAdminMode.token, [
      'registry:catalog:*',
      repo('other/secret/app'),
    ]);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, []);
  });

  test('an admin token with admin_mode keeps admin powers: the catalog and *', () =>
    withAdminMode(async () => {
      const scopes = ['registry:catalog:*', repo('other/secret/app', '*')];
      const answer = await token('root', m.tokens.rootAdminMode.token, scopes);
      assert.deepEqual(answer.access, [
        { type: 'registry', name: 'catalog', actions: ['*'] },
        { type: 'repository', name: 'other/secret/app', actions: ['*'] },
      ]);
    }));
});

describe('11b. renamed and transferred projects: an answer for another path is no answer', () => {
  test('after acme/tool moved to mallory/tool, its old path belongs to nobody, then to its new owner', async () => {
    const mallory = (image: string) =>
      token('mallory', m.tokens.mallory.token, repo(image, 'pull,push,delete'), fgNoCache);
    // Mallory's project, at its first path: hers.
    assert.deepEqual((await mallory('acme/tool/app')).access, granted('acme/tool/app', 'pull', 'push', 'delete'));
    fake.moveProject('acme/tool', 'mallory/tool');
    // GitLab follows the redirect route: GET /projects/acme%2Ftool answers with mallory/tool.
    const redirected = await mallory('acme/tool/app');
    assert.equal(redirected.status, 200, JSON.stringify(redirected.body));
    assert.deepEqual(redirected.access, []);
    assertDenied(fgNoCache, 'no GitLab project for image acme/tool/app');
    assert.deepEqual((await mallory('mallory/tool/app')).access, granted('mallory/tool/app', 'pull', 'push', 'delete'));

    // Acme re-creates acme/tool: the path is Acme's now, and only Acme's.
    fake.addProject({ path_with_namespace: 'acme/tool' });
    fake.addMember('acme/tool', m.users.acme.id, ACCESS.developer);
    const acme = await token('acme-dev', m.tokens.acme.token, repo('acme/tool/app', 'pull,push'), fgNoCache);
    assert.deepEqual(acme.access, granted('acme/tool/app', 'pull', 'push'));
    assert.deepEqual((await mallory('acme/tool/app')).access, []);
    assertDenied(fgNoCache, 'no GitLab project for image acme/tool/app visible to mallory');
  });

  test('through the service token (registry-only token, job of the moved project): nothing at the old path', async () => {
    fake.moveProject('acme/lib', 'mallory/lib');
    const registryOnly = await token('mallory', m.tokens.malloryRegistry.token, repo('acme/lib/app'), fgNoCache);
    assert.equal(registryOnly.status, 200, JSON.stringify(registryOnly.body));
    assert.deepEqual(registryOnly.access, []);
    const job = await token('gitlab-ci-token', m.jobs.moved.token, repo('acme/lib/app', 'pull,push,delete'), fgNoCache);
    assert.equal(job.status, 200, JSON.stringify(job.body));
    assert.deepEqual(job.access, []);
    assertDenied(fgNoCache, 'no GitLab project for image acme/lib/app');
    // At its new path the job's own project is its own.
    const own = await token('gitlab-ci-token', m.jobs.moved.token, repo('mallory/lib/app', 'pull,push'), fgNoCache);
    assert.deepEqual(own.access, granted('mallory/lib/app', 'pull', 'push'));
  });
});

describe("11c. a job token on its own project follows that project's settings", () => {
  test('registry disabled: nothing', async () => {
    const answer = await token('gitlab-ci-token', m.jobs.disabled.token, repo('group/ci-disabled/app'));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, []);
    assertDenied(fg, 'the container registry of group/ci-disabled is disabled');
  });

  test('archived: pull only', async () => {
    const answer = await token('gitlab-ci-token', m.jobs.archived.token, repo('group/ci-archived/app'));
    assert.deepEqual(answer.access, granted('group/ci-archived/app', 'pull'));
    assertDenied(fg, 'group/ci-archived is archived');
  });

  test('without a serviceToken the settings cannot be read: nothing, and the reason names serviceToken', async () => {
    const answer = await token('gitlab-ci-token', m.jobs.noService.token, repo('group/ci/app'), fgNoService);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, []);
    assertDenied(fgNoService, 'serviceToken');
  });

  test("a serviceToken that cannot read the job's project: nothing, never a guess", async () => {
    const answer = await token('gitlab-ci-token', m.jobs.unreadable.token, repo('other/ci/app'), fgWeakService);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, []);
  });

  test('a job of a blocked user: 401, as GitLab refuses it', async () => {
    assertUnauthorized(await token('gitlab-ci-token', m.jobs.blockedUser.token, repo(PROJ)));
  });
});

describe("11d. job tokens where GitLab's external URL differs from the API URL", () => {
  const cases: [string, string, () => string][] = [
    ['another host under a relative root', 'https://git.example.com/gitlab', () => m.jobs.external.token],
    [
      'another port, a deeper root, a trailing slash',
      'http://gitlab.internal:8443/tools/git/',
      () => m.jobs.externalPort.token,
    ],
  ];
  for (const [name, externalUrl, secret] of cases) {
    test(`${name}: its own project, pull, push and delete`, async () => {
      fake.externalUrl = externalUrl;
      try {
        const answer = await token('gitlab-ci-token', secret(), repo('group/ci/app', 'pull,push,delete'));
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.deepEqual(answer.access, granted('group/ci/app', 'pull', 'push', 'delete'));
      } finally {
        fake.externalUrl = undefined;
      }
    });
  }
});

describe('11e. read as an attacker: what else GitLab refuses', () => {
  test('a member awaiting a seat (user cap) has no access yet, as in GitLab', async () => {
    const answer = await token('wanda', m.tokens.wandaRegistry.token, repo(PROJ, 'pull,push'));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, []);
    assertDenied(fg, `no GitLab project for image ${PROJ} visible to wanda`);
  });

  test('a job of an external user pulls no internal project it is no member of; public ones still', async () => {
    const job = (image: string) => token('gitlab-ci-token', m.jobs.externalUser.token, repo(image, 'pull'));
    const internal = await job('group/internal/app');
    assert.equal(internal.status, 200, JSON.stringify(internal.body));
    assert.deepEqual(internal.access, []);
    assertDenied(fg, "group/internal is internal, and the job's user is external");
    assert.deepEqual((await job('group/public/app')).access, granted('group/public/app', 'pull'));
    assert.deepEqual((await job('group/ci/app')).access, granted('group/ci/app', 'pull'));
  });

  test("a private project a job's user cannot see reads as absent: the reason confirms nothing", async () => {
    const answer = await token('gitlab-ci-token', m.jobs.running.token, repo('other/secret/app', 'pull'));
    assert.deepEqual(answer.access, []);
    const denied = lastAudit().denied as string[];
    assert.ok(denied.length > 0);
    const absent = /no GitLab project for image other\/secret\/app visible to carl$/;
    for (const reason of denied) assert.match(reason, absent);
  });

  test("a serviceToken that cannot tell whether the job's user is external (no admin): no internal pull", async () => {
    const answer = await token('gitlab-ci-token', m.jobs.running.token, repo('group/internal/app'), fgWeakService);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, []);
    assertDenied(fgWeakService, 'or the serviceToken cannot tell');
  });
});

// ---- 10. secrets ------------------------------------------------------------------------------

describe('10. logs', () => {
  test('no token used in this file appears in any audit log', () => {
    const secrets = [...m.secrets, ...refreshTokens, ...sentBasic];
    assert.ok(secrets.length > 40);
    for (const on of everyForgegate()) {
      const text = on.rawLogs();
      assert.ok(text.includes('"token request"'));
      for (const secret of secrets) assert.ok(!text.includes(secret), `a log contains ${secret.slice(0, 12)}...`);
    }
  });
});
