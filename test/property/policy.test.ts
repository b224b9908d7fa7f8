import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { judgeGitHub, type GitHubCallerFacts, type GitHubRepoFacts } from '../../src/policy/github.js';
import { adminPowers, judgeGitLab, type GitLabCallerFacts, type GitLabProjectFacts } from '../../src/policy/gitlab.js';
import { allowing, decide, grantedActions, judgeAll, replay, toGrants, type Judge } from '../../src/policy/grant.js';
import { protect, type ProtectedCaller, type ProtectionFacts } from '../../src/policy/protection.js';
import type { Scope } from '../../src/policy/types.js';
import { expectedGrant, githubAllows, gitlabAllows, type GhCaller, type GhGrant, type GlCaller } from './oracle.js';
import { gitlabProtected, type GlRule } from './oracle.js';

// The pure matrices against the table-driven oracle of docs/forges.md: for random callers, roles,
// visibilities, registry levels, token scopes and requested actions, the granted actions are
// exactly the oracle's, hence never more than docs/forges.md allows; and neither the order of the
// requested actions nor a replay through the cache's plain-data form changes them.

const RUNS = { numRuns: 3000 };

const requestedActions = fc
  .array(fc.constantFrom('pull', 'push', 'delete', '*', 'catalog', 'PULL', 'admin'), { minLength: 1, maxLength: 6 })
  .map((a) => [...new Set(a)]);

const glScopes = fc.subarray([
  ...['api', 'read_api', 'read_registry', 'write_registry', 'read_user', 'read_repository', 'sudo', 'ai_features'],
  'admin_mode',
]);
const glRole = fc.constantFrom(0, 5, 10, 15, 20, 25, 30, 35, 40, 50, 60);
const glProject = fc.record({
  visibility: fc.constantFrom('public' as const, 'internal' as const, 'private' as const),
  registry: fc.constantFrom('enabled' as const, 'private' as const, 'disabled' as const),
  archived: fc.boolean(),
});
const glCaller: fc.Arbitrary<GlCaller> = fc.oneof(
  fc.record({ kind: fc.constant('anonymous' as const), anonymousPull: fc.boolean() }),
  fc.record({
    kind: fc.constant('user' as const),
    admin: fc.boolean(),
    adminMode: fc.boolean(),
    external: fc.boolean(),
    scopes: glScopes,
    role: glRole,
  }),
  fc.record({
    kind: fc.constant('job' as const),
    ownProject: fc.boolean(),
    role: glRole,
    external: fc.boolean(),
    allowlisted: fc.boolean(),
    pushAllowed: fc.boolean(),
  }),
);

const ghPermissions = fc.record({
  admin: fc.boolean(),
  maintain: fc.boolean(),
  push: fc.boolean(),
  triage: fc.boolean(),
  pull: fc.boolean(),
});
const ghRepo = fc.record({
  visibility: fc.constantFrom('public' as const, 'private' as const, 'internal' as const),
  archived: fc.boolean(),
});
const ghAppAccess = fc.option(fc.constantFrom('read' as const, 'write' as const, 'admin' as const), { nil: undefined });
const ghGrant: fc.Arbitrary<GhGrant> = fc.oneof(
  fc.record({
    kind: fc.constant('scopes' as const),
    scopes: fc.subarray([
      'repo',
      'public_repo',
      'read:packages',
      'write:packages',
      'delete:packages',
      'read:org',
      'gist',
    ]),
  }),
  fc.record({ kind: fc.constant('unknown' as const), trusted: fc.boolean() }),
  fc.record({
    kind: fc.constant('app' as const),
    permissions: fc.option(
      fc
        .record({ contents: ghAppAccess, packages: ghAppAccess })
        .map((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined))),
      { nil: null },
    ),
  }),
);
const ghCaller: fc.Arbitrary<GhCaller> = fc.oneof(
  fc.record({ kind: fc.constant('anonymous' as const), anonymousPull: fc.boolean() }),
  fc.record({ kind: fc.constant('installation' as const), ownRepository: fc.boolean(), pushOptIn: fc.boolean() }),
  fc.record({
    kind: fc.constant('user' as const),
    grant: ghGrant,
    permissions: fc.option(ghPermissions, { nil: null }),
    deleteNeeds: fc.constantFrom('admin' as const, 'maintain' as const),
  }),
);

