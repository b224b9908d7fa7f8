import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  judgeGitHub,
  type GitHubCallerFacts,
  type GitHubRepoFacts,
  type RepoPermissions,
  type TokenGrant,
} from '../../src/policy/github.js';
import { decide, grantedActions } from '../../src/policy/grant.js';
import type { Action } from '../../src/policy/types.js';
import { checkMatrix, product } from '../support/matrix.js';

// ---------------------------------------------------------------------------------------
// The expected grant, written from docs/forges.md (GitHub) alone (not from
// src/policy/github.ts). `held` answers "which explicit actions may this caller perform";
// `*` is never held on GitHub, so `expectedGrant` narrows it to the held explicit actions.
// ---------------------------------------------------------------------------------------

type Explicit = 'pull' | 'push' | 'delete';
type UserCaller = Extract<GitHubCallerFacts, { kind: 'user' }>;
const EXPLICIT: readonly Explicit[] = ['pull', 'push', 'delete'];
const ORDER: readonly Action[] = ['pull', 'push', 'delete', '*'];

/**
 * "Classic PAT scopes: pull needs `read:packages` or `repo` (or `public_repo` for public
 * repos); push needs `write:packages` or `repo`; delete needs `delete:packages`."
 * (`write:packages` implies `read:packages` on GitHub, so it also lets the token pull.)
 * Fine-grained PATs carry no scope header, and the `permissions` GitHub shows them are their
 * user's role: what the token itself may do is unknown, so it pulls only unless the operator
 * trusts the role (trustUserTokenRole). A GitHub App user token holds what its App's
 * installation holds: pull with contents or packages, push with either at write, delete with
 * packages at write. Public pulls need no scope at all; that is handled by the caller.
 */
function grantAllows(grant: TokenGrant): Set<Explicit> {
  if (grant.kind === 'unknown') return new Set<Explicit>(grant.trusted ? EXPLICIT : ['pull']);
  if (grant.kind === 'app') {
    const p = grant.permissions;
    const allowed = new Set<Explicit>();
    if (p === null) return allowed; // the App is not installed on the owner
    const atLeast = (level: string | undefined, min: 'read' | 'write') =>
      level === 'admin' || level === 'write' || (min === 'read' && level === 'read');
    if (atLeast(p.contents, 'read') || atLeast(p.packages, 'read')) allowed.add('pull');
    if (atLeast(p.contents, 'write') || atLeast(p.packages, 'write')) allowed.add('push');
    if (atLeast(p.packages, 'write')) allowed.add('delete');
    return allowed;
  }
  const allowed = new Set<Explicit>();
  for (const scope of grant.scopes) {
    // pull: read:packages, write:packages or repo
    if (scope === 'read:packages' || scope === 'write:packages' || scope === 'repo') allowed.add('pull');
    // push: write:packages or repo
    if (scope === 'write:packages' || scope === 'repo') allowed.add('push');
    // delete: delete:packages
    if (scope === 'delete:packages') allowed.add('delete');
    // public_repo, gist, ...: nothing beyond what a public repository gives anyone.
  }
  return allowed;
}

/** Matrix, pull row: "repository public (anyone, anonymous too)". Internal is not public. */
const isPublic = (repo: GitHubRepoFacts): boolean => repo.visibility === 'public';

/** What a user (classic, OAuth or fine-grained token) holds on the repository. */
function heldByUser(caller: UserCaller, repo: GitHubRepoFacts): Set<Explicit> {
  const h = new Set<Explicit>();
  // Public repository: anyone pulls, whatever the token's scopes and even when GitHub
  // reported no permissions ("a logged-in caller never gets less than anonymous").
  if (isPublic(repo)) h.add('pull');
  // "404 when the caller cannot see it": an invisible non-public repository earns nothing,
  // and an invisible public one earns only the public pull above.
  const p = caller.permissions;
  if (p === null) return h;
  // GitHub reports the user's permission (not the token's) on a public repository, so a
  // fine-grained or App token cannot prove it was given one: it writes nowhere public (fail closed).
  if (caller.grant.kind !== 'scopes' && isPublic(repo)) return h;
  const scopes = grantAllows(caller.grant);
  // pull: permissions.pull AND the scope gate.
  if (p.pull && scopes.has('pull')) h.add('pull');
  // push: "permissions.push (write, maintain, admin)" AND write:packages/repo.
  if (p.push && scopes.has('push')) h.add('push');
  // delete: "permissions.admin (configurable: maintain)" AND delete:packages.
  // With deleteNeeds=maintain, admin still qualifies (admin is above maintain).
  const deleteRole = caller.deleteNeeds === 'maintain' ? p.maintain || p.admin : p.admin;
  if (deleteRole && scopes.has('delete')) h.add('delete');
  return h;
}

