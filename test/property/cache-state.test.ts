import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { decodeJwt } from 'jose';
import { FakeGitHub, type Role } from '../fakes/github.js';
import { FakeGitLab } from '../fakes/gitlab.js';
import { basic, startForgegate, type TestForgegate } from '../support/forgegate.js';
import { expectedGrant, githubAllows, gitlabAllows, gitlabProjectAt } from './oracle.js';
import type { GhCaller, GhGrant, GhPermissions, GlCaller, GlRegistry, GlVisibility } from './oracle.js';

// The same random requests through three forgegates in front of the same fake GitLab and
// GitHub: one that caches nothing (cold), one that caches (asked twice, concurrently, in
// shuffled order: warm), and one whose entries have expired while the forges answer 500
// (stale, with cache.staleIfError). All three must grant exactly what docs/forges.md's table
// says for the fake's model, whatever the order of requests and whatever is cached.

const SERVICE = 'registry.test';
const gl = new FakeGitLab();
const gh = new FakeGitHub();

// ---- the model: every combination of the facts the matrices read ----------------------------

const VISIBILITIES: GlVisibility[] = ['public', 'internal', 'private'];
const REGISTRIES: GlRegistry[] = ['enabled', 'private', 'disabled'];
const GL_ROLES = [0, 10, 20, 30, 40];
const GL_SCOPE_SETS = [
  ...[['api'], ['read_registry'], ['read_registry', 'write_registry'], ['read_api'], ['read_user']],
  ['api', 'admin_mode'],
];
/** Token number GL_JOB stands for a CI job token (of the project `jobOf`), not a user's token. */
const GL_JOB = GL_SCOPE_SETS.length;
/** Projects renamed after their creation: their old paths are redirect routes. */
const RENAMED = ['public-enabled-live', 'private-enabled-live', 'internal-enabled-live'];
const GL_PROJECTS = VISIBILITIES.length * REGISTRIES.length * 2 + RENAMED.length;
const GH_ROLES: (Role | null)[] = [null, 'read', 'triage', 'write', 'maintain', 'admin'];
const GH_TOKENS: { kind: 'classic' | 'fine_grained'; scopes: string[] }[] = [
  { kind: 'classic', scopes: ['repo', 'delete:packages'] },
  { kind: 'classic', scopes: ['read:packages'] },
  { kind: 'classic', scopes: ['write:packages', 'delete:packages'] },
  { kind: 'classic', scopes: ['gist'] },
  { kind: 'fine_grained', scopes: [] },
];

/** `path` is where images are asked for; `at` where the project lives now (not `path`: it moved away). */
interface GlProjectModel {
  path: string;
  at: string;
  id: number;
  visibility: GlVisibility;
  registry: GlRegistry;
  archived: boolean;
}
interface GlUserModel {
  role: number;
  admin: boolean;
  external: boolean;
  tokens: { token: string; scopes: string[] }[];
}
const glProjects: GlProjectModel[] = [];
/** Project id -> the token of a running job of that project, run by a user with no role. */
const glJobs = new Map<number, string>();
const glUsers: GlUserModel[] = [];
interface GhRepoModel {
  fullName: string;
  visibility: 'public' | 'private';
  archived: boolean;
}
interface GhUserModel {
  role: Role | null;
  tokens: { token: string; kind: 'classic' | 'fine_grained'; scopes: string[] }[];
}
const ghRepos: GhRepoModel[] = [];
const ghUsers: GhUserModel[] = [];
let serviceToken = '';

