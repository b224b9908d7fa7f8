import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ACCESS, FakeGitLab, type GitLabToken, type GitLabUser, type ProtectionLevel } from '../fakes/gitlab.js';
import { FakeOidcIssuer, gitlabClaims } from '../fakes/oidc-issuer.js';
import { startForgegate, type TestForgegate } from '../support/forgegate.js';
import { granted, repo, tokenClient, type Grant } from '../support/token-client.js';

// GitLab's protected container repositories over real HTTP: forgegate in-process in front of a
// FakeGitLab (through gitbeaker), every answer decoded down to the JWT `access` claim. A rule
// names a full image path pattern (`*` wildcards at any depth) and the minimum role to push
// and to delete; the caller needs every matching rule's minimum; instance admins pass; pulls
// are never affected. Tests run one at a time and change the fake's rules as they go.

const SERVICE = 'registry.test';
const PROJECT = 'acme/app';
type Role = 'Developer' | 'Maintainer' | 'Owner' | 'admin';
const ROLES: readonly Role[] = ['Developer', 'Maintainer', 'Owner', 'admin'];
type Credential = 'PAT' | 'job token' | 'registry token';
const CREDENTIALS: readonly Credential[] = ['PAT', 'job token', 'registry token'];

const fake = new FakeGitLab();
const issuer = new FakeOidcIssuer();
const m = buildModel(fake);

/** Service token (an admin bot), best-effort, the push allowlist acme/ci -> acme/app, the GitLab CI issuer. */
let fg: TestForgegate;
/** No service token, best-effort and strict. */
let fgNoService: TestForgegate;
let fgNoServiceStrict: TestForgegate;
/** Service token, strict. */
let fgStrict: TestForgegate;
/** The service token of a Reporter bot: it may not list rules. */
let fgWeak: TestForgegate;
/** Decisions cached for 2 s, webhooks on. */
let fgCached: TestForgegate;
const every = (): TestForgegate[] => [fg, fgNoService, fgNoServiceStrict, fgStrict, fgWeak, fgCached];
const client = tokenClient(SERVICE, () => fg);
const HOOK_SECRET = 'protection-hook-secret';

before(async () => {
  const [url] = await Promise.all([fake.start(), issuer.start()]);
  // The fake models an instance without Admin Mode: admin tokens act as admins without admin_mode.
  const forge = { type: 'gitlab', url, adminMode: false };
  const start = (extra: Record<string, unknown>, raw: Record<string, unknown> = {}) =>
    startForgegate({ token: { service: SERVICE }, forges: [{ ...forge, ...extra }], ...raw });
  const service = m.tokens.service.token;
  const gitlabCi = { issuer: issuer.url, audience: SERVICE, preset: 'gitlab', forge: 'gitlab' };
  fg = await start(
    { serviceToken: service, jobTokenPushAllowlist: [{ source: 'acme/ci', targets: [PROJECT] }] },
    { oidc: [{ ...gitlabCi, rules: [{ project: 'acme/**', actions: ['pull', 'push', 'delete'] }] }] },
  );
  fgNoService = await start({});
  fgNoServiceStrict = await start({ protectedRepositories: 'strict' });
  fgStrict = await start({ serviceToken: service, protectedRepositories: 'strict' });
  fgWeak = await start({ serviceToken: m.tokens.weakService.token });
  const cache = { identityTtl: 60, decisionTtl: 2 };
  fgCached = await start({ serviceToken: service, webhookSecret: HOOK_SECRET }, { cache });
});
after(async () => {
  await Promise.all(every().map((f) => f?.stop()));
  await Promise.all([fake.stop(), issuer.stop()]);
});
beforeEach(() => {
  protect([]);
  fake.version = '17.9.2';
  fake.clearInjections();
});

// ---- the GitLab model ------------------------------------------------------------------------

