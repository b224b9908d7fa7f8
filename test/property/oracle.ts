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
  /** `admin`: the account is an instance admin; `adminMode`: the instance enforces Admin Mode. */
  | { kind: 'user'; admin: boolean; adminMode: boolean; external: boolean; scopes: readonly string[]; role: number }
  /** `external`: the job's user is external (or forgegate cannot tell). */
  | { kind: 'job'; ownProject: boolean; role: number; external: boolean; allowlisted: boolean; pushAllowed: boolean };

/**
 * "An image belongs to a project only when path_with_namespace (compared without case) equals
 * the candidate path": GitLab's answer for an old path (a redirect route) is no project there.
 */
export function gitlabProjectAt(candidatePath: string, answered: { path: string } | null): boolean {
  return answered !== null && answered.path.toLowerCase() === candidatePath.toLowerCase();
}

/** "Where the instance enables Admin Mode, an admin's token has admin powers only with the admin_mode scope." */
function glAdminPowers(caller: Extract<GlCaller, { kind: 'user' }>): boolean {
  if (!caller.admin) return false;
  return !caller.adminMode || caller.scopes.includes('admin_mode');
}

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
    // Instance admins hold every role (GitLab's own rule); they alone may hold `*`. Without
    // admin powers (Admin Mode, no admin_mode scope) an admin is judged by its role.
    const admin = glAdminPowers(caller);
    const role = admin ? 50 : caller.role;
    const pullByRole =
      role >= 20 || openToAll || (p.visibility === 'internal' && p.registry === 'enabled' && !caller.external);
    if (glScopeAllows(caller.scopes, 'pull') && pullByRole) allowed.add('pull');
    if (glScopeAllows(caller.scopes, 'push') && role >= 30 && writesOpen) allowed.add('push');
    if (glScopeAllows(caller.scopes, 'delete') && role >= 40 && writesOpen) allowed.add('delete');
    // `*` covers pull, push and delete: an admin whose token allows all three, writes open.
    star = admin && EXPLICIT.every((a) => glScopeAllows(caller.scopes, a)) && writesOpen;
    return { explicit: allowed, star };
  }
  // CI job tokens: never `*`. The job's own project is judged on the same registry level and
  // archived state as everyone's (checked above): a running job proves neither.
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
  // Internal projects are open to the instance's users, external ones excepted, as for tokens.
  const openToInstance = openToAll || (p.registry === 'enabled' && p.visibility === 'internal' && !caller.external);
  if (openToInstance || (caller.allowlisted && caller.role >= 20)) allowed.add('pull');
  return { explicit: allowed, star };
}

// ---- GitLab's protected container repositories (docs/gitlab.md, "Protected container repositories")

export type GlProtectionLevel = 'maintainer' | 'owner' | 'admin';
export interface GlRule {
  pattern: string;
  push: GlProtectionLevel | null;
  delete: GlProtectionLevel | null;
}

/** "`*` wildcards" over "the full image path", matched the way GitLab's ILIKE does: any run of characters, any case. */
export function glRuleMatches(pattern: string, path: string): boolean {
  const p = pattern.toLowerCase();
  const t = path.toLowerCase();
  if (p === '') return t === '';
  if (p.startsWith('*')) return glRuleMatches(p.slice(1), t) || (t !== '' && glRuleMatches(p, t.slice(1)));
  return t !== '' && p[0] === t[0] && glRuleMatches(p.slice(1), t.slice(1));
}

/** "the levels are maintainer, owner, admin (instance admins only)". */
const GL_MINIMUM: Record<GlProtectionLevel, number> = { maintainer: 40, owner: 50, admin: Number.POSITIVE_INFINITY };

/**
 * What remains of `holds` once the project's rules apply. `who`: an instance admin, or the role
 * the rules judge (a job's user's role for job tokens). `rules` null: they cannot be read, and
 * `strict` refuses push and delete then ("`best-effort` decides without them").
 */
