import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt } from 'jose';
import { FakeGitHub, type GitHubToken } from '../fakes/github.js';
import { ACCESS, FakeGitLab, type GitLabProject, type GitLabToken, type GitLabUser } from '../fakes/gitlab.js';
import type { FakeServer } from '../fakes/server.js';
import { eventually } from '../support/eventually.js';
import { basic, startForgegate, type TestForgegate } from '../support/forgegate.js';
import { makeTempDir } from '../support/processes.js';
import { startRedis, type RunningRedis } from '../support/redis.js';

// POST /hooks/gitlab and /hooks/github over real HTTP: forgegate (TTLs 60 s, so only a webhook
// can make it ask again) in front of a FakeGitLab and a FakeGitHub. Each scenario warms the
// cache, changes the fake's model, sends the event, and proves by the fakes' call counts that
// exactly the affected entries were asked for again, once, and nothing else. Tests run one at a
// time and each uses its own users and projects.

const SERVICE = 'registry.test';
const GITLAB_SECRET = 'gl-hook-secret-Qx7Zk2';
const GITHUB_SECRET = 'gh-hook-secret-Lm9Pw4';
const CACHE = { identityTtl: 60, decisionTtl: 60 };

const gl = new FakeGitLab();
const gh = new FakeGitHub();
const lab = buildGitLab(gl);
const hub = buildGitHub(gh);

let fgLab: TestForgegate;
let fgHub: TestForgegate;
const started: TestForgegate[] = [];
let redis: RunningRedis | undefined;

async function start(raw: Record<string, any>): Promise<TestForgegate> {
  const fg = await startForgegate({
    token: { service: SERVICE, ...raw.token },
    cache: { ...CACHE, ...raw.cache },
    forges: raw.forges,
  });
  started.push(fg);
  return fg;
}

before(async () => {
  await Promise.all([gl.start(), gh.start()]);
  fgLab = await start({
    forges: [{ type: 'gitlab', url: gl.url, serviceToken: lab.tokens.bot!.token, webhookSecret: GITLAB_SECRET }],
  });
  fgHub = await start({
    forges: [{ type: 'github', url: gh.url, webhookSecret: GITHUB_SECRET, installationTokenPush: ['acme/inst-repo'] }],
  });
});
after(async () => {
  await Promise.all(started.map((fg) => fg.stop()));
  await Promise.all([gl.stop(), gh.stop(), redis?.stop()]);
});
beforeEach(() => {
  gl.resetCalls();
  gh.resetCalls();
});

// ---- models -------------------------------------------------------------------------------------

function buildGitLab(fake: FakeGitLab) {
  const users: Record<string, GitLabUser> = {};
  const tokens: Record<string, GitLabToken> = {};
  for (const name of ['bot', 'zed', 'alice', 'carol', 'dave', 'erin', 'frank', 'gus', 'hal', 'rex', 'sam']) {
    users[name] = fake.addUser({ username: name, ...(name === 'bot' ? { is_admin: true, bot: true } : {}) });
    tokens[name] = fake.addToken({
      token: `glpat-${name}-Qx7Zk2Lm9Pw4`,
      user_id: users[name]!.id,
      scopes: name === 'bot' ? ['read_api'] : ['api'],
      ...(name === 'bot' ? { kind: 'service_account' as const } : {}),
    });
  }
  const project = (path: string, init: Partial<GitLabProject> = {}) =>
    fake.addProject({ path_with_namespace: path, ...init });
  const projects = {
    keep: project('z/keep'), // the bystander's: no event below concerns it
    app: project('g/app'),
    svc: project('team/svc'),
    pub: project('g/pub', { visibility: 'public' }),
    rename: project('g/old-name'),
    transfer: project('g/moving'),
    doomed: project('g/doomed'),
    gus: project('g/gus'),
    hal: project('g/hal'),
    shared: project('r/shared'),
    sam: project('r/sam'),
  };
  fake.addMember('z/keep', users.zed!.id, ACCESS.developer);
  fake.addMember('g/app', users.alice!.id, ACCESS.developer);
  fake.addMember('team', users.carol!.id, ACCESS.reporter); // a group: team/svc inherits it
  fake.addMember('g/old-name', users.dave!.id, ACCESS.developer);
  fake.addMember('g/moving', users.dave!.id, ACCESS.developer);
  fake.addMember('g/doomed', users.erin!.id, ACCESS.developer);
  fake.addMember('g/gus', users.gus!.id, ACCESS.developer);
  fake.addMember('g/hal', users.hal!.id, ACCESS.developer);
  fake.addMember('r/shared', users.rex!.id, ACCESS.developer);
  fake.addMember('r/sam', users.sam!.id, ACCESS.developer);
  return { users: users as Record<string, GitLabUser>, tokens: tokens as Record<string, GitLabToken>, projects };
}