function buildModel(gl: FakeGitLab) {
  const user = (username: string, init: Partial<GitLabUser> = {}) => gl.addUser({ username, ...init });
  const users = {
    Developer: user('dev'),
    Maintainer: user('mia'),
    Owner: user('olga'), // Owner of the group acme
    admin: user('root', { is_admin: true }), // a member of nothing
    bot: user('forgegate-bot', { bot: true, is_admin: true }),
    weakBot: user('forgegate-reader', { bot: true }), // Reporter of acme
  };
  gl.addProject({ path_with_namespace: PROJECT });
  gl.addProject({ path_with_namespace: 'acme/ci' });
  gl.addMember(PROJECT, users.Developer.id, ACCESS.developer);
  gl.addMember(PROJECT, users.Maintainer.id, ACCESS.maintainer);
  gl.addMember('acme', users.Owner.id, ACCESS.owner);
  gl.addMember('acme', users.weakBot.id, ACCESS.reporter);

  let n = 0;
  const token = (owner: GitLabUser, scopes: string[], init: Partial<GitLabToken> = {}) =>
    gl.addToken({ token: `glpat-${owner.username}-${scopes.join('+')}-${++n}Pz4`, user_id: owner.id, scopes, ...init });
  const job = (owner: GitLabUser, project: string) =>
    gl.addJob({ token: `glcbt-64_${owner.username}-${++n}Pz4`, project, user_id: owner.id });
  const byRole = <T>(make: (u: GitLabUser) => T) =>
    Object.fromEntries(ROLES.map((role) => [role, make(users[role])])) as Record<Role, T>;
  const tokens = {
    service: token(users.bot, ['read_api'], { kind: 'service_account' }),
    weakService: token(users.weakBot, ['read_api'], { kind: 'service_account' }),
  };
  const credentials: Record<Credential, Record<Role, { username: string; password: string }>> = {
    PAT: byRole((u) => ({ username: u.username, password: token(u, ['api']).token })),
    'job token': byRole((u) => ({ username: 'gitlab-ci-token', password: job(u, PROJECT).token })),
    // What GitLab's registry docs tell users to create; forgegate needs the service token for its role.
    'registry token': byRole((u) => ({
      username: u.username,
      password: token(u, ['read_registry', 'write_registry']).token,
    })),
  };
  // Jobs of acme/ci, which forgegate's push allowlist lets into acme/app.
  const ciJobs = {
    Developer: job(users.Developer, 'acme/ci').token,
    Maintainer: job(users.Maintainer, 'acme/ci').token,
  };
  return { users, tokens, credentials, ciJobs };
}

type RuleInit = { pattern: string; push?: ProtectionLevel; delete?: ProtectionLevel };

/** The project's rules become exactly `rules`. */
function protect(rules: readonly RuleInit[]): void {
  for (const rule of fake.protectionRules(PROJECT)) fake.removeProtectionRule(rule);
  for (const rule of rules) fake.addProtectionRule(PROJECT, rule);
}

// ---- the expectation, written from the rule semantics alone -----------------------------------

const ROLE_LEVEL: Record<Role, number> = { Developer: 30, Maintainer: 40, Owner: 50, admin: 0 };
const MINIMUM: Record<ProtectionLevel, number> = { maintainer: 40, owner: 50, admin: Infinity };

/** GitLab's glob: `*` is any run of characters, `/` included; case does not matter. */
function globMatches(pattern: string, text: string): boolean {
  const p = pattern.toLowerCase();
  const t = text.toLowerCase();
  if (p === '') return t === '';
  if (p[0] === '*') return [...Array(t.length + 1).keys()].some((skip) => globMatches(p.slice(1), t.slice(skip)));
  return t[0] === p[0] && globMatches(p.slice(1), t.slice(1));
}

/** What the permission matrix grants before any rule. */
function beforeRules(role: Role, credential: Credential): string[] {
  if (credential === 'job token') return ['pull', 'push', 'delete']; // its own project, whatever the role
  if (credential === 'registry token') return ['pull', 'push']; // write_registry never deletes
  return role === 'Developer' ? ['pull', 'push'] : ['pull', 'push', 'delete'];
}

function expected(role: Role, credential: Credential, rules: readonly RuleInit[], image: string): string[] {
  // Instance admins pass every rule; a job is judged on its user's role, an admin's job too.
  const passes = role === 'admin' && credential !== 'job token';
  return beforeRules(role, credential).filter((action) => {
    if (action === 'pull' || passes) return true;
    const minima = rules.flatMap((r) => {
      const level = action === 'push' ? r.push : r.delete;
      return level !== undefined && globMatches(r.pattern, image) ? [MINIMUM[level]] : [];
    });
    return minima.every((minimum) => ROLE_LEVEL[role] >= minimum);
  });
}

// ---- helpers ----------------------------------------------------------------------------------

const { token } = client;
const access = (answer: { status: number; access: Grant[] | undefined; body: unknown }): string[] => {
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.access?.[0]?.actions ?? [];
};