export function gitlabProtected(
  holds: { explicit: Set<Explicit>; star: boolean },
  image: string,
  rules: readonly GlRule[] | null,
  who: { admin: true } | { admin: false; role: number },
  strict: boolean,
): { explicit: Set<Explicit>; star: boolean } {
  // "instance admins pass"; "pulls are never affected".
  if (who.admin) return holds;
  const allowed = (action: 'push' | 'delete'): boolean => {
    if (rules === null) return !strict;
    // "a caller needs every matching rule's minimum"
    return rules.every((rule) => {
      const minimum = rule[action];
      return minimum === null || !glRuleMatches(rule.pattern, image) || who.role >= GL_MINIMUM[minimum];
    });
  };
  const explicit = new Set([...holds.explicit].filter((a) => a === 'pull' || allowed(a)));
  // `*` stands for pull, push and delete: held only while every write it covers is.
  return { explicit, star: holds.star && allowed('push') && allowed('delete') };
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
/** A GitHub App permission level on the repository's owner. */
export type GhAppAccess = 'read' | 'write' | 'admin';
/**
 * What the credential itself was granted: a classic token's scopes; a GitHub App user token's
 * App permissions (null: the App is not installed on the owner); or unknown (fine-grained PATs:
 * GitHub shows them their user's role, never their own permission), trusted or not by the operator.
 */
export type GhGrant =
  | { kind: 'scopes'; scopes: readonly string[] }
  | { kind: 'app'; permissions: { contents?: GhAppAccess; packages?: GhAppAccess } | null }
  | { kind: 'unknown'; trusted: boolean };
export type GhCaller =
  | { kind: 'anonymous'; anonymousPull: boolean }
  | { kind: 'installation'; ownRepository: boolean; pushOptIn: boolean }
  | { kind: 'user'; grant: GhGrant; permissions: GhPermissions | null; deleteNeeds: 'admin' | 'maintain' };

/** "Classic PAT scopes: pull needs read:packages or repo; push write:packages or repo; delete delete:packages." */
const GH_SCOPE_TABLE: Record<Explicit, readonly string[]> = {
  // write:packages implies read:packages on GitHub.
  pull: ['read:packages', 'write:packages', 'repo'],
  push: ['write:packages', 'repo'],
  delete: ['delete:packages'],
};

/** What the credential itself lets through, before the user's role: the gate of each action. */
function ghGrantAllows(grant: GhGrant, a: Explicit): boolean {
  switch (grant.kind) {
    case 'scopes':
      return grant.scopes.some((s) => GH_SCOPE_TABLE[a].includes(s));
    case 'unknown':
      // "The user's role is not the token's permission": pull only, unless trusted.
      return a === 'pull' || grant.trusted;
    case 'app': {
      const p = grant.permissions;
      if (p === null) return false;
      const writes = (l?: GhAppAccess) => l === 'write' || l === 'admin';
      if (a === 'pull') return p.contents !== undefined || p.packages !== undefined;
      if (a === 'push') return writes(p.contents) || writes(p.packages);
      return writes(p.packages);
    }
  }
}

export function githubAllows(caller: GhCaller, r: GhRepo): { explicit: Set<Explicit>; star: boolean } {
  const allowed = new Set<Explicit>();
  const isPublic = r.visibility === 'public';
  const writesOpen = !r.archived; // "Archived repositories: pull only."
  if (caller.kind === 'anonymous') {
    if (caller.anonymousPull && isPublic) allowed.add('pull');
    return { explicit: allowed, star: false };
  }
  if (caller.kind === 'installation') {
    // Pull on its own repositories, public pull elsewhere; push only where the operator named
    // the repository (installationTokenPush): a read-only GITHUB_TOKEN is listed like a writing one.
    if (caller.ownRepository) {
      allowed.add('pull');
      if (writesOpen && caller.pushOptIn) allowed.add('push');
    } else if (isPublic) allowed.add('pull');
    return { explicit: allowed, star: false };
  }
  // "pull: repository public (anyone, anonymous too)": a login never gets less than anonymous.
  if (isPublic) allowed.add('pull');
  if (caller.permissions === null) return { explicit: allowed, star: false }; // 404: cannot see it
  const scoped = (a: Explicit) => ghGrantAllows(caller.grant, a);
  // A fine-grained or App token (no scope header) cannot prove it was selected for a public
  // repository (GitHub reports the user's permission there): it earns no writes on one.
  const provable = !(caller.grant.kind !== 'scopes' && isPublic);
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
export function expectedGrant(
  requested: readonly string[],
  holds: { explicit: Set<Explicit>; star: boolean },
): string[] {
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

// ---- the authority: whom each rule speaks for -----------------------------------------------
// Independent of the matrices above: which rules decide a scope for which caller. A world of two
// forges (GitLab under "", GitHub under "gh/") whose matrices are stand-ins the property test
// gives its stub forges: anyone pulls `pub/...`; a forge's own user also pushes `<login>/...`.

export type AuthCaller =
  | { kind: 'anonymous' }
  | { kind: 'static'; name: string }
  /** `scopes`: GitLab token scopes, or GitHub classic scopes (null: a fine-grained token). */
  | { kind: 'forge'; forge: 'gitlab' | 'github'; login: string; admin: boolean; scopes: readonly string[] | null }
  /** A verified CI ID token of `project`, from the issuer that names `forge`. */
  | { kind: 'oidc'; forge: 'gitlab' | 'github'; project: string };

export interface AuthAclRule {
  account: string;
  type: string;
  name: '**' | 'catalog' | 'pub/**' | 'alice/**';
  actions: ('pull' | 'push' | 'delete' | '*')[];
}

export const MAX_FORGE_IMAGES = 16;

type Holds = { explicit: Set<Explicit>; star: boolean };
const NOTHING = (): Holds => ({ explicit: new Set(), star: false });

/** "gh/..." goes to GitHub, everything else to GitLab (the empty prefix). */
export function routeOf(name: string): { forge: 'gitlab' | 'github'; path: string } {
  return name.startsWith('gh/') ? { forge: 'github', path: name.slice(3) } : { forge: 'gitlab', path: name };
}

function aclHolds(rules: readonly AuthAclRule[], account: string, type: string, name: string): Holds | null {
  const rule = rules.find((r) => {
    if (r.type !== type) return false;
    // "" is anonymous only; a glob never matches the anonymous caller.
    const named = r.account === '*' || r.account === account;
    const accountOk = r.account === '' ? account === '' : account !== '' && named;
    const prefix = r.name.slice(0, -2); // "pub/**" -> "pub/"
    const nameOk = r.name === '**' || (r.name === 'catalog' ? name === 'catalog' : name.startsWith(prefix));
    return accountOk && nameOk;
  });
  if (rule === undefined) return null;
  const star = rule.actions.includes('*');
  return { explicit: new Set(EXPLICIT.filter((a) => star || rule.actions.includes(a))), star };
}

/** The stand-in matrix: anyone pulls pub/...; the forge's own user also pushes its login's namespace. */
function standIn(path: string, ownLogin: string | null): Holds {
  const holds = NOTHING();
  if (path.startsWith('pub/')) holds.explicit.add('pull');
  if (ownLogin !== null && path.startsWith(`${ownLogin}/`)) holds.explicit.add('pull').add('push');
  return holds;
}

/**
 * "The catalog of a forge caller is its forge's to judge: instance admins (GitHub: site admins
 * or the configured list), through a token whose scopes reach the registry: GitLab
 * read_registry, write_registry, read_api or api; GitHub a classic token with read:packages,
 * write:packages or repo (a fine-grained token cannot show it)."
 */
function forgeCatalog(caller: Extract<AuthCaller, { kind: 'forge' }>): Holds {
  const gitlab = ['read_registry', 'write_registry', 'read_api', 'api'];
  const registryScopes = caller.forge === 'gitlab' ? gitlab : ['read:packages', 'write:packages', 'repo'];
  const scoped = caller.scopes !== null && caller.scopes.some((s) => registryScopes.includes(s));
  return caller.admin && scoped ? { explicit: new Set(EXPLICIT), star: true } : NOTHING();
}

/** "A job owns its project's images on its issuer's forge only: GitLab adds at most two segments, GitHub any." */
function jobOwns(caller: Extract<AuthCaller, { kind: 'oidc' }>, name: string): boolean {
  const { forge, path } = routeOf(name);
  if (forge !== caller.forge) return false;
  if (path === caller.project) return true;
  if (!path.startsWith(`${caller.project}/`)) return false;
  return forge === 'github' || path.split('/').length - caller.project.split('/').length <= 2;
}

/**
 * What the authority may grant on each scope of one request, in order:
 * - static accounts: their ACL rules, nothing else;
 * - anonymous callers: the ACL's "" rules where one matches, else the image's forge as for anyone;
 * - forge users: never the ACL, whatever their name; their own forge's matrix on its images,
 *   the other forge as for anyone; the catalog by forgeCatalog;
 * - CI jobs: pull and push on their own project's images (on their issuer's forge), and
 *   anonymous everywhere else, the ACL's "" rules included;
 * - at most MAX_FORGE_IMAGES distinct images per request reach a forge; later ones earn nothing.
 */
export function authorityAllows(
  caller: AuthCaller,
  scopes: readonly { type: string; name: string }[],
  acl: readonly AuthAclRule[],
): Holds[] {
  const judged = new Set<string>();
  const forgeJudges = (name: string, ownLogin: string | null): Holds => {
    const { forge, path } = routeOf(name);
    const key = `${forge}:${path}`;
    if (!judged.has(key) && judged.size >= MAX_FORGE_IMAGES) return NOTHING();
    judged.add(key);
    return standIn(path, ownLogin);
  };
  const asAnyone = (scope: { type: string; name: string }): Holds => {
    const byAcl = aclHolds(acl, '', scope.type, scope.name);
    if (byAcl !== null) return byAcl;
    return scope.type === 'repository' ? forgeJudges(scope.name, null) : NOTHING();
  };
  return scopes.map((scope) => {
    switch (caller.kind) {
      case 'static':
        return aclHolds(acl, caller.name, scope.type, scope.name) ?? NOTHING();
      case 'anonymous':
        return asAnyone(scope);
      case 'oidc':
        if (scope.type === 'repository' && jobOwns(caller, scope.name)) {
          return { explicit: new Set<Explicit>(['pull', 'push']), star: false };
        }
        return asAnyone(scope);
      case 'forge':
        if (scope.type === 'registry' && scope.name === 'catalog') return forgeCatalog(caller);
        if (scope.type !== 'repository') return NOTHING();
        return forgeJudges(scope.name, routeOf(scope.name).forge === caller.forge ? caller.login : null);
    }
  });
}
