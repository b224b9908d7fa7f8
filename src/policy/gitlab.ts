import { allowing, denying, no, writable, yes, type Judge, type Judgement } from './grant.js';
import type { Action } from './types.js';

// The GitLab permission matrix of docs/forges.md, as a pure function of facts the
// forge bridge gathered. An action is granted only if the credential's scopes AND the
// caller's standing on the project allow it; every answer says which rule decided.

export const ACCESS_LEVELS = { 10: 'Guest', 20: 'Reporter', 30: 'Developer', 40: 'Maintainer', 50: 'Owner' } as const;
export const REPORTER = 20;
export const DEVELOPER = 30;
export const MAINTAINER = 40;

export type Visibility = 'public' | 'internal' | 'private';
export type RegistryLevel = 'enabled' | 'private' | 'disabled';

export interface GitLabProjectFacts {
  path: string;
  visibility: Visibility;
  registry: RegistryLevel;
  archived: boolean;
}

export type GitLabCallerFacts =
  | { kind: 'anonymous'; anonymousPull: boolean }
  | {
      kind: 'user';
      username: string;
      /** Admin powers on this request (adminPowers): the account is an admin and its token may act as one. */
      admin: boolean;
      /** The account is an instance admin, whether or not this token carries its powers (for reasons). */
      instanceAdmin: boolean;
      external: boolean;
      /** The token's scopes; they gate every action before the role is looked at. */
      scopes: readonly string[];
      /** max(project_access, group_access); 0 when not a member. */
      role: number;
    }
  | {
      kind: 'job';
      /** The job's own project is the image's project. */
      ownProject: boolean;
      /** The job user's role on the target (for allowlisted cross-project pulls). */
      role: number;
      /** The job's user is external, or nobody could tell: internal projects are not theirs to read. */
      external: boolean;
      /** The job's project is in the target's inbound job token allowlist. */
      allowlisted: boolean;
      /** forgegate's own cross-project push allowlist matched (a feature GitLab lacks). */
      pushAllowed: boolean;
      sourcePath: string;
    };

const SCOPES_FOR: Record<'pull' | 'push' | 'delete', readonly string[]> = {
  pull: ['read_registry', 'read_api', 'api'],
  push: ['write_registry', 'api'],
  // GitLab never lets a write_registry token delete.
  delete: ['api'],
};
const REGISTRY_SCOPES = new Set(Object.values(SCOPES_FOR).flat());

/**
 * GitLab Admin Mode: where the instance enforces it, an admin's token has admin powers only
 * with the `admin_mode` scope; without them the admin is judged by its role like anyone.
 * `enforced` is the forge's `adminMode` setting: forgegate cannot read the instance's own
 * setting without an admin token, so it is configured, and on unless turned off.
 */
export function adminPowers(instanceAdmin: boolean, scopes: readonly string[], enforced: boolean): boolean {
  return instanceAdmin && (!enforced || scopes.includes(ADMIN_MODE_SCOPE));
}

export const ADMIN_MODE_SCOPE = 'admin_mode';

export function roleName(level: number): string {
  const name = ACCESS_LEVELS[level as keyof typeof ACCESS_LEVELS];
  return name ? `${name} (${level})` : level === 0 ? 'none' : `level ${level}`;
}

export function judgeGitLab(caller: GitLabCallerFacts, project: GitLabProjectFacts): Judge {
  if (project.registry === 'disabled')
    return denying('registry-disabled', `the container registry of ${project.path} is disabled`);
  switch (caller.kind) {
    case 'anonymous':
      return judgeAnonymous(caller.anonymousPull, project);
    case 'user':
      return judgeUser(caller, project);
    case 'job':
      return judgeJob(caller, project);
  }
}

function judgeAnonymous(anonymousPull: boolean, project: GitLabProjectFacts): Judge {
  return (action) => {
    if (action !== 'pull') return no('anonymous', `anonymous callers may only pull`);
    if (!anonymousPull) return no('anonymous', `anonymous pulls are turned off for this forge`);
    if (isOpenToAll(project)) return yes('public', `${project.path} is public with its registry enabled`);
    return no('anonymous', `${project.path} is not public with an enabled registry; log in`);
  };
}

/** The scope gate alone: a denial when the token's scopes earn no registry access at all, else null. */
export function scopeGate(scopes: readonly string[]): Judge | null {
  return scopes.some((scope) => REGISTRY_SCOPES.has(scope))
    ? null
    : denying('scope', `token scopes [${scopes.join(', ')}] grant no registry access`);
}

/** Who asks for the catalog: a token's user (a job token passes null). */
export type GitLabCatalogCaller = Pick<Extract<GitLabCallerFacts, { kind: 'user' }>, 'username' | 'admin' | 'scopes'>;

/**
 * `registry:catalog:*` (every repository's name): GitLab instance admins only, and only through
 * a token whose scopes reach the registry at all; a `read_user` token of an admin lists nothing.
 * `null`: a CI job token, which never does.
 */
export function judgeGitLabCatalog(caller: GitLabCatalogCaller | null): Judge {
  if (caller === null) return denying('catalog', 'job tokens never list the catalog');
  const gate = scopeGate(caller.scopes);
  if (gate) return gate;
  if (!caller.admin) {
    return denying('catalog', `only GitLab instance admins list the catalog; ${caller.username} is not one`);
  }
  return allowing({ actions: ['*'], rule: 'admin', because: `${caller.username} is a GitLab instance admin` });
}

