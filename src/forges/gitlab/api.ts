import {
  ApplicationSettings,
  GitbeakerRequestError,
  Jobs,
  Metadata,
  PersonalAccessTokens,
  ProjectJobTokenScopes,
  ProjectMembers,
  Projects,
  Users,
} from '@gitbeaker/rest';
import { z } from 'zod';
import { Unavailable } from '../../errors.js';
import { chargeForgeCall } from '../budget.js';
import { ForgeCalls, retryAt, SpentQuotas } from '../call.js';
import { ForgeRefusal, IGNORE_CALLS, type ForgeCallObserver } from '../forge.js';
import { send, succeeded } from '../transport.js';
import { requestError, requestOnce } from './requester.js';

// The GitLab REST calls forgegate makes (docs/forges.md, GitLab), through @gitbeaker/rest.
// Each answer is either data of the expected shape, a ForgeRefusal (the status GitLab
// chose: 401, 403, 404 mean something), or Unavailable: a timeout, a 5xx or 429, a
// connection reset or a malformed body never turns into a grant. Each call is asked once
// (requester.ts). A 429 is remembered for the credential that drew it until GitLab's
// Retry-After: GitLab throttles per user (per address without a valid token), and until then
// that credential's calls answer 503 without being sent.

const tokenSelf = z.object({
  id: z.number(),
  revoked: z.boolean(),
  active: z.boolean(),
  scopes: z.array(z.string()),
  user_id: z.number(),
});
const oauthTokenInfo = z.object({ resource_owner_id: z.number().nullable(), scope: z.array(z.string()) });
const user = z.object({
  id: z.number(),
  username: z.string(),
  state: z.string(),
  is_admin: z.boolean().optional(),
  external: z.boolean().optional(),
});
const job = z.object({
  id: z.number(),
  status: z.string(),
  ref: z.string().nullable().optional(),
  user: z.object({ id: z.number(), username: z.string(), state: z.string().optional() }),
  pipeline: z.object({ id: z.number(), project_id: z.number() }),
});
const accessLevel = z.object({ access_level: z.number() }).nullable().optional();
const project = z.object({
  id: z.number(),
  path_with_namespace: z.string(),
  visibility: z.enum(['public', 'internal', 'private']),
  archived: z.boolean(),
  container_registry_access_level: z.enum(['enabled', 'private', 'disabled']),
  permissions: z.object({ project_access: accessLevel, group_access: accessLevel }).optional(),
});
const member = z.object({ access_level: z.number(), membership_state: z.string().optional() });
const allowlist = z.array(z.object({ id: z.number() }));
// Container repository protection rules (GitLab 17.9+); levels are null where a rule leaves an action open.
const protectionLevel = z.enum(['maintainer', 'owner', 'admin']).nullable().optional();
const protectionRules = z.array(
  z.object({
    repository_path_pattern: z.string(),
    minimum_access_level_for_push: protectionLevel,
    minimum_access_level_for_delete: protectionLevel,
  }),
);
const metadata = z.object({ version: z.string() });
const settings = z.object({ admin_mode: z.boolean().optional() });

export type TokenSelf = z.infer<typeof tokenSelf>;
export type GitLabUserJson = z.infer<typeof user>;
export type GitLabJobJson = z.infer<typeof job>;
export type GitLabProjectJson = z.infer<typeof project>;
export type ProtectionRulesJson = z.infer<typeof protectionRules>;

/** Who authenticates a call: a caller's token (Bearer works for personal, project, group and OAuth tokens) or nobody. */
export type Auth = { bearer: string } | null;

export class GitLabApi {
  private readonly timeoutMs: number;
  private readonly calls: ForgeCalls;
  /** Credentials GitLab answered 429 for, until its Retry-After: their calls are not sent. */
  private readonly spent: SpentQuotas;

  constructor(
    forge: string,
    private readonly host: string,
    timeoutSeconds: number,
    observer: ForgeCallObserver = IGNORE_CALLS,
  ) {
    this.timeoutMs = Math.round(timeoutSeconds * 1000);
    this.calls = new ForgeCalls('GitLab', forge, this.timeoutMs, observer);
    this.spent = new SpentQuotas(this.calls);
  }

  tokenSelf(token: string): Promise<TokenSelf> {
    return this.call('GET /personal_access_tokens/self', tokenSelf, token, () =>
      new PersonalAccessTokens(this.options({ bearer: token })).show(),
    );
  }