function buildGitHub(fake: FakeGitHub) {
  for (const login of ['Ann', 'ben', 'tom', 'olly', 'tia', 'rey']) fake.addUser({ login });
  const acme = fake.addOrg({ login: 'acme', base_permission: 'read' }); // olly's only access
  fake.addOrg({ login: 'beta', base_permission: 'none' });
  fake.addOrgMember('acme', 'olly');
  const repos = {
    keep: fake.addRepo({ full_name: 'acme/keep', collaborators: { ben: 'write' } }),
    app: fake.addRepo({ full_name: 'acme/app', collaborators: { ann: 'write' } }),
    teamRepo: fake.addRepo({ full_name: 'acme/team-repo' }),
    opsRepo: fake.addRepo({ full_name: 'acme/ops-repo' }),
    pub: fake.addRepo({ full_name: 'acme/pub', visibility: 'public' }),
    arch: fake.addRepo({ full_name: 'acme/arch', collaborators: { rey: 'write' } }),
    oldName: fake.addRepo({ full_name: 'acme/old-repo', collaborators: { rey: 'write' } }),
    moved: fake.addRepo({ full_name: 'acme/moved', collaborators: { rey: 'write' } }),
    inst: fake.addRepo({ full_name: 'acme/inst-repo' }),
  };
  const teams = {
    devs: fake.addTeam({ org: 'acme', slug: 'devs', members: ['tom'], repos: { 'acme/team-repo': 'write' } }),
    ops: fake.addTeam({ org: 'acme', slug: 'ops', members: ['tia'], repos: {} }),
  };
  const classic = (user: string): GitHubToken =>
    fake.addToken({
      token: `ghp_${user.toLowerCase()}Qx7Zk2Lm9Pw4Rt6Yv8Nb3Jh5Gf1`,
      kind: 'classic',
      user,
      scopes: ['repo'],
    });
  const tokens = {
    ann: classic('Ann'),
    ben: classic('ben'),
    tom: classic('tom'),
    olly: classic('olly'),
    tia: classic('tia'),
    rey: classic('rey'),
    installation: fake.addToken({
      token: 'ghs_installationQx7Zk2Lm9Pw4Rt6Yv8Nb3',
      kind: 'installation',
      repositories: ['acme/inst-repo'],
    }),
  };
  return { repos, teams, tokens, acme };
}

// ---- helpers ------------------------------------------------------------------------------------

type Grant = { type: string; name: string; actions: string[] };

/** What a token request answers: the actions granted, or the status when not 200. */
type Answer = string[] | number;
/** Calls per endpoint. */
type Calls = Record<string, number>;

/** The actions granted on `image` (GET /token, Basic user:password; null: anonymous), or the status when not 200. */
async function actions(
  on: TestForgegate,
  user: string | null,
  password: string | null,
  image: string,
): Promise<Answer> {
  const query = new URLSearchParams({ service: SERVICE, scope: `repository:${image}:pull,push` });
  const headers: Record<string, string> = user === null ? {} : { Authorization: basic(user, password ?? '') };
  const response = await fetch(`${on.url}/token?${query}`, { headers });
  const body = (await response.json()) as any;
  if (response.status !== 200) return response.status;
  const access = decodeJwt(body.token).access as Grant[];
  return access.find((grant) => grant.name === image)?.actions ?? [];
}

/** What one step cost the fake: calls per endpoint. */
async function costOf<T>(fake: FakeServer, step: () => Promise<T>): Promise<{ result: T; calls: Calls }> {
  fake.resetCalls();
  const result = await step();
  const calls: Calls = {};
  for (const request of fake.requests()) calls[request.endpoint] = (calls[request.endpoint] ?? 0) + 1;
  return { result, calls };
}

// One cold GitLab round for a PAT: verify it (self, user), then look the project up.
const GITLAB_IDENTITY = { 'GET /personal_access_tokens/self': 1, 'GET /user': 1 };
const GITLAB_ROUND = { ...GITLAB_IDENTITY, 'GET /projects/:id': 1 };
const GITLAB_PROJECT = { 'GET /projects/:id': 1 };
// A caller who may write (Developer+) needs the project's protection rules: a project fact,
// read once per project until cache.decisionTtl or a webhook that names the project.
const GITLAB_RULES = { 'GET /projects/:id/registry/protection/repository/rules': 1 };
const GITLAB_ROUND_RULES = { ...GITLAB_ROUND, ...GITLAB_RULES };
const GITLAB_PROJECT_RULES = { ...GITLAB_PROJECT, ...GITLAB_RULES };
// GitHub: verify the token (user), then look the repository up.
const GITHUB_ROUND = { 'GET /user': 1, 'GET /repos/:owner/:repo': 1 };
const GITHUB_REPO = { 'GET /repos/:owner/:repo': 1 };

/** A cold request costs `round`; the same again costs nothing; its answer is `expected`. */
async function warm(fake: FakeServer, step: () => Promise<Answer>, expected: Answer, round: Calls): Promise<void> {
  const cold = await costOf(fake, step);
  assert.deepEqual(cold.result, expected, 'cold answer');
  assert.deepEqual(cold.calls, round, 'a cold request is one round');
  const cached = await costOf(fake, step);
  assert.deepEqual(cached.result, expected, 'cached answer');
  assert.deepEqual(cached.calls, {}, 'the second request is served from the cache');
}

/** After the event: one round, the new answer, and cached again at once. */
async function refetched(fake: FakeServer, step: () => Promise<Answer>, expected: Answer, round: Calls): Promise<void> {
  const after = await costOf(fake, step);
  assert.deepEqual(after.result, expected, 'the answer follows the change');
  assert.deepEqual(after.calls, round, 'exactly one new round of calls');
  assert.deepEqual((await costOf(fake, step)).calls, {}, 'and cached again');
}