/** The explicit actions the caller holds on the repository. */
function held(caller: GitHubCallerFacts, repo: GitHubRepoFacts): Set<Explicit> {
  let h: Set<Explicit>;
  switch (caller.kind) {
    case 'anonymous':
      // "Anonymous (no token) works for public repositories"; forgegate's anonymousPull
      // switch turns that off. Anonymous never pushes or deletes.
      h = new Set(caller.anonymousPull && isPublic(repo) ? ['pull'] : []);
      break;
    case 'installation':
      // "CI of that repo": pull on that repo, public pull elsewhere, never delete. Nothing GitHub
      // answers tells a read-only GITHUB_TOKEN from a writing one: push only where the operator
      // named the repository (installationTokenPush).
      if (caller.ownRepository) h = new Set<Explicit>(caller.pushOptIn ? ['pull', 'push'] : ['pull']);
      else h = new Set(isPublic(repo) ? ['pull'] : []);
      break;
    case 'user':
      h = heldByUser(caller, repo);
      break;
  }
  // "Archived repositories: pull only."
  if (repo.archived) {
    h.delete('push');
    h.delete('delete');
  }
  return h;
}

/** What the token should carry for a request of `requested` on the repository. */
function expectedGrant(caller: GitHubCallerFacts, repo: GitHubRepoFacts, requested: readonly Action[]): Action[] {
  const h = held(caller, repo);
  const out = new Set<Action>();
  for (const action of requested) {
    if (action !== '*') {
      if (h.has(action)) out.add(action);
    } else {
      // `*` is never granted on GitHub: narrowed to the explicit actions the caller holds.
      for (const a of h) out.add(a);
    }
  }
  return ORDER.filter((a) => out.has(a));
}

// ---------------------------------------------------------------------------------------
// Combinatorics and the harness.
// ---------------------------------------------------------------------------------------

const NAME = 'o/r';

const REPOS: GitHubRepoFacts[] = product({
  visibility: ['public', 'private', 'internal'] as GitHubRepoFacts['visibility'][],
  archived: [false, true],
}).map((r) => ({ fullName: NAME, ...r }));

const REQUESTS: Action[][] = [['pull'], ['push'], ['delete'], ['*'], ['pull', 'push']];

/** Classic PATs' X-OAuth-Scopes, fine-grained tokens (trusted or not), App user tokens' App permissions. */
const GRANTS: TokenGrant[] = [
  ...[
    [],
    ['public_repo'],
    ['read:packages'],
    ['write:packages'],
    ['repo'],
    ['repo', 'delete:packages'],
    ['write:packages', 'delete:packages'],
    ['gist'],
  ].map((scopes): TokenGrant => ({ kind: 'scopes', scopes })),
  { kind: 'unknown', trusted: false },
  { kind: 'unknown', trusted: true },
  { kind: 'app', permissions: null },
  { kind: 'app', permissions: {} },
  { kind: 'app', permissions: { contents: 'read' } },
  { kind: 'app', permissions: { contents: 'write' } },
  { kind: 'app', permissions: { packages: 'read', contents: 'write' } },
  { kind: 'app', permissions: { packages: 'write' } },
];

/** GitHub's repository roles as the `permissions` object of GET /repos/{owner}/{repo}. */
const ROLES: Record<string, RepoPermissions> = {
  read: { pull: true, triage: false, push: false, maintain: false, admin: false },
  triage: { pull: true, triage: true, push: false, maintain: false, admin: false },
  write: { pull: true, triage: true, push: true, maintain: false, admin: false },
  maintain: { pull: true, triage: true, push: true, maintain: true, admin: false },
  admin: { pull: true, triage: true, push: true, maintain: true, admin: true },
};
const PERMISSIONS: (RepoPermissions | null)[] = [null, ...Object.values(ROLES)];

