import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  judgeGitLab,
  type GitLabCallerFacts,
  type GitLabProjectFacts,
  type RegistryLevel,
  type Visibility,
} from '../../src/policy/gitlab.js';
import { decide, grantedActions } from '../../src/policy/grant.js';
import type { Action } from '../../src/policy/types.js';
import { checkMatrix, product } from '../support/matrix.js';

// ---------------------------------------------------------------------------------------
// The expected grant, written from docs/forges.md (GitLab) alone (not from
// src/policy/gitlab.ts). `held` answers "which explicit actions may this caller perform",
// `holdsStar` answers "may it have `*`", and `expectedGrant` applies both to a request.
// ---------------------------------------------------------------------------------------

type Explicit = 'pull' | 'push' | 'delete';
const EXPLICIT: readonly Explicit[] = ['pull', 'push', 'delete'];
const ORDER: readonly Action[] = ['pull', 'push', 'delete', '*'];

const REPORTER = 20;
const DEVELOPER = 30;
const MAINTAINER = 40;

/** "Token scopes gate the credential before roles are looked at" (scopes table). */
function scopeAllows(scopes: readonly string[]): Set<Explicit> {
  const allowed = new Set<Explicit>();
  for (const scope of scopes) {
    // `read_registry`, `read_api` -> pull
    if (scope === 'read_registry' || scope === 'read_api') allowed.add('pull');
    // `write_registry` -> push ("GitLab itself never lets a write_registry token delete")
    if (scope === 'write_registry') allowed.add('push');
    // `api` -> pull, push, delete
    if (scope === 'api') for (const a of EXPLICIT) allowed.add(a);
  }
  // "none of these: the credential authenticates but earns no registry access"
  return allowed;
}

/** Matrix, pull row: "project public and level enabled (anyone, anonymous too)". */
const openToAnyone = (p: GitLabProjectFacts): boolean => p.visibility === 'public' && p.registry === 'enabled';
/** Matrix, pull row: "project internal, level enabled, caller authenticated and not external". */
const openToInternalUsers = (p: GitLabProjectFacts): boolean => p.visibility === 'internal' && p.registry === 'enabled';

/** What the caller's standing on the project earns, before scopes and project state. */
function earnedByStanding(caller: GitLabCallerFacts, project: GitLabProjectFacts): Set<Explicit> {
  const earned = new Set<Explicit>();
  switch (caller.kind) {
    case 'anonymous':
      // Anonymous pull is a forgegate switch; when off, anonymous callers get nothing.
      if (caller.anonymousPull && openToAnyone(project)) earned.add('pull');
      return earned;
    case 'user':
      // Instance admins: everything a Maintainer/Owner can do.
      if (caller.admin) return new Set(EXPLICIT);
      // pull: public+enabled (anyone); internal+enabled (authenticated, not external); or Reporter+ (20)
      if (openToAnyone(project)) earned.add('pull');
      if (openToInternalUsers(project) && !caller.external) earned.add('pull');
      if (caller.role >= REPORTER) earned.add('pull');
      // push: Developer+ (30)
      if (caller.role >= DEVELOPER) earned.add('push');
      // delete: Maintainer+ (40)
      if (caller.role >= MAINTAINER) earned.add('delete');
      return earned;
    case 'job':
      // "The job's own project: pull, push, delete (never `*`), whatever the job user's role."
      if (caller.ownProject) return new Set(EXPLICIT);
      // "Another project: pull only, when the target is public or internal with registry level enabled"
      // (internal: as for users, not when the job's user is external)
      if (openToAnyone(project)) earned.add('pull');
      if (openToInternalUsers(project) && !caller.external) earned.add('pull');
      // "... or when the job's user is Reporter+ there and the job's project is in the target's inbound allowlist"
      if (caller.role >= REPORTER && caller.allowlisted) earned.add('pull');
      // forgegate's own cross-project push allowlist: pull + push (never delete)
      if (caller.pushAllowed) {
        earned.add('pull');
        earned.add('push');
      }
      return earned;
  }
}