/** The answer still comes from the cache (the fake is not asked). */
async function stillCached(fake: FakeServer, step: () => Promise<Answer>, expected: Answer): Promise<void> {
  const again = await costOf(fake, step);
  assert.deepEqual(again.result, expected);
  assert.deepEqual(again.calls, {}, 'an unrelated entry was asked for again');
}

interface HookAnswer {
  status: number;
  body: any;
}

async function post(url: string, body: string | Buffer, headers: Record<string, string>): Promise<HookAnswer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

function gitlabHook(
  on: TestForgegate,
  payload: unknown,
  options: { token?: string | null; event?: string; raw?: string | Buffer; contentType?: string } = {},
): Promise<HookAnswer> {
  const { token = GITLAB_SECRET, event = 'System Hook', raw, contentType } = options;
  const headers: Record<string, string> = { 'X-Gitlab-Event': event };
  if (token !== null) headers['X-Gitlab-Token'] = token;
  if (contentType !== undefined) headers['Content-Type'] = contentType;
  return post(`${on.url}/hooks/gitlab`, raw ?? JSON.stringify(payload), headers);
}

function sign(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function githubHook(
  on: TestForgegate,
  event: string | null,
  payload: unknown,
  options: { secret?: string; signature?: string | null; raw?: string } = {},
): Promise<HookAnswer> {
  const body = options.raw ?? JSON.stringify(payload);
  const headers: Record<string, string> = { 'X-GitHub-Delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958' };
  if (event !== null) headers['X-GitHub-Event'] = event;
  const signature = options.signature === undefined ? sign(options.secret ?? GITHUB_SECRET, body) : options.signature;
  if (signature !== null) headers['X-Hub-Signature-256'] = signature;
  return post(`${on.url}/hooks/github`, body, headers);
}

function assertInvalidated(answer: HookAnswer, projects: string[], accounts: string[], atLeast = 1): void {
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(answer.body.projects, projects);
  assert.deepEqual(answer.body.accounts, accounts);
  assert.ok(answer.body.invalidated >= atLeast, `invalidated ${answer.body.invalidated} < ${atLeast}`);
}

function assertError(answer: HookAnswer, status: number, code: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.errors[0].code, code);
  assert.equal(typeof answer.body.errors[0].message, 'string');
}

// GitLab payloads, trimmed from doc/administration/system_hooks.md.
const teamEvent = (event: string, user: GitLabUser, project: string) => ({
  created_at: '2012-07-21T07:30:56Z',
  updated_at: '2012-07-21T07:38:22Z',
  event_name: event,
  access_level: 'Developer',
  project_id: 74,
  project_name: project.split('/').pop(),
  project_path: project.split('/').pop(),
  project_path_with_namespace: project,
  user_email: `${user.username}@example.com`,
  user_name: user.name,
  user_username: user.username,
  user_id: user.id,
  project_visibility: 'private',
});
const groupEvent = (event: string, user: GitLabUser, group: string) => ({
  created_at: '2020-12-11T04:57:22Z',
  updated_at: '2020-12-11T04:57:22Z',
  group_name: group,
  group_path: group,
  group_id: 100,
  user_username: user.username,
  user_name: user.name,
  user_email: `${user.username}@example.com`,
  user_id: user.id,
  group_access: 'Developer',
  group_plan: null,
  expires_at: null,
  event_name: event,
});
const projectEvent = (event: string, path: string, old?: string) => ({
  created_at: '2012-07-21T07:30:58Z',
  updated_at: '2012-07-21T07:38:22Z',
  event_name: event,
  name: path.split('/').pop(),
  path: path.split('/').pop(),
  path_with_namespace: path,
  project_id: 73,
  owner_name: 'John Smith',
  owner_email: 'johnsmith@example.com',
  owners: [{ name: 'John', email: 'user1@example.com' }],
  project_namespace_id: 23,
  project_visibility: 'internal',
  ...(old === undefined ? {} : { old_path_with_namespace: old }),
});

// The bystanders: a GitLab user and a GitHub user on projects no event below touches.
const zed = () => actions(fgLab, 'zed', lab.tokens.zed!.token, 'z/keep');
const ben = () => actions(fgHub, 'ben', hub.tokens.ben.token, 'acme/keep');

// ---- GitLab ------------------------------------------------------------------------------------