function granted(caller: GitHubCallerFacts, repo: GitHubRepoFacts, actions: readonly Action[]): Action[] {
  return grantedActions(decide({ type: 'repository', name: NAME, actions: [...actions] }, judgeGitHub(caller, repo)));
}

function reasons(caller: GitHubCallerFacts, repo: GitHubRepoFacts, actions: readonly Action[]): string[] {
  return decide({ type: 'repository', name: NAME, actions: [...actions] }, judgeGitHub(caller, repo)).verdicts.map(
    (v) => v.reason,
  );
}

function roleName(p: RepoPermissions | null): string {
  if (p === null) return 'invisible';
  return Object.entries(ROLES).find(([, r]) => JSON.stringify(r) === JSON.stringify(p))?.[0] ?? JSON.stringify(p);
}

function describeCaller(c: GitHubCallerFacts): string {
  switch (c.kind) {
    case 'anonymous':
      return `anonymous(anonymousPull=${c.anonymousPull})`;
    case 'user':
      return `user(grant=${JSON.stringify(c.grant)} role=${roleName(c.permissions)} deleteNeeds=${c.deleteNeeds})`;
    case 'installation':
      return `installation(own=${c.ownRepository} pushOptIn=${c.pushOptIn})`;
  }
}

const describeRepo = (r: GitHubRepoFacts): string => `${r.visibility}${r.archived ? '/archived' : ''}`;

let totalChecked = 0;

/** Checks every caller against every repository and request; fails listing the first 20 mismatches. */
function checkAll(
  t: { diagnostic(message: string): void },
  family: string,
  callers: readonly GitHubCallerFacts[],
): void {
  const matrix = {
    targets: REPOS,
    requests: REQUESTS,
    granted,
    expected: expectedGrant,
    describeCaller,
    describeTarget: describeRepo,
  };
  totalChecked += checkMatrix<GitHubCallerFacts, GitHubRepoFacts>(t, family, callers, matrix);
}

// ---------------------------------------------------------------------------------------
// Exhaustive tables, one test per caller family.
// ---------------------------------------------------------------------------------------

const ANONYMOUS_CALLERS: GitHubCallerFacts[] = [true, false].map((anonymousPull) => ({
  kind: 'anonymous',
  anonymousPull,
}));

const USER_CALLERS: GitHubCallerFacts[] = product({
  grant: GRANTS,
  permissions: PERMISSIONS,
  deleteNeeds: ['admin', 'maintain'] as UserCaller['deleteNeeds'][],
}).map((u) => ({ kind: 'user', login: 'alice', ...u }));

const INSTALLATION_CALLERS: GitHubCallerFacts[] = product({
  ownRepository: [true, false],
  pushOptIn: [true, false],
}).map((i) => ({ kind: 'installation', ...i }));

const PER_CALLER = REPOS.length * REQUESTS.length; // 6 repositories x 5 requests = 30

test('github matrix: anonymous callers', (t) => {
  checkAll(t, 'anonymous', ANONYMOUS_CALLERS);
});

test('github matrix: users with classic, OAuth and fine-grained tokens', (t) => {
  checkAll(t, 'user', USER_CALLERS);
});

test('github matrix: installation tokens (GITHUB_TOKEN, App installations)', (t) => {
  checkAll(t, 'installation', INSTALLATION_CALLERS);
});

test('github matrix: every combination was checked', (t) => {
  assert.equal(ANONYMOUS_CALLERS.length, 2);
  assert.equal(USER_CALLERS.length, 16 * 6 * 2);
  assert.equal(INSTALLATION_CALLERS.length, 4);
  const expected = (ANONYMOUS_CALLERS.length + USER_CALLERS.length + INSTALLATION_CALLERS.length) * PER_CALLER;
  assert.equal(expected, 5940);
  assert.equal(totalChecked, expected);
  t.diagnostic(`total: ${totalChecked} combinations checked`);
});

test('github matrix: * is never granted to anyone', () => {
  const callers = [...ANONYMOUS_CALLERS, ...USER_CALLERS, ...INSTALLATION_CALLERS];
  for (const caller of callers) {
    for (const repo of REPOS) {
      assert.ok(
        !granted(caller, repo, ['*']).includes('*'),
        `${describeCaller(caller)} on ${describeRepo(repo)} got *`,
      );
    }
  }
});