/** The explicit actions the caller holds on the project. */
function held(caller: GitLabCallerFacts, project: GitLabProjectFacts): Set<Explicit> {
  // Matrix, pull row: "registry level is not disabled"; a disabled registry serves nobody,
  // admins and job tokens included.
  if (project.registry === 'disabled') return new Set();
  const actions = earnedByStanding(caller, project);
  // "an action is granted only if the credential's scope AND the role allow it"
  if (caller.kind === 'user') {
    const allowed = scopeAllows(caller.scopes);
    for (const a of [...actions]) if (!allowed.has(a)) actions.delete(a);
  }
  // "Archived projects: pull as usual, no push, no delete."
  if (project.archived) {
    actions.delete('push');
    actions.delete('delete');
  }
  return actions;
}

/**
 * `*`: "only for instance admins" (never for job tokens, never anonymous). `*` stands for
 * every action, so the admin must actually be able to perform each of them: the token
 * scopes, the disabled-registry and the archived rules all still apply.
 */
function holdsStar(caller: GitLabCallerFacts, project: GitLabProjectFacts): boolean {
  if (caller.kind !== 'user' || !caller.admin) return false;
  const h = held(caller, project);
  return EXPLICIT.every((a) => h.has(a));
}

/** What the token should carry for a request of `requested` on the project. */
function expectedGrant(caller: GitLabCallerFacts, project: GitLabProjectFacts, requested: readonly Action[]): Action[] {
  const h = held(caller, project);
  const out = new Set<Action>();
  for (const action of requested) {
    if (action !== '*') {
      if (h.has(action)) out.add(action);
    } else if (holdsStar(caller, project)) {
      out.add('*');
    } else {
      // "otherwise expand `*` to the explicit actions the caller holds"
      for (const a of h) out.add(a);
    }
  }
  return ORDER.filter((a) => out.has(a));
}

// ---------------------------------------------------------------------------------------
// Combinatorics and the harness.
// ---------------------------------------------------------------------------------------

const PATH = 'g/p';
const SOURCE = 'a/src';

const PROJECTS: GitLabProjectFacts[] = product({
  visibility: ['public', 'internal', 'private'] as Visibility[],
  registry: ['enabled', 'private', 'disabled'] as RegistryLevel[],
  archived: [false, true],
}).map((p) => ({ path: PATH, ...p }));

const REQUESTS: Action[][] = [['pull'], ['push'], ['delete'], ['*'], ['pull', 'push']];

const SCOPE_SETS: string[][] = [
  [],
  ['read_repository'],
  ['read_registry'],
  ['write_registry'],
  ['read_registry', 'write_registry'],
  ['read_api'],
  ['api'],
  ['read_api', 'write_registry'],
];
const USER_ROLES = [0, 10, 20, 30, 40, 50];
const JOB_ROLES = [0, 20, 30];

function granted(caller: GitLabCallerFacts, project: GitLabProjectFacts, actions: readonly Action[]): Action[] {
  return grantedActions(
    decide({ type: 'repository', name: PATH, actions: [...actions] }, judgeGitLab(caller, project)),
  );
}

function reasons(caller: GitLabCallerFacts, project: GitLabProjectFacts, actions: readonly Action[]): string[] {
  return decide({ type: 'repository', name: PATH, actions: [...actions] }, judgeGitLab(caller, project)).verdicts.map(
    (v) => v.reason,
  );
}

function describeCaller(c: GitLabCallerFacts): string {
  switch (c.kind) {
    case 'anonymous':
      return `anonymous(anonymousPull=${c.anonymousPull})`;
    case 'user':
      return `user(scopes=[${c.scopes.join(',')}] admin=${c.admin} external=${c.external} role=${c.role})`;
    case 'job':
      return (
        `job(own=${c.ownProject} external=${c.external} allowlisted=${c.allowlisted} pushAllowed=${c.pushAllowed} ` +
        `role=${c.role})`
      );
  }
}

const describeProject = (p: GitLabProjectFacts): string =>
  `${p.visibility}/${p.registry}${p.archived ? '/archived' : ''}`;

let totalChecked = 0;

/** Checks every caller against every project and request; fails listing the first 20 mismatches. */
function checkAll(
  t: { diagnostic(message: string): void },
  family: string,
  callers: readonly GitLabCallerFacts[],
): void {
  const matrix = {
    targets: PROJECTS,
    requests: REQUESTS,
    granted,
    expected: expectedGrant,
    describeCaller,
    describeTarget: describeProject,
  };
  totalChecked += checkMatrix<GitLabCallerFacts, GitLabProjectFacts>(t, family, callers, matrix);
}