describe('POST /hooks/gitlab', () => {
  before(async () => {
    await warm(gl, zed, ['pull', 'push'], GITLAB_ROUND_RULES);
  });

  test('project membership: removed, added, updated (user_*_team): that member on that project, once', async () => {
    const alice = () => actions(fgLab, 'alice', lab.tokens.alice!.token, 'g/app');
    await warm(gl, alice, ['pull', 'push'], GITLAB_ROUND_RULES);
    // The project's rules went with its entries: a writer reads them again.
    const steps: [string, () => void, string[], Record<string, number>][] = [
      ['user_remove_from_team', () => gl.removeMember('g/app', lab.users.alice!.id), [], GITLAB_ROUND],
      ['user_add_to_team', () => gl.addMember('g/app', lab.users.alice!.id, ACCESS.reporter), ['pull'], GITLAB_ROUND],
      [
        'user_update_for_team',
        () => {
          gl.removeMember('g/app', lab.users.alice!.id);
          gl.addMember('g/app', lab.users.alice!.id, ACCESS.maintainer);
        },
        ['pull', 'push'],
        GITLAB_ROUND_RULES,
      ],
    ];
    for (const [event, change, expected, round] of steps) {
      change();
      const answer = await gitlabHook(fgLab, teamEvent(event, lab.users.alice!, 'g/app'));
      // The decision and the verified token, each filed under the project and the account.
      assertInvalidated(answer, ['g/app'], [`user:${lab.users.alice!.id}`], 2);
      assert.deepEqual(answer.body.forges, ['gitlab']);
      await refetched(gl, alice, expected, round);
      await stillCached(gl, zed, ['pull', 'push']);
    }
  });

  test('group membership (user_*_group, system or group hook): that member everywhere, nobody else', async () => {
    const carol = () => actions(fgLab, 'carol', lab.tokens.carol!.token, 'team/svc');
    await warm(gl, carol, ['pull'], GITLAB_ROUND);

    gl.removeMember('team', lab.users.carol!.id);
    assertInvalidated(
      await gitlabHook(fgLab, groupEvent('user_remove_from_group', lab.users.carol!, 'team'), { event: 'Member Hook' }),
      [],
      [`user:${lab.users.carol!.id}`],
      2,
    );
    await refetched(gl, carol, [], GITLAB_ROUND);

    gl.addMember('team', lab.users.carol!.id, ACCESS.developer);
    assertInvalidated(
      await gitlabHook(fgLab, groupEvent('user_add_to_group', lab.users.carol!, 'team')),
      [],
      [`user:${lab.users.carol!.id}`],
      2,
    );
    await refetched(gl, carol, ['pull', 'push'], GITLAB_ROUND_RULES);
    await stillCached(gl, zed, ['pull', 'push']);
  });

  test('visibility (project_update): every caller of that project, credentials stay verified', async () => {
    const anonymous = () => actions(fgLab, null, null, 'g/pub');
    const alice = () => actions(fgLab, 'alice', lab.tokens.alice!.token, 'g/pub');
    await actions(fgLab, 'alice', lab.tokens.alice!.token, 'z/keep'); // her token is verified and cached
    await warm(gl, anonymous, ['pull'], GITLAB_PROJECT);
    await warm(gl, alice, ['pull'], GITLAB_PROJECT);

    lab.projects.pub.visibility = 'private';
    assertInvalidated(await gitlabHook(fgLab, projectEvent('project_update', 'g/pub')), ['g/pub'], [], 2);
    await refetched(gl, anonymous, [], GITLAB_PROJECT);
    await refetched(gl, alice, [], GITLAB_PROJECT);
    await stillCached(gl, zed, ['pull', 'push']);
  });

  for (const [event, from, to] of [
    ['project_rename', 'g/old-name', 'g/New-Name'],
    ['project_transfer', 'g/moving', 'h/moving'],
  ] as const) {
    test(`${event}: the old path and the new one`, async () => {
      const dave = (image: string) => () => actions(fgLab, 'dave', lab.tokens.dave!.token, image);
      const project = event === 'project_rename' ? lab.projects.rename : lab.projects.transfer;
      await actions(fgLab, 'dave', lab.tokens.dave!.token, 'z/keep'); // his token is verified and cached
      await warm(gl, dave(from), ['pull', 'push'], GITLAB_PROJECT_RULES);

      project.path_with_namespace = to;
      const answer = await gitlabHook(fgLab, projectEvent(event, to, from));
      assertInvalidated(answer, [to.toLowerCase(), from], []);
      await refetched(gl, dave(from), [], GITLAB_PROJECT);
      await refetched(gl, dave(to.toLowerCase()), ['pull', 'push'], GITLAB_PROJECT_RULES);
      await stillCached(gl, zed, ['pull', 'push']);
    });
  }

  test('project_destroy (system or group hook): that project', async () => {
    const erin = () => actions(fgLab, 'erin', lab.tokens.erin!.token, 'g/doomed');
    await warm(gl, erin, ['pull', 'push'], GITLAB_ROUND_RULES);
    lab.projects.doomed.path_with_namespace = 'deleted/doomed-73'; // gone from its path
    assertInvalidated(
      await gitlabHook(fgLab, projectEvent('project_destroy', 'g/doomed'), { event: 'Project Hook' }),
      ['g/doomed'],
      [],
      1,
    );
    await refetched(gl, erin, [], GITLAB_PROJECT);
    await stillCached(gl, zed, ['pull', 'push']);
  });

  test("user_destroy: the user's verified credentials go too", async () => {
    const gus = () => actions(fgLab, 'gus', lab.tokens.gus!.token, 'g/gus');
    await warm(gl, gus, ['pull', 'push'], GITLAB_ROUND_RULES);
    lab.tokens.gus!.revoked = true; // deleting a user deletes its tokens
    const answer = await gitlabHook(fgLab, {
      event_name: 'user_destroy',
      created_at: '2012-07-21T07:44:07Z',
      email: 'gus@example.com',
      name: 'gus',
      username: 'gus',
      user_id: lab.users.gus!.id,
    });
    assertInvalidated(answer, [], [`user:${lab.users.gus!.id}`], 2);
    const after = await costOf(gl, gus);
    assert.equal(after.result, 401);
    assert.equal(after.calls['GET /personal_access_tokens/self'], 1, 'the token is verified again');
    await stillCached(gl, zed, ['pull', 'push']);
  });

  test('events that change no access: 202 ignored, or 200 for none of ours; nothing dropped', async () => {
    for (const payload of [
      { object_kind: 'push', event_name: 'push', project: { path_with_namespace: 'z/keep' } },
      { event_name: 'repository_update', project: { path_with_namespace: 'z/keep' } },
      { event_name: 'user_access_request_to_group', user_id: lab.users.zed!.id },
      { event_name: 'group_rename', full_path: 'z2', old_full_path: 'z' },
    ]) {
      const answer = await gitlabHook(fgLab, payload);
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      assert.match(answer.body.ignored, new RegExp(`^${payload.event_name}: `));
    }
    await stillCached(gl, zed, ['pull', 'push']);
  });

  test('a wrong or missing X-Gitlab-Token: 401, nothing dropped', async () => {
    const hal = () => actions(fgLab, 'hal', lab.tokens.hal!.token, 'g/hal');
    await warm(gl, hal, ['pull', 'push'], GITLAB_ROUND_RULES);
    gl.removeMember('g/hal', lab.users.hal!.id);
    const event = teamEvent('user_remove_from_team', lab.users.hal!, 'g/hal');
    for (const token of ['wrong', GITLAB_SECRET.slice(0, -1), `${GITLAB_SECRET}x`, '', null]) {
      const answer = await gitlabHook(fgLab, event, { token });
      assertError(answer, 401, 'UNAUTHORIZED');
      assert.equal(answer.body.errors[0].message.includes(GITLAB_SECRET), false);
    }
    await stillCached(gl, hal, ['pull', 'push']); // stale, as it should be without a valid event
    assertInvalidated(await gitlabHook(fgLab, event), ['g/hal'], [`user:${lab.users.hal!.id}`], 2);
    await refetched(gl, hal, [], GITLAB_ROUND);
    assert.ok(fgLab.logs().some((line) => line.msg === 'webhook rejected: bad or missing secret'));
    assert.equal(fgLab.rawLogs().includes(GITLAB_SECRET), false, 'the secret never reaches a log');
  });

  test('malformed: not JSON, not an object, fields missing (400); wrong type (415); too large (413)', async () => {
    assertError(await gitlabHook(fgLab, null, { raw: '{"event_name": "user_add_to_team",' }), 400, 'INVALID_REQUEST');
    assertError(await gitlabHook(fgLab, null, { raw: '[1, 2]' }), 400, 'INVALID_REQUEST');
    assertError(await gitlabHook(fgLab, { project_id: 1 }), 400, 'INVALID_REQUEST');
    const noUser = await gitlabHook(fgLab, { event_name: 'user_add_to_team', project_path_with_namespace: 'z/keep' });
    assertError(noUser, 400, 'INVALID_REQUEST');
    assert.match(noUser.body.errors[0].message, /user_id/);
    assertError(
      await gitlabHook(fgLab, { event_name: 'project_rename', path_with_namespace: 'z/keep' }),
      400,
      'INVALID_REQUEST',
    );
    assertError(
      await gitlabHook(fgLab, { event_name: 'project_update' }, { contentType: 'text/plain' }),
      415,
      'UNSUPPORTED',
    );
    const big = JSON.stringify({
      event_name: 'project_update',
      path_with_namespace: 'z/keep',
      pad: 'x'.repeat(1024 * 1024),
    });
    assertError(await gitlabHook(fgLab, null, { raw: big }), 413, 'REQUEST_TOO_LARGE');
    await stillCached(gl, zed, ['pull', 'push']);
  });
});