function toGitLabFacts(
  caller: GlCaller,
  project: Omit<GitLabProjectFacts, 'path'>,
): [GitLabCallerFacts, GitLabProjectFacts] {
  const facts: GitLabProjectFacts = { ...project, path: 'group/proj' };
  switch (caller.kind) {
    case 'anonymous':
      return [caller, facts];
    case 'user': {
      // The forge derives admin powers from the account, the token and the adminMode setting.
      const { adminMode, ...rest } = caller;
      const admin = adminPowers(caller.admin, caller.scopes, adminMode);
      return [{ ...rest, username: 'someone', instanceAdmin: caller.admin, admin }, facts];
    }
    case 'job':
      return [{ ...caller, sourcePath: 'group/ci' }, facts];
  }
}

function toGitHubFacts(
  caller: GhCaller,
  repo: Omit<GitHubRepoFacts, 'fullName'>,
): [GitHubCallerFacts, GitHubRepoFacts] {
  const facts: GitHubRepoFacts = { ...repo, fullName: 'owner/repo' };
  return [caller.kind === 'user' ? { ...caller, login: 'someone' } : caller, facts];
}

const scopeOf = (actions: string[]): Scope => ({ type: 'repository', name: 'group/proj/app', actions });

function granted(judge: Judge, actions: string[]): string[] {
  return grantedActions(decide(scopeOf(actions), judge));
}

function checkOrderAndReplay(judge: Judge, actions: string[], shuffled: string[], expected: string[]): void {
  assert.deepEqual(granted(judge, shuffled), expected, 'the order of requested actions changed the grant');
  // What the cache keeps is judgeAll's plain data, round-tripped through JSON (Redis).
  const replayed = replay(JSON.parse(JSON.stringify(judgeAll(judge))));
  assert.deepEqual(granted(replayed, actions), expected, 'a replayed (cached) judgement grants differently');
}

describe('GitLab matrix against docs/forges.md', () => {
  test('granted actions equal the table-driven expectation, in any order, cold or replayed', () => {
    fc.assert(
      fc.property(
        glCaller,
        glProject,
        requestedActions.chain((a) => fc.tuple(fc.constant(a), fc.shuffledSubarray(a, { minLength: a.length }))),
        (caller, project, [actions, shuffled]) => {
          const judge = judgeGitLab(...toGitLabFacts(caller, project));
          const expected = expectedGrant(actions, gitlabAllows(caller, project));
          assert.deepEqual(granted(judge, actions), expected, 'granted differs from docs/forges.md');
          checkOrderAndReplay(judge, actions, shuffled, expected);
        },
      ),
      RUNS,
    );
  });

  test('never more than the role allows: no push below Developer, no delete below Maintainer, nothing on a disabled registry', () => {
    fc.assert(
      fc.property(glCaller, glProject, requestedActions, (caller, project, actions) => {
        const got = new Set(granted(judgeGitLab(...toGitLabFacts(caller, project)), actions));
        if (project.registry === 'disabled') assert.equal(got.size, 0, 'a disabled registry granted something');
        if (caller.kind === 'anonymous')
          assert.ok(!got.has('push') && !got.has('delete') && !got.has('*'), 'anonymous got more than pull');
        const adminModeAllows = caller.kind === 'user' && (!caller.adminMode || caller.scopes.includes('admin_mode'));
        const actsAsAdmin = caller.kind === 'user' && caller.admin && adminModeAllows;
        if (caller.kind === 'user' && !actsAsAdmin) {
          if (caller.role < 30) assert.ok(!got.has('push'), 'push below Developer');
          if (caller.role < 40) assert.ok(!got.has('delete'), 'delete below Maintainer');
          assert.ok(!got.has('*'), '* for a non-admin');
        }
        if (caller.kind === 'user' && !caller.scopes.includes('api'))
          assert.ok(!got.has('delete') && !got.has('*'), 'delete without the api scope');
        if (caller.kind === 'job') assert.ok(!got.has('*'), '* for a job token');
        if (caller.kind === 'job' && !caller.ownProject)
          assert.ok(!got.has('delete'), 'cross-project delete by a job token');
        if (project.archived)
          assert.ok(!got.has('push') && !got.has('delete') && !got.has('*'), 'a write on an archived project');
      }),
      RUNS,
    );
  });
});

