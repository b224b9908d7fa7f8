import { allowing, denying, type Judge, type Judgement } from './grant.js';

// The GitHub permission matrix of forges.md section 3, as a pure function of facts the
// forge bridge gathered: classic token scopes gate each action, then the repository
// permission GitHub reports for the caller decides.

export interface GitHubRepoFacts {
  fullName: string;
  /** public, private, or internal (GitHub Enterprise: visible to the enterprise's members). */
  visibility: 'public' | 'private' | 'internal';
  archived: boolean;
}

export interface RepoPermissions {
  admin: boolean;
  maintain: boolean;
  push: boolean;
  triage: boolean;
  pull: boolean;
}

export type GitHubCallerFacts =
  | { kind: 'anonymous'; anonymousPull: boolean }
  | {
      kind: 'user';
      login: string;
      /** Classic and OAuth tokens' X-OAuth-Scopes; null for fine-grained tokens (no scope header). */
      scopes: readonly string[] | null;
      /** null: the caller cannot see the repository (GitHub answered 404). */
      permissions: RepoPermissions | null;
      /** Which permission deletes: admin by default, maintain when configured. */
      deleteNeeds: 'admin' | 'maintain';
    }
  | { kind: 'installation'; ownRepository: boolean };

const SCOPES_FOR = {
  pull: ['read:packages', 'write:packages', 'repo'],
  push: ['write:packages', 'repo'],
  delete: ['delete:packages'],
} as const;

export function judgeGitHub(caller: GitHubCallerFacts, repo: GitHubRepoFacts): Judge {
  switch (caller.kind) {
    case 'anonymous':
      return (action) => {
        if (action !== 'pull') return no('anonymous', 'anonymous callers may only pull');
        if (!caller.anonymousPull) return no('anonymous', 'anonymous pulls are turned off for this forge');
        return repo.visibility === 'public' ? yes('public', `${repo.fullName} is public`) : no('anonymous', `${repo.fullName} is not public; log in`);
      };
    case 'installation':
      return (action) => {
        if (action === '*') return no('star-not-granted', '* is never granted to installation tokens');
        if (action === 'delete') return no('installation', 'installation tokens never delete');
        if (caller.ownRepository) return action === 'pull' ? yes('installation-own-repo', `the installation token may reach ${repo.fullName}`) : writable(repo, 'installation-own-repo', `the installation token may reach ${repo.fullName}`);
        if (action === 'pull' && repo.visibility === 'public') return yes('public', `${repo.fullName} is public`);
        return no('installation', `the installation token does not reach ${repo.fullName}`);
      };
    case 'user':
      return judgeUser(caller, repo);
  }
}

/** Who asks for `registry:catalog:*`: an installation token, or a user token and whether its user is an admin. */
export type GitHubCatalogCaller =
  | { kind: 'installation' }
  | { kind: 'user'; login: string; scopes: readonly string[] | null; admin: boolean };

/**
 * `registry:catalog:*` (every repository's name): site admins and the configured admins, through
 * a classic token whose scopes reach packages. A fine-grained or app token carries no scopes to
 * show it (GitHub Packages takes classic tokens only); installation tokens never list it.
 */
export function judgeGitHubCatalog(caller: GitHubCatalogCaller): Judge {
  if (caller.kind === 'installation') return denying('catalog', 'installation tokens never list the catalog');
  if (caller.scopes === null) {
    const because =
      'a fine-grained or app token cannot show it may read packages; use a classic token to list the catalog';
    return denying('scope', because);
  }
  const gate = scopeGate(caller.scopes, 'pull');
  if (gate) return () => gate;
  if (!caller.admin) {
    return denying('catalog', `only site admins and forges[].admins list the catalog; ${caller.login} is neither`);
  }
  return allowing({ actions: ['*'], rule: 'admin', because: `${caller.login} is a GitHub admin` });
}

function judgeUser(caller: Extract<GitHubCallerFacts, { kind: 'user' }>, repo: GitHubRepoFacts): Judge {
  if (caller.permissions === null && repo.visibility !== 'public') return denying('no-repository', `no GitHub repository ${repo.fullName} visible to ${caller.login}`);
  const permissions = caller.permissions ?? { admin: false, maintain: false, push: false, triage: false, pull: true };
  return (action) => {
    if (action === '*') return no('star-not-granted', '* is not granted on GitHub repositories; ask for the actions');
    // Anyone may pull a public repository: a logged-in caller never gets less than anonymous.
    if (action === 'pull' && repo.visibility === 'public') return yes('public', `${repo.fullName} is public`);
    const gate = scopeGate(caller.scopes, action);
    if (gate) return gate;
    // GitHub shows every token a public repository with the *user's* permission, so a
    // fine-grained or app token cannot prove it was given this one: writes need a classic token.
    if (caller.scopes === null && repo.visibility === 'public') {
      return no('token-not-selected', `a fine-grained or app token cannot show it was given ${repo.fullName} (GitHub reports the user's permission on public repositories); use a classic token to ${action} here`);
    }
    if (action === 'pull') {
      return permissions.pull ? yes('permission', `${caller.login} has pull on ${repo.fullName}`) : no('permission', `${caller.login} lacks pull on ${repo.fullName}`);
    }
    const needed = action === 'push' ? 'push' : caller.deleteNeeds;
    const held = needed === 'maintain' ? permissions.maintain || permissions.admin : permissions[needed];
    if (!held) return no('permission', `${caller.login} lacks ${needed} on ${repo.fullName} (${strongest(permissions)})`);
    return writable(repo, 'permission', `${caller.login} has ${needed} on ${repo.fullName}`);
  };
}

// Classic token scopes: pull needs read:packages, write:packages or repo; push
// write:packages or repo; delete delete:packages. (Public pulls need no scope at all.)
// Fine-grained tokens carry no scope header: the repository permission alone decides.
function scopeGate(scopes: readonly string[] | null, action: 'pull' | 'push' | 'delete'): Judgement | null {
  if (scopes === null) return null;
  const allowed: readonly string[] = SCOPES_FOR[action];
  if (scopes.some((scope) => allowed.includes(scope))) return null;
  return no('scope', `token scopes [${scopes.join(', ')}] do not include ${allowed.join(' or ')}`);
}

function strongest(p: RepoPermissions): string {
  const level = p.admin ? 'admin' : p.maintain ? 'maintain' : p.push ? 'write' : p.triage ? 'triage' : p.pull ? 'read' : 'none';
  return `has ${level}`;
}

function writable(repo: GitHubRepoFacts, rule: string, because: string): Judgement {
  return repo.archived ? no('archived', `${repo.fullName} is archived`) : yes(rule, because);
}

const yes = (rule: string, because: string): Judgement => ({ granted: true, rule, because });
const no = (rule: string, because: string): Judgement => ({ granted: false, rule, because });
