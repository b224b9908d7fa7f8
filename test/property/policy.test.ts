import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { judgeGitHub, type GitHubCallerFacts, type GitHubRepoFacts } from '../../src/policy/github.js';
import { judgeGitLab, type GitLabCallerFacts, type GitLabProjectFacts } from '../../src/policy/gitlab.js';
import { decide, grantedActions, judgeAll, replay, toGrants, type Judge } from '../../src/policy/grant.js';
import type { Scope } from '../../src/policy/types.js';
import { expectedGrant, githubAllows, gitlabAllows, type GhCaller, type GlCaller } from './oracle.js';

// The pure matrices against the table-driven oracle of docs/forges.md: for random callers, roles,
// visibilities, registry levels, token scopes and requested actions, the granted actions are
// exactly the oracle's, hence never more than docs/forges.md allows; and neither the order of the
// requested actions nor a replay through the cache's plain-data form changes them.

const RUNS = { numRuns: 3000 };

const requestedActions = fc.array(fc.constantFrom('pull', 'push', 'delete', '*', 'catalog', 'PULL', 'admin'), { minLength: 1, maxLength: 6 }).map((a) => [...new Set(a)]);

const glScopes = fc.subarray(['api', 'read_api', 'read_registry', 'write_registry', 'read_user', 'read_repository', 'sudo', 'ai_features']);
const glRole = fc.constantFrom(0, 5, 10, 15, 20, 25, 30, 35, 40, 50, 60);
const glProject = fc.record({
  visibility: fc.constantFrom('public' as const, 'internal' as const, 'private' as const),
  registry: fc.constantFrom('enabled' as const, 'private' as const, 'disabled' as const),
  archived: fc.boolean(),
});
const glCaller: fc.Arbitrary<GlCaller> = fc.oneof(
  fc.record({ kind: fc.constant('anonymous' as const), anonymousPull: fc.boolean() }),
  fc.record({ kind: fc.constant('user' as const), admin: fc.boolean(), external: fc.boolean(), scopes: glScopes, role: glRole }),
  fc.record({ kind: fc.constant('job' as const), ownProject: fc.boolean(), role: glRole, allowlisted: fc.boolean(), pushAllowed: fc.boolean() }),
);

const ghPermissions = fc.record({ admin: fc.boolean(), maintain: fc.boolean(), push: fc.boolean(), triage: fc.boolean(), pull: fc.boolean() });
const ghRepo = fc.record({ visibility: fc.constantFrom('public' as const, 'private' as const, 'internal' as const), archived: fc.boolean() });
const ghCaller: fc.Arbitrary<GhCaller> = fc.oneof(
  fc.record({ kind: fc.constant('anonymous' as const), anonymousPull: fc.boolean() }),
  fc.record({ kind: fc.constant('installation' as const), ownRepository: fc.boolean() }),
  fc.record({
    kind: fc.constant('user' as const),
    scopes: fc.option(fc.subarray(['repo', 'public_repo', 'read:packages', 'write:packages', 'delete:packages', 'read:org', 'gist']), { nil: null }),
    permissions: fc.option(ghPermissions, { nil: null }),
    deleteNeeds: fc.constantFrom('admin' as const, 'maintain' as const),
  }),
);

function toGitLabFacts(caller: GlCaller, project: Omit<GitLabProjectFacts, 'path'>): [GitLabCallerFacts, GitLabProjectFacts] {
  const facts: GitLabProjectFacts = { ...project, path: 'group/proj' };
  switch (caller.kind) {
    case 'anonymous':
      return [caller, facts];
    case 'user':
      return [{ ...caller, username: 'someone' }, facts];
    case 'job':
      return [{ ...caller, sourcePath: 'group/ci' }, facts];
  }
}