describe('GitLab protected container repositories against the documented rules', () => {
  const level = fc.constantFrom('maintainer' as const, 'owner' as const, 'admin' as const, null);
  // Patterns and images over a small alphabet, so that rules match often and at every depth.
  const segment = fc.constantFrom('group', 'proj', 'app', 'App', 'rel', 'release-1', 'x');
  const image = fc
    .array(segment, { minLength: 0, maxLength: 2 })
    .map((rest) => ['group', 'proj', ...rest].join('/').toLowerCase());
  const pattern = fc
    .array(fc.oneof(segment, fc.constantFrom('*', 'rel*', '*-1', '*/x')), { minLength: 0, maxLength: 3 })
    .map((rest) => ['group/proj', ...rest].join('/'))
    .chain((p) => fc.constantFrom(p, `${p}*`, p.toUpperCase()));
  const rule: fc.Arbitrary<GlRule> = fc.record({ pattern, push: level, delete: level });
  const rules = fc.option(fc.array(rule, { maxLength: 4 }), { nil: null, freq: 5 });
  const factsOf = (list: GlRule[] | null): ProtectionFacts =>
    list === null ? { kind: 'unreadable', cause: 'no-api' } : { kind: 'rules', rules: list };
  const modeOf = (strict: boolean) => (strict ? 'strict' : 'best-effort');
  const member = (level: number): ProtectedCaller => ({ kind: 'member', level, as: 'you are' });

  test('granted actions equal the table-driven expectation with rules applied', () => {
    const cases = fc.tuple(glCaller, glProject, image, rules, glRole, fc.boolean(), requestedActions);
    fc.assert(
      fc.property(cases, ([caller, project, path, list, jobRole, strict, actions]) => {
        const base = judgeGitLab(...toGitLabFacts(caller, project));
        const admin = caller.kind === 'user' && caller.admin;
        // Job tokens are judged on their user's role; anonymous callers never hold a write.
        const role = caller.kind === 'user' ? caller.role : caller.kind === 'job' ? jobRole : 0;
        const who: ProtectedCaller = admin ? { kind: 'admin' } : member(role);
        const judge = protect(base, path, 'group/proj', factsOf(list), who, modeOf(strict));
        const seen = admin ? ({ admin: true } as const) : ({ admin: false, role } as const);
        const holds = gitlabProtected(gitlabAllows(caller, project), path, list, seen, strict);
        const expected = expectedGrant(actions, holds);
        assert.deepEqual(granted(judge, actions), expected, 'granted differs from the documented rules');
        const replayed = replay(JSON.parse(JSON.stringify(judgeAll(judge))));
        assert.deepEqual(granted(replayed, actions), expected, 'a replayed (cached) judgement grants differently');
      }),
      RUNS,
    );
  });

  // Grants made elsewhere (an OIDC rule may hold `*`): `*` survives only while push and delete do.
  test('any grant, `*` included, loses exactly what the rules take', () => {
    const held = fc.subarray(['pull', 'push', 'delete', '*'] as const);
    const cases = fc.tuple(held, image, rules, glRole, fc.boolean(), requestedActions);
    fc.assert(
      fc.property(cases, ([actionsHeld, path, list, role, strict, actions]) => {
        const base = allowing({ actions: actionsHeld, rule: 'oidc-own', because: 'a rule' });
        const judge = protect(base, path, 'group/proj', factsOf(list), member(role), modeOf(strict));
        const star = actionsHeld.includes('*');
        const explicit = new Set<'pull' | 'push' | 'delete'>(star ? ['pull', 'push', 'delete'] : []);
        for (const action of actionsHeld) if (action !== '*') explicit.add(action);
        const holds = gitlabProtected({ explicit, star }, path, list, { admin: false, role }, strict);
        assert.deepEqual(granted(judge, actions), expectedGrant(actions, holds));
      }),
      RUNS,
    );
  });

  test('never more than without the rules, and a pull is never taken away', () => {
    const cases = fc.tuple(glCaller, glProject, image, rules, glRole, fc.boolean());
    fc.assert(
      fc.property(cases, ([caller, project, path, list, jobRole, strict]) => {
        const base = judgeGitLab(...toGitLabFacts(caller, project));
        const judge = protect(base, path, 'group/proj', factsOf(list), member(jobRole), modeOf(strict));
        for (const action of ['pull', 'push', 'delete', '*'] as const) {
          if (judge(action).granted) assert.ok(base(action).granted, `${action} granted only with the rules`);
        }
        assert.equal(judge('pull').granted, base('pull').granted, 'a pull changed');
      }),
      RUNS,
    );
  });
});