// ---------------------------------------------------------------------------------------
// Exhaustive tables, one test per caller family.
// ---------------------------------------------------------------------------------------

const ANONYMOUS_CALLERS: GitLabCallerFacts[] = [true, false].map((anonymousPull) => ({
  kind: 'anonymous',
  anonymousPull,
}));

const USER_CALLERS: GitLabCallerFacts[] = product({
  scopes: SCOPE_SETS,
  admin: [false, true],
  external: [false, true],
  role: USER_ROLES,
}).map((u) => ({ kind: 'user', username: 'alice', instanceAdmin: u.admin, ...u }));

const JOB_CALLERS: GitLabCallerFacts[] = product({
  ownProject: [true, false],
  external: [false, true],
  allowlisted: [true, false],
  pushAllowed: [true, false],
  role: JOB_ROLES,
}).map((j) => ({ kind: 'job', sourcePath: SOURCE, ...j }));

const PER_CALLER = PROJECTS.length * REQUESTS.length; // 18 projects x 5 requests = 90

test('gitlab matrix: anonymous callers', (t) => {
  checkAll(t, 'anonymous', ANONYMOUS_CALLERS);
});

test('gitlab matrix: users with personal/project/OAuth tokens', (t) => {
  checkAll(t, 'user', USER_CALLERS);
});

test('gitlab matrix: CI job tokens', (t) => {
  checkAll(t, 'job', JOB_CALLERS);
});

test('gitlab matrix: every combination was checked', (t) => {
  const expected = (ANONYMOUS_CALLERS.length + USER_CALLERS.length + JOB_CALLERS.length) * PER_CALLER;
  assert.equal(ANONYMOUS_CALLERS.length, 2);
  assert.equal(USER_CALLERS.length, 8 * 2 * 2 * 6);
  assert.equal(JOB_CALLERS.length, 2 * 2 * 2 * 2 * 3);
  assert.equal(totalChecked, expected);
  t.diagnostic(`total: ${totalChecked} combinations checked`);
});

// ---------------------------------------------------------------------------------------
// The sentences users see (`forgegate explain`, logs), for a few named cases.
// ---------------------------------------------------------------------------------------

const project = (over: Partial<GitLabProjectFacts> = {}): GitLabProjectFacts => ({
  path: PATH,
  visibility: 'private',
  registry: 'enabled',
  archived: false,
  ...over,
});
const user = (over: Partial<Extract<GitLabCallerFacts, { kind: 'user' }>> = {}): GitLabCallerFacts => ({
  kind: 'user',
  username: 'alice',
  admin: false,
  instanceAdmin: false,
  external: false,
  scopes: ['api'],
  role: 0,
  ...over,
});
const job = (over: Partial<Extract<GitLabCallerFacts, { kind: 'job' }>> = {}): GitLabCallerFacts => ({
  kind: 'job',
  ownProject: false,
  role: 0,
  external: false,
  allowlisted: false,
  pushAllowed: false,
  sourcePath: SOURCE,
  ...over,
});