  currentUser(token: string): Promise<GitLabUserJson> {
    return this.call('GET /user', user, token, () => new Users(this.options({ bearer: token })).showCurrentUser());
  }

  user(id: number, serviceToken: string): Promise<GitLabUserJson> {
    return this.call('GET /users/:id', user, serviceToken, () =>
      new Users(this.options({ bearer: serviceToken })).show(id),
    );
  }

  /** GET /oauth/token/info lives outside /api/v4, where gitbeaker has no method. */
  oauthTokenInfo(token: string): Promise<z.infer<typeof oauthTokenInfo>> {
    return this.call('GET /oauth/token/info', oauthTokenInfo, token, async () => {
      const url = new URL(`${this.host.replace(/\/+$/, '')}/oauth/token/info`);
      const answer = await send(url, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (answer.status === 429) throw requestError(url, 'GET', answer);
      const text = answer.body.toString('utf8');
      if (!succeeded(answer)) throw new ForgeRefusal('GET /oauth/token/info', answer.status, text.slice(0, 200));
      return JSON.parse(text) as unknown;
    });
  }

  job(jobToken: string): Promise<GitLabJobJson> {
    return this.call('GET /job', job, jobToken, () => {
      // gitbeaker's showConnectedJob checks for a plain job-token header, not its own auth option.
      const jobs = new Jobs(this.options(null));
      jobs.headers['job-token'] = jobToken;
      return jobs.showConnectedJob();
    });
  }

  /**
   * The project with this id, or at this full path, or null when GitLab answers 404 (absent, or
   * invisible to this caller). GitLab follows the redirect routes renamed and transferred
   * projects leave: for a path, the answer may be a project that lives at another path now.
   */
  async project(idOrPath: string | number, auth: Auth): Promise<GitLabProjectJson | null> {
    try {
      return await this.call('GET /projects/:id', project, auth?.bearer ?? null, () =>
        new Projects(this.options(auth)).show(idOrPath),
      );
    } catch (error) {
      if (error instanceof ForgeRefusal && error.httpStatus === 404) return null;
      throw error;
    }
  }

  /**
   * The member's effective access level (inherited included), 0 when not a member. A member
   * whose membership is not active (`awaiting`: added past a user cap) has no access yet.
   */
  async memberLevel(projectId: number, userId: number, serviceToken: string): Promise<number> {
    try {
      const found = await this.call('GET /projects/:id/members/all/:user_id', member, serviceToken, () =>
        new ProjectMembers(this.options({ bearer: serviceToken })).show(projectId, userId, { includeInherited: true }),
      );
      return found.membership_state === undefined || found.membership_state === 'active' ? found.access_level : 0;
    } catch (error) {
      if (error instanceof ForgeRefusal && error.httpStatus === 404) return 0;
      throw error;
    }
  }

  /** The allowlist's project ids; [] when the service token may not read it (it needs Maintainer). */
  async inboundAllowlist(projectId: number, serviceToken: string): Promise<number[]> {
    const projects = await this.call('GET /projects/:id/job_token_scope/allowlist', allowlist, serviceToken, () =>
      new ProjectJobTokenScopes(this.options({ bearer: serviceToken })).showInboundAllowList(projectId),
    ).catch((error: unknown) => {
      if (error instanceof ForgeRefusal && (error.httpStatus === 403 || error.httpStatus === 404)) return [];
      throw error;
    });
    return projects.map((p) => p.id);
  }

  /**
   * GET /projects/:id/registry/protection/repository/rules, every page (Maintainer+ may list).
   * Refusals (403, 404) come back as ForgeRefusal: what they mean is protection.ts's to say.
   */
  async protectionRules(
    projectId: number | string,
    auth: Auth,
    maxPages: number,
  ): Promise<{ rules: ProtectionRulesJson; complete: boolean }> {
    const rules: ProtectionRulesJson = [];
    const endpoint = 'GET /projects/:id/registry/protection/repository/rules';
    const path = `projects/${encodeURIComponent(String(projectId))}/registry/protection/repository/rules`;
    for (let page = 1; page <= maxPages; page++) {
      // gitbeaker has no method for this API: its requester, with the client's auth and timeouts.
      const requester = new Projects(this.options(auth)).requester;
      const shape = z.object({ body: protectionRules, next: z.string() });
      const { body, next } = await this.call(endpoint, shape, auth?.bearer ?? null, async () => {
        const response = await requester.get(path, { searchParams: { per_page: 100, page } });
        return { body: response.body, next: response.headers['x-next-page'] ?? '' };
      });
      rules.push(...body);
      if (next === '') return { rules, complete: true };
    }
    return { rules, complete: false };
  }

  /** GET /metadata: the instance's version (any authenticated token). */
  async version(token: string): Promise<string> {
    const show = () => new Metadata(this.options({ bearer: token })).show();
    return (await this.call('GET /metadata', metadata, token, show)).version;
  }

  /** The instance's settings: readable only with admin powers (`forgegate check` compares Admin Mode). */
  applicationSettings(token: string): Promise<z.infer<typeof settings>> {
    const request = () => new ApplicationSettings(this.options({ bearer: token })).show();
    return this.call('GET /application/settings', settings, token, request);
  }

  // A gitbeaker client per call: the token differs by call. Each asks once (`requestOnce`).
  private options(auth: Auth) {
    const base = {
      host: this.host,
      requesterFn: requestOnce,
      queryTimeout: this.timeoutMs,
    };
    return auth === null ? base : { ...base, oauthToken: auth.bearer };
  }

  /** `credential`: the token the call authenticates with (null: none), whose quota it draws on. */
  private async call<T>(
    endpoint: string,
    shape: z.ZodType<T>,
    credential: string | null,
    request: () => Promise<unknown>,
  ): Promise<T> {
    const quotaKey = SpentQuotas.keyOf(credential);
    this.spent.check(quotaKey, endpoint);
    await chargeForgeCall(); // a request without credentials may be out of forge calls: then none is made
    let body: unknown;
    const done = this.calls.start(endpoint);
    try {
      body = await this.calls.within(endpoint, request());
      done('200');
    } catch (error) {
      const classified = this.classify(endpoint, quotaKey, error);
      const timedOut = /within/.test(classified.message);
      done(classified instanceof ForgeRefusal ? String(classified.httpStatus) : timedOut ? 'timeout' : 'error');
      throw classified;
    }
    return this.calls.parse(endpoint, shape, body);
  }

  // 400, 401, 403 and 404 are answers; everything else means GitLab could not answer now.
  private classify(endpoint: string, quotaKey: string, error: unknown): Error {
    if (error instanceof Unavailable) return error; // the deadline's
    if (error instanceof ForgeRefusal) return this.calls.byStatus(endpoint, error.httpStatus, error.message);
    if (error instanceof GitbeakerRequestError && error.cause?.response) {
      const { status, headers } = error.cause.response;
      if (status === 429) return this.spent.limitedNow(quotaKey, endpoint, 'HTTP 429', resetOf(headers));
      return this.calls.byStatus(endpoint, status, describe(error), ANSWERS);
    }
    const name = (error as Error).name;
    if (name === 'GitbeakerTimeoutError' || name === 'TimeoutError' || name === 'AbortError') {
      return this.calls.noAnswerInTime(endpoint);
    }
    const code = (error as { cause?: { code?: string } }).cause?.code;
    const why = code ?? (name === 'SyntaxError' ? 'malformed JSON' : (error as Error).message.slice(0, 100));
    return this.calls.unavailable(endpoint, why);
  }
}

/** How long a 429 that says nothing of its reset holds (a proxy's, or an older GitLab's). */
const UNSAID_WAIT_MS = 10_000;

/**
 * When a throttled credential may ask again (epoch ms): Retry-After (seconds, or an HTTP date),
 * else GitLab's RateLimit-Reset (Unix seconds), else UNSAID_WAIT_MS from now.
 */
export function resetOf(headers: Headers, now = Date.now()): number {
  const at = retryAt(headers.get('retry-after') ?? undefined, now);
  if (at !== undefined) return at;
  const reset = Number(headers.get('ratelimit-reset') ?? Number.NaN);
  if (Number.isFinite(reset) && reset * 1000 > now) return reset * 1000;
  return now + UNSAID_WAIT_MS;
}

/** The statuses that are GitLab's deliberate answer. */
const ANSWERS: ReadonlySet<number> = new Set([400, 401, 403, 404]);

// gitbeaker puts GitLab's `error` or `message` into the error message; keep it short.
function describe(error: GitbeakerRequestError): string {
  const description = error.cause?.description ?? error.message;
  return String(description).slice(0, 200);
}