// ---- GitHub ------------------------------------------------------------------------------------

const repository = (fullName: string) => {
  const [owner, name] = fullName.split('/');
  return {
    id: 1296269,
    name,
    full_name: fullName,
    private: true,
    owner: { login: owner, id: 1, type: 'Organization' },
  };
};
const user = (login: string) => ({ login, id: 583231, type: 'User', site_admin: false });
const sender = user('octocat');
const organization = { login: 'acme', id: 1 };

describe('POST /hooks/github', () => {
  before(async () => {
    await warm(gh, ben, ['pull', 'push'], GITHUB_ROUND);
  });

  test('member (collaborator removed, added, edited): that user on that repository, once', async () => {
    const ann = () => actions(fgHub, 'Ann', hub.tokens.ann.token, 'acme/app');
    await warm(gh, ann, ['pull', 'push'], GITHUB_ROUND);
    const steps: [string, () => void, string[]][] = [
      ['removed', () => hub.repos.app.collaborators.delete('ann'), []],
      ['added', () => hub.repos.app.collaborators.set('ann', 'read'), ['pull']],
      ['edited', () => hub.repos.app.collaborators.set('ann', 'write'), ['pull', 'push']],
    ];
    for (const [action, change, expected] of steps) {
      change();
      const answer = await githubHook(fgHub, 'member', {
        action,
        member: user('Ann'),
        repository: repository('acme/app'),
        sender,
      });
      assertInvalidated(answer, ['acme/app'], ['user:ann'], 2);
      assert.deepEqual(answer.body.forges, ['github']);
      await refetched(gh, ann, expected, GITHUB_ROUND);
      await stillCached(gh, ben, ['pull', 'push']);
    }
  });

  test('membership (team member removed): that user', async () => {
    const tom = () => actions(fgHub, 'tom', hub.tokens.tom.token, 'acme/team-repo');
    await warm(gh, tom, ['pull', 'push'], GITHUB_ROUND);
    hub.teams.devs.members.splice(hub.teams.devs.members.indexOf('tom'), 1);
    const answer = await githubHook(fgHub, 'membership', {
      action: 'removed',
      scope: 'team',
      member: user('tom'),
      team: { id: 1, name: 'devs', slug: 'devs' },
      organization,
      sender,
    });
    assertInvalidated(answer, [], ['user:tom'], 2);
    await refetched(gh, tom, [], GITHUB_ROUND);
    await stillCached(gh, ben, ['pull', 'push']);
  });

  test('organization member_removed: that user; member_invited: ignored', async () => {
    const olly = () => actions(fgHub, 'olly', hub.tokens.olly.token, 'acme/team-repo');
    await warm(gh, olly, ['pull'], GITHUB_ROUND); // the org's base permission
    const invited = await githubHook(fgHub, 'organization', {
      action: 'member_invited',
      invitation: { id: 1, login: 'newbie' },
      user: user('newbie'),
      organization,
      sender,
    });
    assert.equal(invited.status, 202);
    assert.match(invited.body.ignored, /^organization\.member_invited: /);

    hub.acme.members.delete('olly');
    const membership = {
      url: 'https://api.github.com/orgs/acme/memberships/olly',
      state: 'active',
      role: 'member',
      organization_url: 'https://api.github.com/orgs/acme',
      user: user('olly'),
    };
    assertInvalidated(
      await githubHook(fgHub, 'organization', { action: 'member_removed', membership, organization, sender }),
      [],
      ['user:olly'],
      2,
    );
    await refetched(gh, olly, [], GITHUB_ROUND);
    await stillCached(gh, ben, ['pull', 'push']);
  });

  test('team added_to_repository: that repository, for everyone; verified tokens stay', async () => {
    const tia = () => actions(fgHub, 'tia', hub.tokens.tia.token, 'acme/ops-repo');
    await warm(gh, tia, [], GITHUB_ROUND);
    hub.teams.ops.repos.set('acme/ops-repo', 'write');
    const answer = await githubHook(fgHub, 'team', {
      action: 'added_to_repository',
      team: { id: 2, name: 'ops', slug: 'ops' },
      repository: repository('acme/ops-repo'),
      organization,
      sender,
    });
    assertInvalidated(answer, ['acme/ops-repo'], [], 1);
    await refetched(gh, tia, ['pull', 'push'], GITHUB_REPO);
    const teamless = await githubHook(fgHub, 'team', {
      action: 'created',
      team: { id: 3, name: 'new', slug: 'new' },
      organization,
      sender,
    });
    assert.equal(teamless.status, 202);
    await stillCached(gh, ben, ['pull', 'push']);
  });

  test('repository privatized, publicized, archived: that repository', async () => {
    const anonymous = () => actions(fgHub, null, null, 'acme/pub');
    await warm(gh, anonymous, ['pull'], GITHUB_REPO);
    hub.repos.pub.visibility = 'private';
    assertInvalidated(
      await githubHook(fgHub, 'repository', {
        action: 'privatized',
        repository: repository('acme/pub'),
        organization,
        sender,
      }),
      ['acme/pub'],
      [],
    );
    await refetched(gh, anonymous, [], GITHUB_REPO);
    hub.repos.pub.visibility = 'public';
    assertInvalidated(
      await githubHook(fgHub, 'repository', {
        action: 'publicized',
        repository: repository('acme/pub'),
        organization,
        sender,
      }),
      ['acme/pub'],
      [],
    );
    await refetched(gh, anonymous, ['pull'], GITHUB_REPO);

    const rey = () => actions(fgHub, 'rey', hub.tokens.rey.token, 'acme/arch');
    await warm(gh, rey, ['pull', 'push'], GITHUB_ROUND);
    hub.repos.arch.archived = true;
    assertInvalidated(
      await githubHook(fgHub, 'repository', {
        action: 'archived',
        repository: repository('acme/arch'),
        organization,
        sender,
      }),
      ['acme/arch'],
      [],
    );
    await refetched(gh, rey, ['pull'], GITHUB_REPO);
    await stillCached(gh, ben, ['pull', 'push']);
  });

  test('repository renamed and transferred: the old name and the new one', async () => {
    const rey = (image: string) => () => actions(fgHub, 'rey', hub.tokens.rey.token, image);
    await actions(fgHub, 'rey', hub.tokens.rey.token, 'acme/keep'); // his token is verified and cached
    await warm(gh, rey('acme/old-repo'), ['pull', 'push'], GITHUB_REPO);
    await warm(gh, rey('acme/new-repo'), [], GITHUB_REPO); // no such repository, yet: cached too
    await warm(gh, rey('acme/moved'), ['pull', 'push'], GITHUB_REPO);
    await warm(gh, rey('beta/moved'), [], GITHUB_REPO);

    // The fake cannot rename: the new name appears, the old one stops answering to rey.
    gh.addRepo({ full_name: 'acme/new-repo', collaborators: { rey: 'write' } });
    hub.repos.oldName.collaborators.clear();
    const renamed = await githubHook(fgHub, 'repository', {
      action: 'renamed',
      changes: { repository: { name: { from: 'old-repo' } } },
      repository: repository('acme/new-repo'),
      organization,
      sender,
    });
    assertInvalidated(renamed, ['acme/new-repo', 'acme/old-repo'], [], 2);
    await refetched(gh, rey('acme/new-repo'), ['pull', 'push'], GITHUB_REPO);
    await refetched(gh, rey('acme/old-repo'), [], GITHUB_REPO);

    gh.addRepo({ full_name: 'beta/moved', collaborators: { rey: 'write' } });
    hub.repos.moved.collaborators.clear();
    const transferred = await githubHook(fgHub, 'repository', {
      action: 'transferred',
      changes: { owner: { from: { organization } } },
      repository: repository('beta/moved'),
      sender,
    });
    assertInvalidated(transferred, ['beta/moved', 'acme/moved'], [], 2);
    await refetched(gh, rey('beta/moved'), ['pull', 'push'], GITHUB_REPO);
    await refetched(gh, rey('acme/moved'), [], GITHUB_REPO);
    await stillCached(gh, ben, ['pull', 'push']);
  });

  test('installation_repositories removed: installation sessions, and nothing of users', async () => {
    const installation = () => actions(fgHub, 'x-access-token', hub.tokens.installation.token, 'acme/inst-repo');
    // One round: the repository list and the repository at the path, asked at once.
    await warm(gh, installation, ['pull', 'push'], {
      'GET /installation/repositories': 1,
      'GET /repos/:owner/:repo': 1,
    });
    hub.tokens.installation.repositories = [];
    const answer = await githubHook(fgHub, 'installation_repositories', {
      action: 'removed',
      repository_selection: 'selected',
      repositories_added: [],
      repositories_removed: [{ id: 1, name: 'inst-repo', full_name: 'acme/inst-repo', private: true }],
      installation: { id: 1 },
      sender,
    });
    assertInvalidated(answer, [], ['installation'], 2);
    await refetched(gh, installation, [], { 'GET /installation/repositories': 1, 'GET /repos/:owner/:repo': 1 });
    await stillCached(gh, ben, ['pull', 'push']);
  });

  test('ping: 200 ignored; unrelated events: 202 ignored; nothing dropped', async () => {
    const ping = await githubHook(fgHub, 'ping', {
      zen: 'Design for failure.',
      hook_id: 1,
      hook: { type: 'Repository', events: ['member'] },
      repository: repository('acme/keep'),
      sender,
    });
    assert.equal(ping.status, 200);
    assert.deepEqual(ping.body, { ignored: 'ping' });
    for (const [event, payload] of [
      ['push', { ref: 'refs/heads/main', repository: repository('acme/keep'), sender }],
      ['repository', { action: 'starred', repository: repository('acme/keep'), sender }],
      ['star', { action: 'created', repository: repository('acme/keep'), sender }],
    ] as const) {
      const answer = await githubHook(fgHub, event, payload);
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      assert.equal(typeof answer.body.ignored, 'string');
    }
    await stillCached(gh, ben, ['pull', 'push']);
  });

  test('a bad, missing or foreign signature: 401, nothing dropped', async () => {
    const before = hub.repos.keep.collaborators.get('ben');
    hub.repos.keep.collaborators.delete('ben');
    const payload = { action: 'removed', member: user('ben'), repository: repository('acme/keep'), sender };
    const body = JSON.stringify(payload);
    for (const signature of [
      sign('wrong-secret', body),
      sign(GITHUB_SECRET, `${body} `), // signed some other body
      sign(GITHUB_SECRET, body).replace('sha256=', 'sha1='),
      sign(GITHUB_SECRET, body).slice(0, -2),
      'garbage',
      null,
    ]) {
      assertError(await githubHook(fgHub, 'member', payload, { signature, raw: body }), 401, 'UNAUTHORIZED');
    }
    await stillCached(gh, ben, ['pull', 'push']);
    hub.repos.keep.collaborators.set('ben', before!);
    assert.equal(fgHub.rawLogs().includes(GITHUB_SECRET), false);
  });

  test('malformed: invalid JSON (400), no X-GitHub-Event (400), fields missing (400)', async () => {
    assertError(await githubHook(fgHub, 'member', null, { raw: '{"action": "removed"' }), 400, 'INVALID_REQUEST');
    assertError(
      await githubHook(fgHub, null, { action: 'removed', member: user('ben'), repository: repository('acme/keep') }),
      400,
      'INVALID_REQUEST',
    );
    assertError(
      await githubHook(fgHub, 'member', { action: 'removed', repository: repository('acme/keep') }),
      400,
      'INVALID_REQUEST',
    );
    assertError(
      await githubHook(fgHub, 'repository', { action: 'renamed', repository: { full_name: 'not-a-full-name' } }),
      400,
      'INVALID_REQUEST',
    );
    await stillCached(gh, ben, ['pull', 'push']);
  });
});

