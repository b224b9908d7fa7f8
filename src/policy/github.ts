import { allowing, denying, no, writable, yes, type Judge, type Judgement } from './grant.js';

// The GitHub permission matrix (docs/github.md), as a pure function of facts the
// forge bridge gathered: what the credential itself was granted gates each action (classic
// scopes, a GitHub App's permissions), then the repository permission GitHub reports for the
// caller's user decides. Where GitHub does not say what the credential was granted, it pulls
// only, unless the operator chose to trust the user's role.

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

/** A GitHub App permission level, as GET /user/installations reports it. */
export type AppAccess = 'read' | 'write' | 'admin';

/**
 * What the credential itself was granted, apart from its user's role (which is all that the
 * `permissions` of GET /repos describe):
 * - scopes: a classic PAT or OAuth token, by its X-OAuth-Scopes;
 * - app: a GitHub App user token, by its App's installation on the repository's owner (null:
 *   the App is not installed there); the token holds what both the App and the user hold;
 * - unknown: a fine-grained PAT, or an App user token whose installations could not be read.
 *   GitHub has no call that tells; `trusted` is the operator's trustUserTokenRole.
 */
export type TokenGrant =
  | { kind: 'scopes'; scopes: readonly string[] }
  | { kind: 'app'; permissions: { contents?: AppAccess; packages?: AppAccess } | null }
  | { kind: 'unknown'; trusted: boolean };

export type GitHubCallerFacts =
  | { kind: 'anonymous'; anonymousPull: boolean }
  | {
      kind: 'user';
      login: string;
      grant: TokenGrant;
      /** null: the caller cannot see the repository (GitHub answered 404). */
      permissions: RepoPermissions | null;
      /** Which permission deletes: admin by default, maintain when configured. */
      deleteNeeds: 'admin' | 'maintain';
    }
  | {
      kind: 'installation';
      /** The repository is among those GET /installation/repositories lists for the token. */
      ownRepository: boolean;
      /** The operator named the repository in installationTokenPush. */
      pushOptIn: boolean;
    };

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
        return repo.visibility === 'public'
          ? yes('public', `${repo.fullName} is public`)
          : no('anonymous', `${repo.fullName} is not public; log in`);
      };
    case 'installation':
      return (action) => {
        if (action === '*') return no('star-not-granted', '* is never granted to installation tokens');
        if (action === 'delete') return no('installation', 'installation tokens never delete');
        if (caller.ownRepository && action === 'pull') {
          return yes('installation-own-repo', `the installation token may reach ${repo.fullName}`);
        }
        // GitHub lists a read-only GITHUB_TOKEN's repositories exactly like a writing one's.
        if (caller.ownRepository && caller.pushOptIn) {
          const because = `installationTokenPush names ${repo.fullName}`;
          return writable(repo.fullName, repo.archived, 'installation-push', because);
        }
        if (caller.ownRepository) {
          return no(
            'installation-pull-only',
            'installation tokens only pull: GitHub does not say whether this one may write (read-only for fork pull ' +
              `requests, Dependabot, permissions: read), and installationTokenPush does not name ${repo.fullName}`,
          );
        }
        if (action === 'pull' && repo.visibility === 'public') return yes('public', `${repo.fullName} is public`);
        return no('installation', `the installation token does not reach ${repo.fullName}`);
      };
    case 'user':
      return judgeUser(caller, repo);
  }
}