function judgeUser(caller: Extract<GitLabCallerFacts, { kind: 'user' }>, project: GitLabProjectFacts): Judge {
  const gate = scopeGate(caller.scopes);
  if (gate) return gate;
  return (action) => {
    if (action === '*') {
      const reserved = `* is reserved for GitLab instance admins${adminModeNote(caller)}`;
      if (!caller.admin) return no('star-admin-only', reserved);
      // `*` covers delete: the token's scopes must allow every action, not only the role.
      const unscoped = (['pull', 'push', 'delete'] as const).filter(
        (a) => !caller.scopes.some((scope) => SCOPES_FOR[a].includes(scope)),
      );
      if (unscoped.length > 0)
        return no('scope', `token scopes [${caller.scopes.join(', ')}] do not allow ${unscoped.join(', ')}`);
      return writable(project.path, project.archived, 'admin', `${caller.username} is a GitLab instance admin`);
    }
    const allowedBy = SCOPES_FOR[action];
    if (!caller.scopes.some((scope) => allowedBy.includes(scope))) {
      return no('scope', `token scopes [${caller.scopes.join(', ')}] do not include ${allowedBy.join(' or ')}`);
    }
    if (caller.admin) {
      const because = `${caller.username} is a GitLab instance admin`;
      return action === 'pull' ? yes('admin', because) : writable(project.path, project.archived, 'admin', because);
    }
    if (action === 'pull') return pullByRole(caller, project);
    const needed = action === 'push' ? DEVELOPER : MAINTAINER;
    const below = `role ${roleName(caller.role)} < ${roleName(needed)} on ${project.path}`;
    if (caller.role < needed) return no('role', `${below}${adminModeNote(caller)}`);
    const because = `role ${roleName(caller.role)} >= ${roleName(needed)} on ${project.path}`;
    return writable(project.path, project.archived, 'role', because);
  };
}

// An admin whose token has no admin powers learns why it is judged by its role.
function adminModeNote(caller: { admin: boolean; instanceAdmin: boolean; username: string }): string {
  if (!caller.instanceAdmin || caller.admin) return '';
  const why = `Admin Mode gives admin powers only to tokens with the ${ADMIN_MODE_SCOPE} scope`;
  return ` (${caller.username} is an admin, but ${why})`;
}

function pullByRole(caller: { role: number; external: boolean }, project: GitLabProjectFacts): Judgement {
  if (caller.role >= REPORTER)
    return yes('role', `role ${roleName(caller.role)} >= ${roleName(REPORTER)} on ${project.path}`);
  if (isOpenToAll(project)) return yes('public', `${project.path} is public with its registry enabled`);
  if (project.visibility === 'internal' && project.registry === 'enabled') {
    if (caller.external)
      return no('external', `${project.path} is internal and external users need ${roleName(REPORTER)}`);
    return yes('internal', `${project.path} is internal with its registry enabled`);
  }
  const why = project.registry === 'private' ? 'its registry is private to members' : `it is ${project.visibility}`;
  return no('role', `role ${roleName(caller.role)} < ${roleName(REPORTER)} on ${project.path} and ${why}`);
}

function judgeJob(caller: Extract<GitLabCallerFacts, { kind: 'job' }>, project: GitLabProjectFacts): Judge {
  return (action) => {
    if (action === '*') return no('star-not-granted', '* is never granted to job tokens');
    if (caller.ownProject) {
      if (action === 'pull') return yes('job-own-project', `job token of ${project.path} (its own project)`);
      const because = `job token of ${project.path} (its own project)`;
      return writable(project.path, project.archived, 'job-own-project', because);
    }
    if (caller.pushAllowed && action !== 'delete') {
      const because = `forgegate's job token push allowlist lets ${caller.sourcePath} into ${project.path}`;
      if (action === 'pull') return yes('job-push-allowlist', because);
      return writable(project.path, project.archived, 'job-push-allowlist', because);
    }
    if (action !== 'pull')
      return no('job-cross-project', `job token of ${caller.sourcePath} may only pull from other projects`);
    if (isOpenToAll(project)) return yes('public', `${project.path} is public with its registry enabled`);
    if (project.registry === 'enabled' && project.visibility === 'internal') {
      if (!caller.external) return yes('internal', `${project.path} is internal with its registry enabled`);
      if (!caller.allowlisted || caller.role < REPORTER) {
        const unknown = "the job's user is external or the serviceToken cannot tell (it takes an admin's token)";
        return no('external', `${project.path} is internal, and ${unknown}`);
      }
    }
    if (!caller.allowlisted)
      return no('job-allowlist', `${caller.sourcePath} is not in the job token allowlist of ${project.path}`);
    if (caller.role < REPORTER)
      return no('role', `the job's user has role ${roleName(caller.role)} < ${roleName(REPORTER)} on ${project.path}`);
    return yes(
      'job-allowlist',
      `${caller.sourcePath} is in the job token allowlist of ${project.path} and the job's user is ${roleName(caller.role)}`,
    );
  };
}

function isOpenToAll(project: GitLabProjectFacts): boolean {
  return project.visibility === 'public' && project.registry === 'enabled';
}