async function ask(
  role: Role,
  credential: Credential,
  image: string,
  on: TestForgegate = fg,
  actions = 'pull,push,delete',
): Promise<string[]> {
  const { username, password } = m.credentials[credential][role];
  return access(await token(username, password, repo(image, actions), on));
}

type Verdict = { action: string; granted: boolean; rule: string; reason: string };

/** POST /explain (the status page's "Check my access"): every verdict with its reason. */
async function explain(
  role: Role,
  credential: Credential,
  image: string,
  on: TestForgegate = fg,
): Promise<Record<string, Verdict>> {
  const { username, password } = m.credentials[credential][role];
  const response = await fetch(`${on.url}/explain`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password, image }),
  });
  const body = (await response.json()) as { verdicts: Verdict[] };
  assert.equal(response.status, 200, JSON.stringify(body));
  return Object.fromEntries(body.verdicts.map((v) => [v.action, v]));
}

async function statusPage(on: TestForgegate): Promise<string> {
  return (await fetch(`${on.url}/`)).text();
}

// ---- 1. the matrix ----------------------------------------------------------------------------

describe('1. roles x rules x credentials', () => {
  const cases: { name: string; rules: RuleInit[]; images: string[] }[] = [
    { name: 'no rule', rules: [], images: ['acme/app/release'] },
    {
      name: 'push-only (Maintainer)',
      rules: [{ pattern: 'acme/app/release*', push: 'maintainer' }],
      images: ['acme/app/release-1', 'acme/app/nightly'],
    },
    {
      name: 'delete-only (Owner)',
      rules: [{ pattern: 'acme/app/release*', delete: 'owner' }],
      images: ['acme/app/release', 'acme/app/rel'],
    },
    {
      name: 'several matching: the strictest of each wins',
      rules: [
        { pattern: 'acme/app/*', push: 'maintainer' },
        { pattern: 'acme/app/release*', push: 'owner', delete: 'owner' },
        { pattern: 'acme/app/other', push: 'admin' },
      ],
      images: ['acme/app/release/v2', 'acme/app/web', 'acme/app/other'],
    },
    {
      name: 'wildcards at several depths, in any case',
      rules: [
        { pattern: 'acme/app/*/prod', push: 'owner' },
        { pattern: 'ACME/App*', delete: 'owner' },
      ],
      images: ['acme/app', 'acme/app/prod', 'acme/app/svc/prod', 'acme/app/svc/stage'],
    },
    {
      name: "the project's root image",
      rules: [{ pattern: 'acme/app', push: 'maintainer', delete: 'owner' }],
      images: ['acme/app', 'acme/app/x'],
    },
    { name: 'admin only', rules: [{ pattern: 'acme/app/*', push: 'admin', delete: 'admin' }], images: ['acme/app/x'] },
  ];
  for (const { name, rules, images } of cases) {
    test(name, async () => {
      protect(rules);
      for (const image of images) {
        for (const role of ROLES) {
          for (const credential of CREDENTIALS) {
            const got = await ask(role, credential, image);
            assert.deepEqual(got, expected(role, credential, rules, image), `${role} with a ${credential} on ${image}`);
          }
        }
      }
    });
  }

  test('the decision names the rule: push denied, and what it takes', async () => {
    protect([{ pattern: 'acme/app/release*', push: 'maintainer' }]);
    const denial = 'push denied: acme/app/release* is protected: Maintainer required';
    assert.equal((await explain('Developer', 'PAT', 'acme/app/release')).push?.reason, `${denial}, you are Developer`);
    const registryToken = (await explain('Developer', 'registry token', 'acme/app/release')).push;
    assert.equal(registryToken?.reason, `${denial}, you are Developer`);
    const job = (await explain('Developer', 'job token', 'acme/app/release')).push!;
    const jobDenial = `${denial}, the job's user dev is Developer`;
    assert.deepEqual(job, { action: 'push', granted: false, rule: 'protected', reason: jobDenial });
    const adminJob = (await explain('admin', 'job token', 'acme/app/release')).push;
    assert.equal(adminJob?.reason, `${denial}, the job's user root is not a member`);
    const maintainer = (await explain('Maintainer', 'PAT', 'acme/app/release')).push!;
    assert.equal(maintainer.granted, true);
    assert.match(maintainer.reason, /; acme\/app\/release\* is protected: Maintainer required, you are Maintainer$/);
    const pull = (await explain('Developer', 'PAT', 'acme/app/release')).pull!;
    assert.equal(pull.granted, true, 'pulls are never affected');
  });

  test('several rules: the strictest names itself; an admin-only rule says so', async () => {
    protect([
      { pattern: 'acme/app/*', push: 'maintainer' },
      { pattern: 'acme/app/release*', push: 'owner', delete: 'owner' },
    ]);
    const verdicts = await explain('Maintainer', 'PAT', 'acme/app/release/v2');
    const owner = 'acme/app/release* is protected: Owner required, you are Maintainer';
    assert.equal(verdicts.push?.reason, `push denied: ${owner}`);
    assert.equal(verdicts.delete?.reason, `delete denied: ${owner}`);
    protect([{ pattern: 'acme/app/*', push: 'admin' }]);
    const admin = (await explain('Owner', 'PAT', 'acme/app/x')).push;
    assert.equal(admin?.reason, 'push denied: acme/app/* is protected: an instance admin required, you are Owner');
  });

  test('* narrows to what the rules leave; an admin keeps *', async () => {
    protect([{ pattern: 'acme/app/release*', push: 'owner', delete: 'owner' }]);
    assert.deepEqual(await ask('Maintainer', 'PAT', 'acme/app/release', fg, '*'), ['pull']);
    assert.deepEqual(await ask('Owner', 'PAT', 'acme/app/release', fg, '*'), ['pull', 'push', 'delete']);
    assert.deepEqual(await ask('admin', 'PAT', 'acme/app/release', fg, '*'), ['*']);
    protect([{ pattern: 'acme/app/release*', delete: 'owner' }]);
    assert.deepEqual(await ask('Maintainer', 'PAT', 'acme/app/release', fg, '*'), ['pull', 'push']);
    assert.deepEqual(await ask('Developer', 'job token', 'acme/app/release', fg, '*'), ['pull', 'push']);
  });
});