// ---- configuration -------------------------------------------------------------------------------

describe('webhooks off or shared between forges', () => {
  test('no webhookSecret for the type: 404, whatever the signature', async () => {
    const fg = await start({ forges: [{ type: 'gitlab', url: gl.url }] });
    assertError(await gitlabHook(fg, projectEvent('project_update', 'z/keep')), 404, 'NOT_FOUND');
    assertError(await githubHook(fg, 'ping', { zen: 'x' }), 404, 'NOT_FOUND'); // no GitHub forge at all
    assertError(await githubHook(fgLab, 'ping', { zen: 'x' }), 404, 'NOT_FOUND'); // a GitLab forge's secret opens no GitHub hook
    const get = await fetch(`${fgLab.url}/hooks/gitlab`);
    assert.equal(get.status, 405);
  });

  test('two GitLab forges with their own secrets: the event reaches the forge whose secret it carries', async () => {
    const fg = await start({
      forges: [
        { name: 'first', type: 'gitlab', url: gl.url, prefix: 'one/', webhookSecret: 'first-secret-Qx7Zk2' },
        { name: 'second', type: 'gitlab', url: gl.url, webhookSecret: 'second-secret-Lm9Pw4' },
      ],
    });
    const viaFirst = () => actions(fg, 'zed', lab.tokens.zed!.token, 'one/z/keep');
    const viaSecond = () => actions(fg, 'zed', lab.tokens.zed!.token, 'z/keep');
    await warm(gl, viaFirst, ['pull', 'push'], GITLAB_ROUND);
    await warm(gl, viaSecond, ['pull', 'push'], GITLAB_ROUND);
    const answer = await gitlabHook(fg, projectEvent('project_update', 'z/keep'), { token: 'second-secret-Lm9Pw4' });
    assertInvalidated(answer, ['z/keep'], []);
    assert.deepEqual(answer.body.forges, ['second']);
    await refetched(gl, viaSecond, ['pull', 'push'], GITLAB_PROJECT);
    await stillCached(gl, viaFirst, ['pull', 'push']);
  });
});