function buildModel(): void {
  const bot = gl.addUser({ username: 'bot', is_admin: true, bot: true });
  serviceToken = gl.addToken({ token: 'glpat-service-token-0001', user_id: bot.id, scopes: ['read_api'] }).token;
  for (const visibility of VISIBILITIES)
    for (const registry of REGISTRIES)
      for (const archived of [false, true]) {
        const path = `g/${visibility}-${registry}-${archived ? 'archived' : 'live'}`;
        const init = { path_with_namespace: path, visibility, container_registry_access_level: registry, archived };
        const { id } = gl.addProject(init);
        glProjects.push({ path, at: path, id, visibility, registry, archived });
      }
  // Renamed projects: GitLab answers for their old paths with the project at its new one.
  for (const name of RENAMED) {
    const project = glProjects.find((p) => p.path === `g/${name}`)!;
    project.at = `${project.path}-renamed`;
    gl.moveProject(project.path, project.at);
    glProjects.push({ ...project, path: project.at });
  }
  const people = [
    ...GL_ROLES.map((role) => ({ role, admin: false, external: false })),
    { role: 0, admin: true, external: false },
    { role: 0, admin: false, external: true },
  ];
  people.forEach((p, i) => {
    const user = gl.addUser({ username: `u${i}`, is_admin: p.admin, external: p.external });
    if (p.role > 0) gl.addMember('g', user.id, p.role);
    const tokens = GL_SCOPE_SETS.map((scopes, j) =>
      gl.addToken({ token: `glpat-u${i}-t${j}-Zq8x`, user_id: user.id, scopes }),
    );
    glUsers.push({ ...p, tokens: tokens.map((t) => ({ token: t.token, scopes: t.scopes })) });
  });
  const runner = gl.addUser({ username: 'runner' });
  for (const p of glProjects) {
    if (p.path !== p.at) continue;
    glJobs.set(p.id, gl.addJob({ token: `glcbt-64_job${p.id}-Zq8x`, project: p.at, user_id: runner.id }).token);
  }

  gh.addOrg({ login: 'o', base_permission: 'none' });
  GH_ROLES.forEach((role, i) => {
    gh.addUser({ login: `h${i}` });
    const tokens = GH_TOKENS.map((t, j) =>
      gh.addToken({
        token: `${t.kind === 'classic' ? 'ghp' : 'github_pat'}_h${i}t${j}Xx9`,
        kind: t.kind,
        user: `h${i}`,
        scopes: t.scopes,
      }),
    );
    ghUsers.push({
      role,
      tokens: tokens.map((t) => ({ token: t.token, kind: t.kind as 'classic' | 'fine_grained', scopes: t.scopes })),
    });
  });
  for (const visibility of ['public', 'private'] as const)
    for (const archived of [false, true]) {
      const fullName = `o/${visibility}-${archived ? 'archived' : 'live'}`;
      const collaborators: Record<string, Role> = {};
      GH_ROLES.forEach((role, i) => role && (collaborators[`h${i}`] = role));
      gh.addRepo({ full_name: fullName, visibility, archived, collaborators });
      ghRepos.push({ fullName, visibility, archived });
    }
}

// ---- requests and what docs/forges.md says they earn -----------------------------------------------

type Req =
  | {
      forge: 'gitlab';
      user: number | null;
      token: number;
      project: number;
      suffix: string;
      actions: string[];
      jobOf: number;
    }
  | { forge: 'github'; user: number | null; token: number; project: number; suffix: string; actions: string[] };

const actions = fc.uniqueArray(fc.constantFrom('pull', 'push', 'delete', '*'), { minLength: 1, maxLength: 4 });
const suffix = fc.constantFrom('', '/app', '/app/x');
const glReq = fc.record({
  forge: fc.constant('gitlab' as const),
  user: fc.option(fc.nat(6), { nil: null }),
  token: fc.nat(GL_JOB),
  project: fc.nat(GL_PROJECTS - 1),
  suffix,
  actions,
  jobOf: fc.nat(GL_PROJECTS - 1),
});
const ghReq = fc.record({
  forge: fc.constant('github' as const),
  user: fc.option(fc.nat(GH_ROLES.length - 1), { nil: null }),
  token: fc.nat(GH_TOKENS.length - 1),
  project: fc.nat(3),
  suffix: fc.constantFrom('', '/app'),
  actions,
});
const requests = fc.array(fc.oneof(glReq, ghReq), { minLength: 1, maxLength: 6 });

function imageOf(r: Req): string {
  return r.forge === 'gitlab'
    ? `${glProjects[r.project]!.path}${r.suffix}`
    : `gh/${ghRepos[r.project]!.fullName}${r.suffix}`;
}

function expected(r: Req): string[] {
  if (r.forge === 'gitlab') {
    const p = glProjects[r.project]!;
    // Asked at its old path, a renamed project is nobody's project.
    if (!gitlabProjectAt(p.path, { path: p.at })) return [];
    const u = r.user === null ? undefined : glUsers[r.user]!;
    let caller: GlCaller;
    if (u === undefined) caller = { kind: 'anonymous', anonymousPull: true };
    else if (r.token === GL_JOB) {
      const ownProject = glProjects[r.jobOf]!.id === p.id;
      caller = { kind: 'job', ownProject, role: 0, external: false, allowlisted: false, pushAllowed: false };
    } else {
      // forgegate's adminMode is on (its default); the fake's instance setting decides nothing here.
      const { admin, external, role } = u;
      caller = { kind: 'user', admin, adminMode: true, external, scopes: u.tokens[r.token]!.scopes, role };
    }
    return expectedGrant(r.actions, gitlabAllows(caller, p));
  }
  const repo = ghRepos[r.project]!;
  if (r.user === null) return expectedGrant(r.actions, githubAllows({ kind: 'anonymous', anonymousPull: true }, repo));
  const u = ghUsers[r.user]!;
  const t = u.tokens[r.token]!;
  // GitHub answers 404 for a private repository the token cannot reach (classic tokens need `repo`).
  const reaches = t.kind === 'fine_grained' || t.scopes.includes('repo');
  const visible = repo.visibility === 'public' || (reaches && u.role !== null);
  // Fine-grained tokens: GitHub shows their user's role, not their own permission (trustUserTokenRole off).
  const grant: GhGrant =
    t.kind === 'classic' ? { kind: 'scopes', scopes: t.scopes } : { kind: 'unknown', trusted: false };
  const caller: GhCaller = {
    kind: 'user',
    grant,
    permissions: visible ? permissionsOf(u.role) : null,
    deleteNeeds: 'admin',
  };
  return expectedGrant(r.actions, githubAllows(caller, repo));
}