// ---- 2. job tokens beyond their own project, and ID tokens ------------------------------------

describe('2. the job token push allowlist and OIDC rules respect protection the same way', () => {
  const ciJob = (role: 'Developer' | 'Maintainer', image: string) =>
    token('gitlab-ci-token', m.ciJobs[role], repo(image));

  test("the push allowlist: judged on the job user's role on the target", async () => {
    const open = access(await ciJob('Developer', 'acme/app/release'));
    assert.deepEqual(open, ['pull', 'push'], 'no rule: the allowlist pushes');
    protect([{ pattern: 'acme/app/release*', push: 'maintainer' }]);
    assert.deepEqual(access(await ciJob('Developer', 'acme/app/release')), ['pull']);
    assert.deepEqual(access(await ciJob('Maintainer', 'acme/app/release')), ['pull', 'push']);
    assert.deepEqual(access(await ciJob('Developer', 'acme/app/web')), ['pull', 'push'], 'an image no rule matches');
  });

  const idToken = (overrides: Record<string, unknown>) => issuer.sign(gitlabClaims(PROJECT, overrides));
  const withIdToken = async (overrides: Record<string, unknown>, image: string) =>
    access(await token('oidc', await idToken(overrides), repo(image)));
  const all = ['pull', 'push', 'delete'];

  test('ID tokens: judged on the user_access_level claim', async () => {
    assert.deepEqual(await withIdToken({ user_access_level: 'developer' }, 'acme/app/release'), all, 'no rule');
    protect([{ pattern: 'acme/app/release*', push: 'maintainer', delete: 'owner' }]);
    assert.deepEqual(await withIdToken({ user_access_level: 'developer' }, 'acme/app/release'), ['pull']);
    assert.deepEqual(await withIdToken({ user_access_level: 'maintainer' }, 'acme/app/release'), ['pull', 'push']);
    assert.deepEqual(await withIdToken({ user_access_level: 'owner' }, 'acme/app/release'), ['pull', 'push', 'delete']);
    const web = await withIdToken({ user_access_level: 'developer' }, 'acme/app/web');
    assert.deepEqual(web, all, 'an image no rule matches');
    // Without the claim the role is unknown: any rule that applies refuses.
    assert.deepEqual(await withIdToken({ user_access_level: undefined }, 'acme/app/release'), ['pull']);
    const line = fg
      .logs()
      .filter((l) => l.msg === 'token request')
      .at(-1)!;
    const unknown =
      'push denied: acme/app/release* is protected: Maintainer required, and the ID token has no ' +
      'user_access_level claim';
    assert.ok(
      (line.denied as string[]).some((d) => d.includes(unknown)),
      JSON.stringify(line.denied),
    );
  });
});