// ---- replicas ---------------------------------------------------------------------------------------

describe('two forgegates sharing Redis', () => {
  let a: TestForgegate;
  let b: TestForgegate;
  before(async () => {
    redis = await startRedis();
    const keyDir = await makeTempDir('keys');
    const replica = () =>
      start({
        token: { keyDir },
        cache: { redisUrl: redis!.url, keyPrefix: 'hooks-test:' },
        forges: [{ type: 'gitlab', url: gl.url, webhookSecret: GITLAB_SECRET }],
      });
    a = await replica(); // first: it generates the signing key both share (and so the cache keys)
    b = await replica();
    await eventually(
      'both replicas reach redis',
      () => a.runtime.redis?.status === 'up' && b.runtime.redis?.status === 'up',
    );
  });

  test('an event sent to A makes B ask GitLab again, for that entry only', async () => {
    const rex = (on: TestForgegate) => () => actions(on, 'rex', lab.tokens.rex!.token, 'r/shared');
    const sam = () => actions(b, 'sam', lab.tokens.sam!.token, 'r/sam');
    await warm(gl, rex(b), ['pull', 'push'], GITLAB_ROUND);
    await warm(gl, sam, ['pull', 'push'], GITLAB_ROUND);
    await stillCached(gl, rex(a), ['pull', 'push']); // A finds B's entries in Redis

    gl.removeMember('r/shared', lab.users.rex!.id);
    // A never verified rex's token itself: the Redis index names B's entries.
    assertInvalidated(
      await gitlabHook(a, teamEvent('user_remove_from_team', lab.users.rex!, 'r/shared')),
      ['r/shared'],
      [`user:${lab.users.rex!.id}`],
      2,
    );

    // B drops its in-process copies when Redis relays A's message: within moments, not a TTL.
    const deadline = Date.now() + 3000;
    let after = await costOf(gl, rex(b));
    while (Object.keys(after.calls).length === 0 && Date.now() < deadline) {
      assert.deepEqual(after.result, ['pull', 'push'], 'until then B answers from its copy');
      await sleep(10);
      after = await costOf(gl, rex(b));
    }
    assert.deepEqual(after.result, []);
    assert.deepEqual(after.calls, GITLAB_ROUND, 'B asked again, one round');
    await stillCached(gl, rex(a), []); // and A reads B's new answer from Redis
    await stillCached(gl, sam, ['pull', 'push']);
  });

  test('a bad token sent to A changes nothing on either replica', async () => {
    const sam = (on: TestForgegate) => () => actions(on, 'sam', lab.tokens.sam!.token, 'r/sam');
    gl.removeMember('r/sam', lab.users.sam!.id);
    assertError(
      await gitlabHook(a, teamEvent('user_remove_from_team', lab.users.sam!, 'r/sam'), { token: 'not-the-secret' }),
      401,
      'UNAUTHORIZED',
    );
    await sleep(100); // what a relayed message would have needed
    await stillCached(gl, sam(b), ['pull', 'push']);
    await stillCached(gl, sam(a), ['pull', 'push']);
  });
});
