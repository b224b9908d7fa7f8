// An independent, table-driven reading of docs/forges.md's permission matrices (GitLab and GitHub),
// written from the document and not from src/policy: the property tests check the real
// matrices against it. Each table row is a plain predicate over the facts, so a reviewer can
// hold it next to docs/forges.md line by line.

export type Explicit = 'pull' | 'push' | 'delete';
export const EXPLICIT: readonly Explicit[] = ['pull', 'push', 'delete'];

// ---- GitLab (docs/forges.md) ----------------------------------------------------------------

export type GlVisibility = 'public' | 'internal' | 'private';
export type GlRegistry = 'enabled' | 'private' | 'disabled';

export interface GlProject {
  visibility: GlVisibility;
  registry: GlRegistry;
  archived: boolean;
}

export type GlCaller =
  | { kind: 'anonymous'; anonymousPull: boolean }
  | { kind: 'user'; admin: boolean; external: boolean; scopes: readonly string[]; role: number }
  | { kind: 'job'; ownProject: boolean; role: number; allowlisted: boolean; pushAllowed: boolean };

/** "Token scopes gate the credential before roles are looked at" (the token scope table). */
const GL_SCOPE_TABLE: Record<string, readonly Explicit[]> = {
  read_registry: ['pull'],
  read_api: ['pull'],
  write_registry: ['push'],
  api: ['pull', 'push', 'delete'],
};

function glScopeAllows(scopes: readonly string[], action: Explicit): boolean {
  return scopes.some((s) => GL_SCOPE_TABLE[s]?.includes(action) ?? false);
}

/** The actions (and whether `*`) docs/forges.md lets this caller hold on this project. */
export function gitlabAllows(caller: GlCaller, p: GlProject): { explicit: Set<Explicit>; star: boolean } {
  const allowed = new Set<Explicit>();
  let star = false;
  // "pull: registry level is not disabled" and nothing else is granted on a disabled registry.
  if (p.registry === 'disabled') return { explicit: allowed, star };
  const openToAll = p.visibility === 'public' && p.registry === 'enabled';
  // "Archived projects: pull as usual, no push, no delete."
  const writesOpen = !p.archived;

  if (caller.kind === 'anonymous') {
    if (caller.anonymousPull && openToAll) allowed.add('pull');
    return { explicit: allowed, star };
  }
  if (caller.kind === 'user') {
    // Instance admins hold every role (GitLab's own rule); they alone may hold `*`.
    const role = caller.admin ? 50 : caller.role;
    const pullByRole = role >= 20 || openToAll || (p.visibility === 'internal' && p.registry === 'enabled' && !caller.external);
    if (glScopeAllows(caller.scopes, 'pull') && pullByRole) allowed.add('pull');
    if (glScopeAllows(caller.scopes, 'push') && role >= 30 && writesOpen) allowed.add('push');
    if (glScopeAllows(caller.scopes, 'delete') && role >= 40 && writesOpen) allowed.add('delete');
    // `*` covers pull, push and delete: an admin whose token allows all three, writes open.
    star = caller.admin && EXPLICIT.every((a) => glScopeAllows(caller.scopes, a)) && writesOpen;
    return { explicit: allowed, star };
  }
  // CI job tokens: never `*`.
  if (caller.ownProject) {
    allowed.add('pull');
    if (writesOpen) allowed.add('push').add('delete');
    return { explicit: allowed, star };
  }
  if (caller.pushAllowed) {
    // forgegate's own cross-project push allowlist: push (which needs pull), never delete.
    allowed.add('pull');
    if (writesOpen) allowed.add('push');
    return { explicit: allowed, star };
  }
  const openToInstance = p.registry === 'enabled' && p.visibility !== 'private';
  if (openToInstance || (caller.allowlisted && caller.role >= 20)) allowed.add('pull');
  return { explicit: allowed, star };
}

// ---- GitHub (docs/forges.md) ----------------------------------------------------------------

export interface GhRepo {
  visibility: 'public' | 'private' | 'internal';
  archived: boolean;
}
export interface GhPermissions {
  admin: boolean;
  maintain: boolean;
  push: boolean;
  triage: boolean;
  pull: boolean;
}
export type GhCaller =
  | { kind: 'anonymous'; anonymousPull: boolean }
  | { kind: 'installation'; ownRepository: boolean }
  | { kind: 'user'; scopes: readonly string[] | null; permissions: GhPermissions | null; deleteNeeds: 'admin' | 'maintain' };

/** "Classic PAT scopes: pull needs read:packages or repo; push write:packages or repo; delete delete:packages." */
const GH_SCOPE_TABLE: Record<Explicit, readonly string[]> = {
  // write:packages implies read:packages on GitHub.
  pull: ['read:packages', 'write:packages', 'repo'],
  push: ['write:packages', 'repo'],
  delete: ['delete:packages'],
};

export function githubAllows(caller: GhCaller, r: GhRepo): { explicit: Set<Explicit>; star: boolean } {
  const allowed = new Set<Explicit>();
  const isPublic = r.visibility === 'public';
  const writesOpen = !r.archived; // "Archived repositories: pull only."
  if (caller.kind === 'anonymous') {
    if (caller.anonymousPull && isPublic) allowed.add('pull');
    return { explicit: allowed, star: false };
  }
  if (caller.kind === 'installation') {
    // "pull + push on that repo only, public pull elsewhere"
    if (caller.ownRepository) {
      allowed.add('pull');
      if (writesOpen) allowed.add('push');
    } else if (isPublic) allowed.add('pull');
    return { explicit: allowed, star: false };
  }
  // "pull: repository public (anyone, anonymous too)": a login never gets less than anonymous.
  if (isPublic) allowed.add('pull');
  if (caller.permissions === null) return { explicit: allowed, star: false }; // 404: cannot see it
  const scoped = (a: Explicit) => caller.scopes === null || caller.scopes.some((s) => GH_SCOPE_TABLE[a].includes(s));
  // A fine-grained token (no scope header) cannot prove it was selected for a public
  // repository (GitHub reports the user's permission there): it earns no writes on one.
  const provable = !(caller.scopes === null && isPublic);
  const p = caller.permissions;
  if (scoped('pull') && p.pull && provable) allowed.add('pull');
  if (scoped('push') && p.push && writesOpen && provable) allowed.add('push');
  const deletes = caller.deleteNeeds === 'maintain' ? p.maintain || p.admin : p.admin;
  if (scoped('delete') && deletes && writesOpen && provable) allowed.add('delete');
  return { explicit: allowed, star: false };
}

// ---- from "may hold" to "granted for this request" (docs/protocol.md: intersection, `*` narrowing)

/**
 * What a token must carry for `requested`: requested explicit actions the caller holds;
 * `*` when asked for and held, else the explicit actions it stands for that are held.
 * Unknown actions earn nothing. Sorted in forgegate's fixed order.
 */
export function expectedGrant(requested: readonly string[], holds: { explicit: Set<Explicit>; star: boolean }): string[] {
  const out = new Set<string>();
  for (const a of requested) {
    if ((EXPLICIT as readonly string[]).includes(a) && holds.explicit.has(a as Explicit)) out.add(a);
    if (a === '*') {
      if (holds.star) out.add('*');
      else for (const e of holds.explicit) out.add(e);
    }
  }
  return ['pull', 'push', 'delete', '*'].filter((a) => out.has(a));
}