/** Who asks for `registry:catalog:*`: an installation token, or a user token and whether its user is an admin. */
export type GitHubCatalogCaller =
  { kind: 'installation' } | { kind: 'user'; login: string; scopes: readonly string[] | null; admin: boolean };

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
  if (caller.permissions === null && repo.visibility !== 'public')
    return denying('no-repository', `no GitHub repository ${repo.fullName} visible to ${caller.login}`);
  const permissions = caller.permissions ?? { admin: false, maintain: false, push: false, triage: false, pull: true };
  return (action) => {
    if (action === '*') return no('star-not-granted', '* is not granted on GitHub repositories; ask for the actions');
    // Anyone may pull a public repository: a logged-in caller never gets less than anonymous.
    if (action === 'pull' && repo.visibility === 'public') return yes('public', `${repo.fullName} is public`);
    const gate = grantGate(caller.grant, action, repo);
    if (gate) return gate;
    // GitHub shows every token a public repository with the *user's* permission, so a
    // fine-grained or app token cannot prove it was given this one: writes need a classic token.
    if (caller.grant.kind !== 'scopes' && repo.visibility === 'public') {
      return no(
        'token-not-selected',
        `a fine-grained or app token cannot show it was given ${repo.fullName} (GitHub reports the user's permission on public repositories); use a classic token to ${action} here`,
      );
    }
    if (action === 'pull') {
      return permissions.pull
        ? yes('permission', `${caller.login} has pull on ${repo.fullName}`)
        : no('permission', `${caller.login} lacks pull on ${repo.fullName}`);
    }
    const needed = action === 'push' ? 'push' : caller.deleteNeeds;
    const held = needed === 'maintain' ? permissions.maintain || permissions.admin : permissions[needed];
    if (!held)
      return no('permission', `${caller.login} lacks ${needed} on ${repo.fullName} (${strongest(permissions)})`);
    return writable(repo.fullName, repo.archived, 'permission', `${caller.login} has ${needed} on ${repo.fullName}`);
  };
}

/** What the credential itself allows, before the user's role is looked at; null: no objection. */
function grantGate(grant: TokenGrant, action: 'pull' | 'push' | 'delete', repo: GitHubRepoFacts): Judgement | null {
  switch (grant.kind) {
    case 'scopes':
      return scopeGate(grant.scopes, action);
    case 'app':
      return appGate(grant.permissions, action, repo);
    case 'unknown':
      // Pull needs nothing more than seeing the repository, which GitHub checked for the token.
      if (action === 'pull' || grant.trusted) return null;
      return no(
        'token-permission-unknown',
        `GitHub does not say what this token may do on ${repo.fullName} (it reports the user's role): fine-grained ` +
          `tokens only pull unless trustUserTokenRole is set; use a classic token or an OIDC ID token to ${action}`,
      );
  }
}

// Classic token scopes: pull needs read:packages, write:packages or repo; push
// write:packages or repo; delete delete:packages. (Public pulls need no scope at all.)
function scopeGate(scopes: readonly string[], action: 'pull' | 'push' | 'delete'): Judgement | null {
  const allowed: readonly string[] = SCOPES_FOR[action];
  if (scopes.some((scope) => allowed.includes(scope))) return null;
  return no('scope', `token scopes [${scopes.join(', ')}] do not include ${allowed.join(' or ')}`);
}

// A GitHub App user token holds what its App's installation holds: pull needs contents or
// packages (read), push contents or packages (write), delete packages (write).
type AppPermissions = Extract<TokenGrant, { kind: 'app' }>['permissions'];

const APP_NEEDS = {
  pull: { names: ['contents', 'packages'], levels: ['read', 'write', 'admin'], text: 'contents or packages: read' },
  push: { names: ['contents', 'packages'], levels: ['write', 'admin'], text: 'contents or packages: write' },
  delete: { names: ['packages'], levels: ['write', 'admin'], text: 'packages: write' },
} as const;

function appGate(permissions: AppPermissions, action: keyof typeof APP_NEEDS, repo: GitHubRepoFacts): Judgement | null {
  const owner = repo.fullName.split('/')[0];
  if (permissions === null) {
    return no('app-permission', `the GitHub App behind this token is not installed on ${owner}`);
  }
  const needs = APP_NEEDS[action];
  const levels: readonly (AppAccess | undefined)[] = needs.levels;
  if (needs.names.some((name) => levels.includes(permissions[name]))) return null;
  const has = `contents: ${permissions.contents ?? 'none'}, packages: ${permissions.packages ?? 'none'}`;
  return no('app-permission', `the GitHub App behind this token has ${has} on ${owner}; ${action} needs ${needs.text}`);
}

function strongest(p: RepoPermissions): string {
  const level = p.admin
    ? 'admin'
    : p.maintain
      ? 'maintain'
      : p.push
        ? 'write'
        : p.triage
          ? 'triage'
          : p.pull
            ? 'read'
            : 'none';
  return `has ${level}`;
}