function toGitHubFacts(caller: GhCaller, repo: Omit<GitHubRepoFacts, 'fullName'>): [GitHubCallerFacts, GitHubRepoFacts] {
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
      fc.property(glCaller, glProject, requestedActions.chain((a) => fc.tuple(fc.constant(a), fc.shuffledSubarray(a, { minLength: a.length }))), (caller, project, [actions, shuffled]) => {
        const judge = judgeGitLab(...toGitLabFacts(caller, project));
        const expected = expectedGrant(actions, gitlabAllows(caller, project));
        assert.deepEqual(granted(judge, actions), expected, 'granted differs from docs/forges.md');
        checkOrderAndReplay(judge, actions, shuffled, expected);
      }),
      RUNS,
    );
  });

  test('never more than the role allows: no push below Developer, no delete below Maintainer, nothing on a disabled registry', () => {
    fc.assert(
      fc.property(glCaller, glProject, requestedActions, (caller, project, actions) => {
        const got = new Set(granted(judgeGitLab(...toGitLabFacts(caller, project)), actions));
        if (project.registry === 'disabled') assert.equal(got.size, 0, 'a disabled registry granted something');
        if (caller.kind === 'anonymous') assert.ok(!got.has('push') && !got.has('delete') && !got.has('*'), 'anonymous got more than pull');
        if (caller.kind === 'user' && !caller.admin) {
          if (caller.role < 30) assert.ok(!got.has('push'), 'push below Developer');
          if (caller.role < 40) assert.ok(!got.has('delete'), 'delete below Maintainer');
          assert.ok(!got.has('*'), '* for a non-admin');
        }
        if (caller.kind === 'user' && !caller.scopes.includes('api')) assert.ok(!got.has('delete') && !got.has('*'), 'delete without the api scope');
        if (caller.kind === 'job') assert.ok(!got.has('*'), '* for a job token');
        if (caller.kind === 'job' && !caller.ownProject) assert.ok(!got.has('delete'), 'cross-project delete by a job token');
        if (project.archived) assert.ok(!got.has('push') && !got.has('delete') && !got.has('*'), 'a write on an archived project');
      }),
      RUNS,
    );
  });
});

describe('GitHub matrix against docs/forges.md', () => {
  test('granted actions equal the table-driven expectation, in any order, cold or replayed', () => {
    fc.assert(
      fc.property(ghCaller, ghRepo, requestedActions.chain((a) => fc.tuple(fc.constant(a), fc.shuffledSubarray(a, { minLength: a.length }))), (caller, repo, [actions, shuffled]) => {
        const judge = judgeGitHub(...toGitHubFacts(caller, repo));
        const expected = expectedGrant(actions, githubAllows(caller, repo));
        assert.deepEqual(granted(judge, actions), expected, 'granted differs from docs/forges.md');
        checkOrderAndReplay(judge, actions, shuffled, expected);
      }),
      RUNS,
    );
  });

  test('never more than the permission allows', () => {
    fc.assert(
      fc.property(ghCaller, ghRepo, requestedActions, (caller, repo, actions) => {
        const got = new Set(granted(judgeGitHub(...toGitHubFacts(caller, repo)), actions));
        assert.ok(!got.has('*'), '* on GitHub');
        if (caller.kind !== 'user') assert.ok(!got.has('delete'), 'delete without a user token');
        if (caller.kind === 'user' && caller.permissions === null) assert.ok(!got.has('push') && !got.has('delete'), 'a write on an invisible repository');
        if (caller.kind === 'user' && caller.permissions !== null && !caller.permissions.push) assert.ok(!got.has('push'), 'push without the push permission');
        if (repo.archived) assert.ok(!got.has('push') && !got.has('delete'), 'a write on an archived repository');
        if (repo.visibility !== 'public' && caller.kind === 'anonymous') assert.equal(got.size, 0, 'anonymous access to a non-public repository');
      }),
      RUNS,
    );
  });
});

describe('toGrants', () => {
  test('one entry per scope with a granted action, never an action that was not granted', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(glCaller, glProject, requestedActions), { maxLength: 8 }), (cases) => {
        const decisions = cases.map(([caller, project, actions], i) => decide({ type: 'repository', name: `g/p${i}`, actions }, judgeGitLab(...toGitLabFacts(caller, project))));
        const grants = toGrants(decisions);
        const expected = decisions.filter((d) => grantedActions(d).length > 0);
        assert.equal(grants.length, expected.length, 'grant count');
        grants.forEach((g, i) => {
          assert.equal(g.name, expected[i]!.scope.name, 'grant order follows scope order');
          for (const a of g.actions) assert.ok(expected[i]!.scope.actions.includes(a) || expected[i]!.scope.actions.includes('*'), `granted ${a} not asked for`);
        });
      }),
      { numRuns: 500 },
    );
  });
});