function permissionsOf(role: Role | null): GhPermissions {
  const rank = role === null ? 0 : ['read', 'triage', 'write', 'maintain', 'admin'].indexOf(role) + 1;
  return { pull: rank >= 1, triage: rank >= 2, push: rank >= 3, maintain: rank >= 4, admin: rank >= 5 };
}

async function ask(fg: TestForgegate, r: Req): Promise<string[]> {
  const query = new URLSearchParams({ service: SERVICE, scope: `repository:${imageOf(r)}:${r.actions.join(',')}` });
  const headers: Record<string, string> = {};
  if (r.forge === 'gitlab' && r.user !== null && r.token === GL_JOB) {
    headers.Authorization = basic('gitlab-ci-token', glJobs.get(glProjects[r.jobOf]!.id)!);
  } else if (r.user !== null) {
    const token =
      r.forge === 'gitlab' ? glUsers[r.user]!.tokens[r.token]!.token : ghUsers[r.user]!.tokens[r.token]!.token;
    headers.Authorization = basic('someone', token);
  }
  const response = await fetch(`${fg.url}/token?${query}`, { headers });
  const body = (await response.json()) as { token?: string };
  assert.equal(response.status, 200, `${imageOf(r)}: status ${response.status} ${JSON.stringify(body)}`);
  const access = decodeJwt(body.token!).access as { name: string; actions: string[] }[];
  return access.find((a) => a.name === imageOf(r))?.actions ?? [];
}

function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

// ---- the forgegates ------------------------------------------------------------------------

let cold: TestForgegate;
let warm: TestForgegate;
let stale: TestForgegate;

before(async () => {
  buildModel();
  await Promise.all([gl.start(), gh.start()]);
  const forges = [
    { type: 'gitlab', url: gl.url, serviceToken, timeout: 2 },
    { type: 'github', url: gh.url, prefix: 'gh/', timeout: 2 },
  ];
  const start = (cache: Record<string, number>) => startForgegate({ token: { service: SERVICE }, forges, cache });
  [cold, warm, stale] = await Promise.all([
    start({ identityTtl: 0, decisionTtl: 0, negativeTtl: 0 }),
    start({ identityTtl: 60, decisionTtl: 60, negativeTtl: 10 }),
    start({ identityTtl: 1, decisionTtl: 1, negativeTtl: 0, staleIfError: 300 }),
  ]);
});
after(async () => {
  await Promise.all([cold, warm, stale].map((f) => f?.stop()));
  await Promise.all([gl.stop(), gh.stop()]);
});

describe('granted access is independent of cache state and request order', () => {
  test('cold = warm = stale = docs/forges.md, for random requests in random orders', async () => {
    await fc.assert(
      fc.asyncProperty(requests, fc.integer({ min: 1, max: 1 << 30 }), async (reqs, seed) => {
        gl.clearInjections();
        gh.clearInjections();
        const want = reqs.map(expected);
        const coldGot = [];
        for (const r of reqs) coldGot.push(await ask(cold, r));
        assert.deepEqual(coldGot, want, 'cold differs from docs/forges.md');

        // Warm: the same requests twice, concurrently and in shuffled orders.
        for (const round of [1, 2]) {
          const order = shuffle(
            reqs.map((_, i) => i),
            seed + round,
          );
          const got = await Promise.all(order.map((i) => ask(warm, reqs[i]!)));
          order.forEach((i, k) =>
            assert.deepEqual(got[k], want[i], `warm round ${round} differs on ${imageOf(reqs[i]!)}`),
          );
        }

        // Stale: fill, let every entry expire, break both forges, replay in another order.
        for (const r of reqs) await ask(stale, r);
        await sleep(1100);
        gl.inject({ kind: 'status', status: 500 });
        gh.inject({ kind: 'status', status: 500 });
        const order = shuffle(
          reqs.map((_, i) => i),
          seed + 3,
        );
        const got = await Promise.all(order.map((i) => ask(stale, reqs[i]!)));
        order.forEach((i, k) => assert.deepEqual(got[k], want[i], `stale differs on ${imageOf(reqs[i]!)}`));
        gl.clearInjections();
        gh.clearInjections();
      }),
      { numRuns: 5 },
    );
  });
});