// ---- 3. rules that cannot be read -------------------------------------------------------------

describe('3. rules that cannot be read: best-effort and strict', () => {
  beforeEach(() => protect([{ pattern: 'acme/app/release*', push: 'owner', delete: 'owner' }]));

  test('no service token, best-effort: a Developer is decided without them; a Maintainer reads them', async () => {
    assert.deepEqual(await ask('Developer', 'PAT', 'acme/app/release', fgNoService), ['pull', 'push']);
    assert.deepEqual(await ask('Maintainer', 'PAT', 'acme/app/release', fgNoService), ['pull']);
    // A job's own project is read with the service token only: without one, a job gets nothing.
    assert.deepEqual(await ask('Developer', 'job token', 'acme/app/release', fgNoService), []);
    const page = await statusPage(fgNoService);
    assert.match(page, /protection rules of container repositories are read only with the tokens of Maintainers/);
    assert.match(page, /protectedRepositories is best-effort: they are not enforced there/);
  });

  test('no service token, strict: push and delete refused with the reason; pulls and Owners as usual', async () => {
    assert.deepEqual(await ask('Developer', 'PAT', 'acme/app/release', fgNoServiceStrict), ['pull']);
    const reason = (await explain('Developer', 'PAT', 'acme/app/release', fgNoServiceStrict)).push!;
    assert.deepEqual(reason, {
      action: 'push',
      granted: false,
      rule: 'protection-unreadable',
      reason:
        'push denied: the protection rules of acme/app cannot be read: the forge has no serviceToken and ' +
        'listing them needs Maintainer; protectedRepositories is strict',
    });
    assert.deepEqual(await ask('Developer', 'job token', 'acme/app/release', fgNoServiceStrict), []);
    const all = ['pull', 'push', 'delete'];
    assert.deepEqual(await ask('Owner', 'PAT', 'acme/app/release', fgNoServiceStrict), all, 'an Owner reads them');
    assert.deepEqual(await ask('admin', 'PAT', 'acme/app/release', fgNoServiceStrict), all, 'admins pass every rule');
    const page = await statusPage(fgNoServiceStrict);
    assert.match(page, /protectedRepositories is strict: push and delete are refused there/);
  });

  test('GitLab before 17.9 (404): best-effort decides without them, strict refuses; the page says so', async () => {
    fake.version = '17.8.1';
    assert.deepEqual(await ask('Developer', 'registry token', 'acme/app/release', fg), ['pull', 'push']);
    assert.deepEqual(await ask('Developer', 'registry token', 'acme/app/release', fgStrict), ['pull']);
    const reason = (await explain('Maintainer', 'PAT', 'acme/app/release', fgStrict)).delete!.reason;
    const why = 'GitLab has no API for them before 17.9; protectedRepositories is strict';
    assert.equal(reason, `delete denied: the protection rules of acme/app cannot be read: ${why}`);
    for (const on of [fg, fgStrict]) {
      const page = await statusPage(on);
      const notice = /could not be read \d+ time\(s\), last at [0-9T:-]+Z: GitLab has no API for them before 17\.9/;
      assert.match(page, notice);
      assert.ok(!page.includes('acme/'), 'the status page names no project');
    }
    fake.version = '17.9.0';
    const enforced = await ask('Developer', 'registry token', 'acme/app/release', fgStrict);
    assert.deepEqual(enforced, ['pull'], 'enforced again: a Developer is below Owner');
    assert.deepEqual(await ask('Owner', 'registry token', 'acme/app/release', fgStrict), ['pull', 'push']);
  });

  test('a service token below Maintainer (403): unreadable for Developers, read by Maintainers', async () => {
    assert.deepEqual(await ask('Developer', 'PAT', 'acme/app/release', fgWeak), ['pull', 'push']);
    assert.deepEqual(await ask('Maintainer', 'PAT', 'acme/app/release', fgWeak), ['pull']);
    const page = await statusPage(fgWeak);
    assert.match(page, /the serviceToken may not list them \(it needs Maintainer on the project, or admin\)/);
  });

  test("a job user's role that cannot be looked up: the rule refuses, saying why", async () => {
    fake.inject({ endpoint: 'GET /projects/:id/members/all/:user_id', kind: 'status', status: 403 });
    const verdicts = await explain('Maintainer', 'job token', 'acme/app/release');
    assert.equal(verdicts.pull?.granted, true);
    const why = "the role of the job's user mia could not be looked up (HTTP 403)";
    assert.equal(verdicts.push?.reason, `push denied: acme/app/release* is protected: Owner required, and ${why}`);
    assert.equal(verdicts.delete?.granted, false);
    const open = await ask('Maintainer', 'job token', 'acme/app/nightly');
    assert.deepEqual(open, ['pull', 'push', 'delete'], 'no rule applies: no role needed');
  });
});

