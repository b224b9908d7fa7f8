import { AuthenticationFailed } from '../../errors.js';
import { adminPowers } from '../../policy/gitlab.js';
import { ForgeRefusal, type ForgeSession } from '../forge.js';
import type { GitLabApi, GitLabProjectJson, GitLabUserJson } from './api.js';

// Verifying what a `docker login` against a GitLab forge may carry (docs/forges.md, GitLab):
// personal, project, group and service-account tokens and OAuth tokens (any username), and
// CI job tokens (username gitlab-ci-token).

export type GitLabCaller =
  | {
      kind: 'token';
      token: string;
      userId: number;
      username: string;
      /** Admin powers for this token (adminPowers of instanceAdmin, scopes and the forge's adminMode). */
      admin: boolean;
      /** The account is an instance admin (is_admin), whatever this token may do. */
      instanceAdmin: boolean;
      /** Unknown (no read_user scope, no service token) counts as external: the safe side. */
      external: boolean;
      scopes: string[];
    }
  | {
      kind: 'job';
      token: string;
      userId: number;
      username: string;
      jobId: number;
      projectId: number;
      /** The job's project as GitLab names it now; null when no serviceToken could read it. */
      projectPath: string | null;
    };

export interface GitLabSession extends ForgeSession {
  caller: GitLabCaller;
}

export interface CredentialContext {
  forge: string;
  url: string;
  api: GitLabApi;
  serviceToken: string | null;
  /** The forge's adminMode: admin powers need the admin_mode scope. */
  adminMode: boolean;
}

export async function verifyAccessToken(token: string, ctx: CredentialContext): Promise<GitLabSession> {
  // Both calls are needed for most tokens; asking at once costs one round trip.
  const [self, me] = await Promise.allSettled([ctx.api.tokenSelf(token), ctx.api.currentUser(token)]);
  let userId: number;
  let scopes: string[];
  let kind = 'gitlab-token';
  if (self.status === 'fulfilled') {
    if (self.value.revoked || !self.value.active) throw rejected('the token is revoked or expired');
    ({ user_id: userId, scopes } = self.value);
  } else {
    rethrowUnavailable(self.reason);
    const refusal = self.reason as ForgeRefusal;
    if (refusal.httpStatus !== 400) throw refusedToken(refusal);
    // Not a personal-style token: it may be an OAuth access token.
    const info = await ctx.api.oauthTokenInfo(token).catch((error: unknown) => {
      rethrowUnavailable(error);
      throw refusedToken(error as ForgeRefusal);
    });
    if (info.resource_owner_id === null) throw rejected('the OAuth token belongs to no user');
    userId = info.resource_owner_id;
    scopes = info.scope;
    kind = 'gitlab-oauth';
  }
  const user = await describeUser(userId, me, ctx);
  if (user && user.state !== 'active') throw rejected(`user ${user.username} is ${user.state}`);
  const username = user?.username ?? `gitlab-user-${userId}`;
  // GitLab reports is_admin whatever the token may do: Admin Mode decides whether it acts as one.
  const instanceAdmin = user?.is_admin ?? false;
  const admin = adminPowers(instanceAdmin, scopes, ctx.adminMode);
  // Non-admin service tokens see no `external`: unknown counts as external, the safe side.
  const external = user?.external ?? true;
  const caller: GitLabCaller = { kind: 'token', token, userId, username, admin, instanceAdmin, external, scopes };
  return { identity: { subject: username, kind, source: ctx.forge }, admin, account: `user:${userId}`, caller };
}

// GET /user needs read_user, read_api or api; registry-only tokens get 403 and are described
// through the service token when there is one. null: nobody could say who the user is.
async function describeUser(
  userId: number,
  me: PromiseSettledResult<GitLabUserJson>,
  ctx: CredentialContext,
): Promise<GitLabUserJson | null> {
  if (me.status === 'fulfilled') return me.value;
  rethrowUnavailable(me.reason);
  const refusal = me.reason as ForgeRefusal;
  if (refusal.httpStatus === 401) throw refusedToken(refusal);
  if (/blocked|deactivated|banned|locked/i.test(refusal.message))
    throw rejected(`the user is not active (${refusal.message})`);
  if (ctx.serviceToken === null) return null;
  // A refusal here leaves the user unknown; it does not fail a token GitLab accepted.
  return ctx.api.user(userId, ctx.serviceToken).catch((error: unknown) => {
    rethrowUnavailable(error);
    return null;
  });
}

/** A verified job token, with its project as the serviceToken read it (null: it could not). */
export interface VerifiedJob {
  session: GitLabSession;
  project: GitLabProjectJson | null;
}

// GET /job names the job's project by id (pipeline.project_id). Its path comes from the project
// itself: the job's web_url is built from GitLab's external URL, whose host and relative root
// need not be those forgegate reaches the API at. The lookup needs the serviceToken (job tokens
// cannot read projects); without it the path stays unknown, and so do the project's registry
// settings, so the job is granted nothing there (forge.ts).
export async function verifyJobToken(token: string, ctx: CredentialContext): Promise<VerifiedJob> {
  const job = await ctx.api.job(token).catch((error: unknown) => {
    rethrowUnavailable(error);
    throw rejected('the job token is not valid, or its job has finished', (error as Error).message);
  });
  if (job.status !== 'running') throw rejected(`job ${job.id} is ${job.status}, not running`);
  const { user } = job;
  if (user.state !== undefined && user.state !== 'active') {
    throw rejected(`job ${job.id} runs as ${user.username}, who is ${user.state}`);
  }
  const projectId = job.pipeline.project_id;
  const project = ctx.serviceToken === null ? null : await ctx.api.project(projectId, { bearer: ctx.serviceToken });
  // A 404 by id is no other project's answer: the id is the job's.
  const projectPath = project?.id === projectId ? project.path_with_namespace.toLowerCase() : null;
  const { id: userId, username } = user;
  const caller: GitLabCaller = { kind: 'job', token, userId, username, jobId: job.id, projectId, projectPath };
  const identity = { subject: user.username, kind: 'gitlab-job', source: ctx.forge };
  const session: GitLabSession = { identity, admin: false, account: `user:${user.id}`, caller };
  return { session, project: projectPath === null ? null : project };
}

/** A session restored from the cache: admin powers follow today's adminMode, not the one it was verified under. */
export function revive(caller: GitLabCaller, adminMode: boolean): GitLabCaller {
  if (caller.kind !== 'token') return caller;
  const instanceAdmin = caller.instanceAdmin === true; // absent in entries written before it existed
  return { ...caller, instanceAdmin, admin: adminPowers(instanceAdmin, caller.scopes, adminMode) };
}

function rethrowUnavailable(error: unknown): void {
  if (!(error instanceof ForgeRefusal)) throw error;
}

function refusedToken(refusal: ForgeRefusal): AuthenticationFailed {
  return rejected('GitLab rejected the token', `GitLab answered ${refusal.httpStatus}: ${refusal.message}`);
}

function rejected(reason: string, detail?: string): AuthenticationFailed {
  return new AuthenticationFailed('invalid username or token', detail ? `${reason} (${detail})` : reason);
}