// ---------------------------------------------------------------------------------------
// The sentences users see (`forgegate explain`, logs), for a few named cases.
// ---------------------------------------------------------------------------------------

const repo = (over: Partial<GitHubRepoFacts> = {}): GitHubRepoFacts => ({
  fullName: NAME,
  visibility: 'private',
  archived: false,
  ...over,
});
const user = (over: Partial<UserCaller> = {}): GitHubCallerFacts => ({
  kind: 'user',
  login: 'alice',
  grant: { kind: 'scopes', scopes: ['repo', 'delete:packages'] },
  permissions: ROLES.read!,
  deleteNeeds: 'admin',
  ...over,
});

const NAMED: {
  name: string;
  caller: GitHubCallerFacts;
  repo: GitHubRepoFacts;
  actions: Action[];
  reasons: string[];
}[] = [
  {
    name: 'read role may pull but not push',
    caller: user(),
    repo: repo(),
    actions: ['pull', 'push'],
    reasons: ['pull granted: alice has pull on o/r', 'push denied: alice lacks push on o/r (has read)'],
  },
  {
    name: 'triage role lacks push',
    caller: user({ permissions: ROLES.triage! }),
    repo: repo(),
    actions: ['push'],
    reasons: ['push denied: alice lacks push on o/r (has triage)'],
  },
  {
    name: 'maintain lacks admin for delete by default',
    caller: user({ permissions: ROLES.maintain! }),
    repo: repo(),
    actions: ['delete'],
    reasons: ['delete denied: alice lacks admin on o/r (has maintain)'],
  },
  {
    name: 'deleteNeeds=maintain: write still lacks maintain',
    caller: user({ permissions: ROLES.write!, deleteNeeds: 'maintain' }),
    repo: repo(),
    actions: ['delete'],
    reasons: ['delete denied: alice lacks maintain on o/r (has write)'],
  },
  {
    name: 'deleteNeeds=maintain: maintain deletes',
    caller: user({ permissions: ROLES.maintain!, deleteNeeds: 'maintain' }),
    repo: repo(),
    actions: ['delete'],
    reasons: ['delete granted: alice has maintain on o/r'],
  },
  {
    name: 'a read:packages token cannot push, even as admin',
    caller: user({ grant: { kind: 'scopes', scopes: ['read:packages'] }, permissions: ROLES.admin! }),
    repo: repo(),
    actions: ['push'],
    reasons: ['push denied: token scopes [read:packages] do not include write:packages or repo'],
  },
  {
    name: 'a gist-only token cannot pull a private repository',
    caller: user({ grant: { kind: 'scopes', scopes: ['gist'] }, permissions: ROLES.admin! }),
    repo: repo(),
    actions: ['pull'],
    reasons: ['pull denied: token scopes [gist] do not include read:packages or write:packages or repo'],
  },
  {
    name: 'a token with no scopes at all',
    caller: user({ grant: { kind: 'scopes', scopes: [] }, permissions: ROLES.admin! }),
    repo: repo({ visibility: 'internal' }),
    actions: ['pull'],
    reasons: ['pull denied: token scopes [] do not include read:packages or write:packages or repo'],
  },
  {
    name: 'repo alone does not delete',
    caller: user({ grant: { kind: 'scopes', scopes: ['repo'] }, permissions: ROLES.admin! }),
    repo: repo(),
    actions: ['delete'],
    reasons: ['delete denied: token scopes [repo] do not include delete:packages'],
  },
  {
    name: 'a gist-only token still pulls a public repository',
    caller: user({ grant: { kind: 'scopes', scopes: ['gist'] }, permissions: null }),
    repo: repo({ visibility: 'public' }),
    actions: ['pull'],
    reasons: ['pull granted: o/r is public'],
  },
  {
    name: 'invisible private repository',
    caller: user({ permissions: null }),
    repo: repo(),
    actions: ['pull', 'push'],
    reasons: [
      'pull denied: no GitHub repository o/r visible to alice',
      'push denied: no GitHub repository o/r visible to alice',
    ],
  },
  {
    name: 'admin on an archived repository: pull, no push',
    caller: user({ permissions: ROLES.admin! }),
    repo: repo({ archived: true }),
    actions: ['pull', 'push'],
    reasons: ['pull granted: alice has pull on o/r', 'push denied: o/r is archived'],
  },
  {
    name: 'admin asking for * gets it narrowed',
    caller: user({ permissions: ROLES.admin! }),
    repo: repo(),
    actions: ['*'],
    reasons: [
      '* denied: * is not granted on GitHub repositories; ask for the actions',
      'pull granted: alice has pull on o/r',
      'push granted: alice has push on o/r',
      'delete granted: alice has admin on o/r',
    ],
  },
  {
    name: 'anonymous pulls turned off',
    caller: { kind: 'anonymous', anonymousPull: false },
    repo: repo({ visibility: 'public' }),
    actions: ['pull', 'push'],
    reasons: [
      'pull denied: anonymous pulls are turned off for this forge',
      'push denied: anonymous callers may only pull',
    ],
  },
  {
    name: 'anonymous on a private repository',
    caller: { kind: 'anonymous', anonymousPull: true },
    repo: repo(),
    actions: ['pull'],
    reasons: ['pull denied: o/r is not public; log in'],
  },
  {
    name: 'installation token on its own repository named in installationTokenPush asking for *',
    caller: { kind: 'installation', ownRepository: true, pushOptIn: true },
    repo: repo(),
    actions: ['*'],
    reasons: [
      '* denied: * is never granted to installation tokens',
      'pull granted: the installation token may reach o/r',
      'push granted: installationTokenPush names o/r',
      'delete denied: installation tokens never delete',
    ],
  },
  {
    name: 'installation token on its own repository not named in installationTokenPush: pull only',
    caller: { kind: 'installation', ownRepository: true, pushOptIn: false },
    repo: repo(),
    actions: ['pull', 'push'],
    reasons: [
      'pull granted: the installation token may reach o/r',
      'push denied: installation tokens only pull: GitHub does not say whether this one may write (read-only for fork pull requests, Dependabot, permissions: read), and installationTokenPush does not name o/r',
    ],
  },
  {
    name: 'a fine-grained token of an admin: pull only unless trustUserTokenRole',
    caller: user({ grant: { kind: 'unknown', trusted: false }, permissions: ROLES.admin! }),
    repo: repo(),
    actions: ['pull', 'push'],
    reasons: [
      'pull granted: alice has pull on o/r',
      "push denied: GitHub does not say what this token may do on o/r (it reports the user's role): fine-grained tokens only pull unless trustUserTokenRole is set; use a classic token or an OIDC ID token to push",
    ],
  },
  {
    name: 'an App user token whose App only reads contents',
    caller: user({ grant: { kind: 'app', permissions: { contents: 'read' } }, permissions: ROLES.admin! }),
    repo: repo(),
    actions: ['push', 'delete'],
    reasons: [
      'push denied: the GitHub App behind this token has contents: read, packages: none on o; push needs contents or packages: write',
      'delete denied: the GitHub App behind this token has contents: read, packages: none on o; delete needs packages: write',
    ],
  },
  {
    name: 'an App user token whose App is not installed on the owner',
    caller: user({ grant: { kind: 'app', permissions: null }, permissions: ROLES.admin! }),
    repo: repo(),
    actions: ['pull'],
    reasons: ['pull denied: the GitHub App behind this token is not installed on o'],
  },
  {
    name: 'installation token never deletes',
    caller: { kind: 'installation', ownRepository: true, pushOptIn: true },
    repo: repo(),
    actions: ['delete'],
    reasons: ['delete denied: installation tokens never delete'],
  },
  {
    name: 'installation token on another private repository',
    caller: { kind: 'installation', ownRepository: false, pushOptIn: true },
    repo: repo(),
    actions: ['pull', 'push'],
    reasons: [
      'pull denied: the installation token does not reach o/r',
      'push denied: the installation token does not reach o/r',
    ],
  },
];

test('github matrix: reasons users see', async (t) => {
  for (const c of NAMED) {
    await t.test(c.name, () => {
      assert.deepEqual(reasons(c.caller, c.repo, c.actions), c.reasons);
    });
  }
});