describe('3b. GitLab failing on the rules fails closed', () => {
  const RULES = 'GET /projects/:id/registry/protection/repository/rules';

  test('a 5xx or a timeout: 503 naming the forge, never a grant', async () => {
    for (const injection of [{ kind: 'status' as const, status: 500 }, { kind: 'malformed' as const }]) {
      fake.inject({ endpoint: RULES, ...injection });
      const { username, password } = m.credentials.PAT.Developer;
      const answer = await token(username, password, repo('acme/app/release'));
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      assert.match(answer.body.errors[0].message, /^GitLab "gitlab" /);
      fake.clearInjections();
    }
  });

  test("a 401 on a Maintainer's own token: 401, as on any of its calls", async () => {
    fake.inject({ endpoint: RULES, kind: 'status', status: 401 });
    const { username, password } = m.credentials.PAT.Maintainer;
    const answer = await token(username, password, repo('acme/app/release'));
    assert.equal(answer.status, 401, JSON.stringify(answer.body));
  });
});

// ---- 4. caching -------------------------------------------------------------------------------

describe('4. rules are project facts, cached for cache.decisionTtl', () => {
  const RULES = 'GET /projects/:id/registry/protection/repository/rules';
  /** What GitLab sends when a project changes: its cached entries, rules included, are dropped. */
  const projectChanged = async () => {
    const hook = await fetch(`${fgCached.url}/hooks/gitlab`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Gitlab-Token': HOOK_SECRET, 'X-Gitlab-Event': 'System Hook' },
      body: JSON.stringify({ event_name: 'project_update', path_with_namespace: PROJECT }),
    });
    assert.equal(hook.status, 200, await hook.text());
  };
  beforeEach(projectChanged);

  test('read once per project, whoever asks next', async () => {
    protect([{ pattern: 'acme/app/release*', push: 'maintainer' }]);
    fake.resetCalls();
    // Fresh images (no cached decision): the Owner reads the rules with its own token...
    assert.deepEqual(await ask('Owner', 'PAT', 'acme/app/c1', fgCached), ['pull', 'push', 'delete']);
    assert.equal(fake.calls(RULES), 1);
    // ...and nobody reads them again within the TTL, not even a Developer with no service token of its own.
    assert.deepEqual(await ask('Developer', 'PAT', 'acme/app/release-c1', fgCached), ['pull']);
    assert.deepEqual(await ask('Developer', 'job token', 'acme/app/release-c1', fgCached), ['pull', 'delete']);
    assert.equal(fake.calls(RULES), 1);
  });

  test('a rule added while cached decisions exist is enforced within the TTL (2 s)', async () => {
    const image = 'acme/app/release-ttl';
    // t0: the rules (none) are read and two decisions rest on them.
    assert.deepEqual(await ask('Developer', 'PAT', image, fgCached), ['pull', 'push']);
    protect([{ pattern: 'acme/app/release*', push: 'maintainer' }]);
    const added = Date.now();
    await sleep(1100);
    // Decided now from the rules read at t0: a cached decision must not outlive them.
    await ask('Developer', 'registry token', image, fgCached);
    const left = 2000 - (Date.now() - added) + 100;
    if (left > 0) await sleep(left);
    assert.deepEqual(await ask('Developer', 'PAT', image, fgCached), ['pull']);
    const later = await ask('Developer', 'registry token', image, fgCached);
    assert.deepEqual(later, ['pull'], 'not fresher than the rules it used');
  });

  test('a webhook that drops the project drops its rules: enforced at once', async () => {
    const image = 'acme/app/release-hook';
    assert.deepEqual(await ask('Developer', 'PAT', image, fgCached), ['pull', 'push']);
    protect([{ pattern: 'acme/app/release*', push: 'maintainer' }]);
    assert.deepEqual(await ask('Developer', 'PAT', image, fgCached), ['pull', 'push'], 'still cached');
    await projectChanged();
    assert.deepEqual(await ask('Developer', 'PAT', image, fgCached), ['pull']);
  });
});