describe('GitHub matrix against docs/forges.md', () => {
  test('granted actions equal the table-driven expectation, in any order, cold or replayed', () => {
    fc.assert(
      fc.property(
        ghCaller,
        ghRepo,
        requestedActions.chain((a) => fc.tuple(fc.constant(a), fc.shuffledSubarray(a, { minLength: a.length }))),
        (caller, repo, [actions, shuffled]) => {
          const judge = judgeGitHub(...toGitHubFacts(caller, repo));
          const expected = expectedGrant(actions, githubAllows(caller, repo));
          assert.deepEqual(granted(judge, actions), expected, 'granted differs from docs/forges.md');
          checkOrderAndReplay(judge, actions, shuffled, expected);
        },
      ),
      RUNS,
    );
  });

  test('never more than the permission allows', () => {
    fc.assert(
      fc.property(ghCaller, ghRepo, requestedActions, (caller, repo, actions) => {
        const got = new Set(granted(judgeGitHub(...toGitHubFacts(caller, repo)), actions));
        assert.ok(!got.has('*'), '* on GitHub');
        if (caller.kind !== 'user') assert.ok(!got.has('delete'), 'delete without a user token');
        if (caller.kind === 'user' && caller.permissions === null)
          assert.ok(!got.has('push') && !got.has('delete'), 'a write on an invisible repository');
        if (caller.kind === 'user' && caller.permissions !== null && !caller.permissions.push)
          assert.ok(!got.has('push'), 'push without the push permission');
        if (caller.kind === 'user' && caller.grant.kind === 'unknown' && !caller.grant.trusted)
          assert.ok(!got.has('push') && !got.has('delete'), 'a write by a token whose own permission is unknown');
        if (caller.kind === 'installation' && !caller.pushOptIn)
          assert.ok(!got.has('push'), 'an installation token pushed without installationTokenPush');
        if (repo.archived) assert.ok(!got.has('push') && !got.has('delete'), 'a write on an archived repository');
        if (repo.visibility !== 'public' && caller.kind === 'anonymous')
          assert.equal(got.size, 0, 'anonymous access to a non-public repository');
      }),
      RUNS,
    );
  });
});

describe('toGrants', () => {
  test('one entry per scope with a granted action, never an action that was not granted', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(glCaller, glProject, requestedActions), { maxLength: 8 }), (cases) => {
        const decisions = cases.map(([caller, project, actions], i) =>
          decide({ type: 'repository', name: `g/p${i}`, actions }, judgeGitLab(...toGitLabFacts(caller, project))),
        );
        const grants = toGrants(decisions);
        const expected = decisions.filter((d) => grantedActions(d).length > 0);
        assert.equal(grants.length, expected.length, 'grant count');
        grants.forEach((g, i) => {
          assert.equal(g.name, expected[i]!.scope.name, 'grant order follows scope order');
          for (const a of g.actions)
            assert.ok(
              expected[i]!.scope.actions.includes(a) || expected[i]!.scope.actions.includes('*'),
              `granted ${a} not asked for`,
            );
        });
      }),
      { numRuns: 500 },
    );
  });
});