const NAMED: {
  name: string;
  caller: GitLabCallerFacts;
  project: GitLabProjectFacts;
  actions: Action[];
  reasons: string[];
}[] = [
  {
    name: 'Reporter may pull but not push',
    caller: user({ role: 20 }),
    project: project(),
    actions: ['pull', 'push'],
    reasons: [
      'pull granted: role Reporter (20) >= Reporter (20) on g/p',
      'push denied: role Reporter (20) < Developer (30) on g/p',
    ],
  },
  {
    name: 'a token without registry scopes earns nothing',
    caller: user({ scopes: ['read_repository'], role: 50 }),
    project: project(),
    actions: ['pull'],
    reasons: ['pull denied: token scopes [read_repository] grant no registry access'],
  },
  {
    name: 'write_registry never deletes',
    caller: user({ scopes: ['read_registry', 'write_registry'], role: 40 }),
    project: project(),
    actions: ['delete'],
    reasons: ['delete denied: token scopes [read_registry, write_registry] do not include api'],
  },
  {
    name: 'a write_registry-only token cannot pull',
    caller: user({ scopes: ['write_registry'], role: 30 }),
    project: project(),
    actions: ['pull'],
    reasons: ['pull denied: token scopes [write_registry] do not include read_registry or read_api or api'],
  },
  {
    name: 'Guest on a private project',
    caller: user({ role: 10 }),
    project: project(),
    actions: ['pull'],
    reasons: ['pull denied: role Guest (10) < Reporter (20) on g/p and it is private'],
  },
  {
    name: 'non-member on a public project whose registry is private to members',
    caller: user(),
    project: project({ visibility: 'public', registry: 'private' }),
    actions: ['pull'],
    reasons: ['pull denied: role none < Reporter (20) on g/p and its registry is private to members'],
  },
  {
    name: 'external non-member on an internal project',
    caller: user({ external: true }),
    project: project({ visibility: 'internal' }),
    actions: ['pull'],
    reasons: ['pull denied: g/p is internal and external users need Reporter (20)'],
  },
  {
    name: 'Maintainer on an archived project: pull, no push',
    caller: user({ role: 40 }),
    project: project({ archived: true }),
    actions: ['pull', 'push'],
    reasons: ['pull granted: role Maintainer (40) >= Reporter (20) on g/p', 'push denied: g/p is archived'],
  },
  {
    name: 'a disabled registry serves nobody',
    caller: user({ admin: true }),
    project: project({ registry: 'disabled' }),
    actions: ['pull'],
    reasons: ['pull denied: the container registry of g/p is disabled'],
  },
  {
    name: 'Owner asking for * gets it narrowed',
    caller: user({ role: 50 }),
    project: project(),
    actions: ['*'],
    reasons: [
      '* denied: * is reserved for GitLab instance admins',
      'pull granted: role Owner (50) >= Reporter (20) on g/p',
      'push granted: role Owner (50) >= Developer (30) on g/p',
      'delete granted: role Owner (50) >= Maintainer (40) on g/p',
    ],
  },
  {
    name: 'instance admin gets *',
    caller: user({ admin: true }),
    project: project(),
    actions: ['*'],
    reasons: ['* granted: alice is a GitLab instance admin'],
  },
  {
    name: 'anonymous pulls turned off',
    caller: { kind: 'anonymous', anonymousPull: false },
    project: project({ visibility: 'public' }),
    actions: ['pull', 'push'],
    reasons: [
      'pull denied: anonymous pulls are turned off for this forge',
      'push denied: anonymous callers may only pull',
    ],
  },
  {
    name: 'anonymous on a private project',
    caller: { kind: 'anonymous', anonymousPull: true },
    project: project(),
    actions: ['pull'],
    reasons: ['pull denied: g/p is not public with an enabled registry; log in'],
  },
  {
    name: 'job token on its own project asking for *',
    caller: job({ ownProject: true }),
    project: project(),
    actions: ['*'],
    reasons: [
      '* denied: * is never granted to job tokens',
      'pull granted: job token of g/p (its own project)',
      'push granted: job token of g/p (its own project)',
      'delete granted: job token of g/p (its own project)',
    ],
  },
  {
    name: 'job token on another project: no push',
    caller: job({ role: 30, allowlisted: true }),
    project: project(),
    actions: ['pull', 'push'],
    reasons: [
      "pull granted: a/src is in the job token allowlist of g/p and the job's user is Developer (30)",
      'push denied: job token of a/src may only pull from other projects',
    ],
  },
  {
    name: 'job token not in the allowlist of a private project',
    caller: job({ role: 30 }),
    project: project(),
    actions: ['pull'],
    reasons: ['pull denied: a/src is not in the job token allowlist of g/p'],
  },
  {
    name: 'allowlisted job whose user is not a member',
    caller: job({ allowlisted: true }),
    project: project(),
    actions: ['pull'],
    reasons: ["pull denied: the job's user has role none < Reporter (20) on g/p"],
  },
  {
    name: "forgegate's push allowlist: pull and push, never delete",
    caller: job({ pushAllowed: true }),
    project: project(),
    actions: ['push', 'delete'],
    reasons: [
      "push granted: forgegate's job token push allowlist lets a/src into g/p",
      'delete denied: job token of a/src may only pull from other projects',
    ],
  },
];

test('gitlab matrix: reasons users see', async (t) => {
  for (const c of NAMED) {
    await t.test(c.name, () => {
      assert.deepEqual(reasons(c.caller, c.project, c.actions), c.reasons);
    });
  }
});
