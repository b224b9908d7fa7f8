import { AuthenticationFailed, Unavailable } from '../../errors.js';
import { ForgeRefusal, type ForgeSession } from '../forge.js';
import type { GitLabApi, GitLabUserJson } from './api.js';

// Verifying what a `docker login` against a GitLab forge may carry (docs/forges.md, GitLab):
// personal, project, group and service-account tokens and OAuth tokens (any username), and
// CI job tokens (username gitlab-ci-token).

export const JOB_TOKEN_USER = 'gitlab-ci-token';

export type GitLabCaller =
  | {
      kind: 'token';
      token: string;
      userId: number;
      username: string;
      admin: boolean;
      /** Unknown (no read_user scope, no service token) counts as external: the safe side. */
      external: boolean;
      scopes: string[];
    }
  | { kind: 'job'; token: string; userId: number; username: string; jobId: number; projectId: number; projectPath: string };

export interface GitLabSession extends ForgeSession {
  caller: GitLabCaller;
}

export interface CredentialContext {
  forge: string;
  url: string;
  api: GitLabApi;
  serviceToken: string | null;
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
  // Non-admin service tokens see no `external`: unknown counts as external, the safe side.
  const caller: GitLabCaller = { kind: 'token', token, userId, username, admin: user?.is_admin ?? false, external: user?.external ?? true, scopes };
  return { identity: { subject: username, kind, source: ctx.forge }, admin: caller.admin, account: `user:${userId}`, caller };
}

// GET /user needs read_user, read_api or api; registry-only tokens get 403 and are described
// through the service token when there is one. null: nobody could say who the user is.
async function describeUser(userId: number, me: PromiseSettledResult<GitLabUserJson>, ctx: CredentialContext): Promise<GitLabUserJson | null> {
  if (me.status === 'fulfilled') return me.value;
  rethrowUnavailable(me.reason);
  const refusal = me.reason as ForgeRefusal;
  if (refusal.httpStatus === 401) throw refusedToken(refusal);
  if (/blocked|deactivated|banned|locked/i.test(refusal.message)) throw rejected(`the user is not active (${refusal.message})`);
  if (ctx.serviceToken === null) return null;
  // A refusal here leaves the user unknown; it does not fail a token GitLab accepted.
  return ctx.api.user(userId, ctx.serviceToken).catch((error: unknown) => {
    rethrowUnavailable(error);
    return null;
  });
}

export async function verifyJobToken(token: string, ctx: CredentialContext): Promise<GitLabSession> {
  const job = await ctx.api.job(token).catch((error: unknown) => {
    rethrowUnavailable(error);
    throw rejected('the job token is not valid, or its job has finished', (error as Error).message);
  });
  if (job.status !== 'running') throw rejected(`job ${job.id} is ${job.status}, not running`);
  const projectPath = projectOfJob(job.web_url, ctx.url);
  if (projectPath === null) throw new Unavailable(`GitLab "${ctx.forge}" gave job ${job.id} a web_url outside ${ctx.url}`, ctx.forge);
  const caller: GitLabCaller = { kind: 'job', token, userId: job.user.id, username: job.user.username, jobId: job.id, projectId: job.pipeline.project_id, projectPath };
  return { identity: { subject: job.user.username, kind: 'gitlab-job', source: ctx.forge }, admin: false, account: `user:${job.user.id}`, caller };
}

/** `https://gitlab.example.com/group/proj/-/jobs/42` -> `group/proj` (the instance may live under a path). */
export function projectOfJob(webUrl: string, instanceUrl: string): string | null {
  const base = instanceUrl.replace(/\/+$/, '') + '/';
  if (!webUrl.startsWith(base)) return null;
  const match = /^(.+?)\/-\/jobs\/\d+$/.exec(webUrl.slice(base.length));
  return match ? match[1]!.toLowerCase() : null;
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
