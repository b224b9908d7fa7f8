import { Octokit } from '@octokit/rest';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { Unavailable } from '../../errors.js';
import { chargeForgeCall } from '../budget.js';
import { ForgeCalls, retryAt, SpentQuotas } from '../call.js';
import { ForgeRefusal, IGNORE_CALLS, type ForgeCallObserver } from '../forge.js';

// The GitHub REST calls forgegate makes (docs/forges.md, GitHub), through @octokit/rest.
// Octokit neither times out nor checks bodies by itself: every call carries its own
// deadline, and every body is checked for the fields read. The rate limit GitHub reports
// is honoured: once a token's quota is spent, calls for it answer 503 until the reset
// instead of hammering GitHub. Answers are revalidated with their ETag (If-None-Match):
// a 304 costs no rate limit, so refreshing a cached decision is free.

const user = z.object({
  login: z.string(),
  id: z.number(),
  type: z.string().optional(),
  site_admin: z.boolean().optional(),
});
const permissions = z.object({
  admin: z.boolean(),
  maintain: z.boolean().optional(),
  push: z.boolean(),
  triage: z.boolean().optional(),
  pull: z.boolean(),
});
const repository = z.object({
  id: z.number(),
  full_name: z.string(),
  owner: z.object({ id: z.number() }),
  private: z.boolean(),
  visibility: z.enum(['public', 'private', 'internal']).optional(),
  archived: z.boolean(),
  permissions: permissions.optional(),
});
const installationRepositories = z.object({ total_count: z.number(), repositories: z.array(repository) });
const appAccess = z.enum(['read', 'write', 'admin']);
const userInstallations = z.object({
  total_count: z.number(),
  installations: z.array(
    z.object({
      account: z.object({ id: z.number() }).nullable(),
      // Unknown permission names and levels are kept out: only these two are read.
      permissions: z.object({
        contents: appAccess.optional().catch(undefined),
        packages: appAccess.optional().catch(undefined),
      }),
    }),
  ),
});

export type GitHubUserJson = z.infer<typeof user>;
export type GitHubRepoJson = z.infer<typeof repository>;

/** A GitHub App user token's App installations: the account, and what the App may do there. */
export interface AppInstallations {
  /** Per account (user or organization id), the App's contents and packages permissions there. */
  accounts: { accountId: number; contents?: 'read' | 'write' | 'admin'; packages?: 'read' | 'write' | 'admin' }[];
  /** Whether every installation was listed (at most 100 are read). */
  complete: boolean;
}

const SILENT = { debug() {}, info() {}, warn() {}, error() {} };
/** Far beyond any decision's lifetime: a validator older than this rarely still matches. */
const VALIDATOR_TTL_MS = 30 * 60_000;

/** The remembered answers' bound, in characters of their JSON (a repository list can hold 100 repositories). */
const VALIDATORS_MAX_SIZE = 8 * 1024 * 1024;

function validatedSize(validated: Validated, key: string): number {
  return key.length + validated.etag.length + JSON.stringify(validated.data).length + 256; // headers kept: a few hundred characters
}

/** As Octokit's own token auth sends it: a JWT (three dot-separated parts) as bearer, any other token as token. */
function authorization(token: string): string {
  return token.split('.').length === 3 ? `bearer ${token}` : `token ${token}`;
}

interface Answer {
  status: number;
  data: unknown;
  headers: Record<string, unknown>;
}
type RequestOptions = {
  headers: Record<string, string>;
  request: { signal: AbortSignal };
};
interface Validated {
  etag: string;
  data: unknown;
  headers: Record<string, unknown>;
}

export class GitHubApi {
  private readonly timeoutMs: number;
  /** sha256(token) + resource -> the last answer and its ETag, to revalidate with; bounded by the answers' size. */
  private readonly validators = new LRUCache<string, Validated>({
    maxSize: VALIDATORS_MAX_SIZE,
    sizeCalculation: validatedSize,
    ttl: VALIDATOR_TTL_MS,
  });
  /**
   * One client for every call to this forge: the token goes in each request's own
   * Authorization header. (A client per call, as before, was garbage of every cold call.)
   * It has no `auth` option, so Octokit adds no authorization of its own.
   */
  private readonly octokit: Octokit;

  private readonly calls: ForgeCalls;
  /** Tokens whose quota is spent, until its reset: their calls are not sent. */
  private readonly spent: SpentQuotas;

  constructor(
    private readonly forge: string,
    private readonly baseUrl: string,
    timeoutSeconds: number,
    private readonly observer: ForgeCallObserver = IGNORE_CALLS,
  ) {
    this.timeoutMs = Math.round(timeoutSeconds * 1000);
    this.octokit = new Octokit({ baseUrl: this.baseUrl, log: SILENT });
    this.calls = new ForgeCalls('GitHub', forge, this.timeoutMs, observer);
    this.spent = new SpentQuotas(this.calls);
  }

  /** GET /user and the classic scopes it reports; null scopes: no X-OAuth-Scopes (fine-grained). */
  async authenticatedUser(token: string): Promise<{ user: GitHubUserJson; scopes: string[] | null }> {
    const response = await this.call('GET /user', token, '/user', (octokit, request) =>
      octokit.rest.users.getAuthenticated(request),
    );
    const header = response.headers['x-oauth-scopes'];
    const scopes =
      header === undefined
        ? null
        : String(header)
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);
    return { user: this.calls.parse('GET /user', user, response.data), scopes };
  }

  /**
   * The repository at owner/repo as `token` (or nobody) sees it; null when GitHub answers 404,
   * or answers for another name: octokit follows the 301 a renamed or transferred repository's
   * old name leaves, and that old name may be re-created by someone else tomorrow.
   */
  async repository(owner: string, repo: string, token: string | null): Promise<GitHubRepoJson | null> {
    try {
      const response = await this.call(
        'GET /repos/{owner}/{repo}',
        token,
        `/repos/${owner}/${repo}`,
        (octokit, request) => octokit.rest.repos.get({ owner, repo, ...request }),
      );
      const found = this.calls.parse('GET /repos/{owner}/{repo}', repository, response.data);
      return found.full_name.toLowerCase() === `${owner}/${repo}`.toLowerCase() ? found : null;
    } catch (error) {
      if (error instanceof ForgeRefusal && error.httpStatus === 404) return null;
      throw error;
    }
  }

  /** GET /user/installations: a GitHub App user token's installations and their permissions. */
  async userInstallations(token: string): Promise<AppInstallations> {
    const response = await this.call('GET /user/installations', token, '/user/installations', (octokit, request) =>
      octokit.rest.apps.listInstallationsForAuthenticatedUser({ per_page: 100, ...request }),
    );
    const listed = this.calls.parse('GET /user/installations', userInstallations, response.data);
    const { total_count, installations } = listed;
    const accounts = installations.flatMap(({ account, permissions: { contents, packages } }) => {
      if (account === null) return [];
      return [{ accountId: account.id, ...(contents ? { contents } : {}), ...(packages ? { packages } : {}) }];
    });
    return { accounts, complete: installations.length >= total_count };
  }

  async installationRepositories(token: string): Promise<GitHubRepoJson[]> {
    const response = await this.call(
      'GET /installation/repositories',
      token,
      '/installation/repositories',
      (octokit, request) => octokit.rest.apps.listReposAccessibleToInstallation({ per_page: 100, ...request }),
    );
    return this.calls.parse('GET /installation/repositories', installationRepositories, response.data).repositories;
  }

  private async call(
    endpoint: string,
    token: string | null,
    resource: string,
    request: (octokit: Octokit, options: RequestOptions) => Promise<Answer>,
  ): Promise<Answer> {
    const quotaKey = SpentQuotas.keyOf(token);
    this.spent.check(quotaKey, endpoint);
    await chargeForgeCall(); // a request without credentials may be out of forge calls: then none is made
    const validatorKey = `${quotaKey}:${resource}`;
    const known = this.validators.get(validatorKey);
    const done = this.calls.start(endpoint);
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      const asked = request(this.octokit, {
        headers: {
          ...(token === null ? {} : { authorization: authorization(token) }),
          ...(known ? { 'if-none-match': known.etag } : {}),
        },
        request: { signal },
      });
      const response = await this.calls.within(endpoint, asked);
      // Aborted while reading the body, octokit answers with the status and an empty body.
      if (signal.aborted) throw this.calls.noAnswerInTime(endpoint);
      done(String(response.status));
      this.noteQuota(quotaKey, response.headers);
      // Only a body that parsed as JSON is worth revalidating: a 304 would replay it.
      const etag = response.headers.etag;
      if (typeof etag === 'string' && typeof response.data === 'object' && response.data !== null) {
        this.validators.set(validatorKey, { etag, data: response.data, headers: response.headers });
      }
      return response;
    } catch (error) {
      const status =
        (error as { status?: number; response?: unknown }).response === undefined
          ? 'error'
          : String((error as { status: number }).status);
      done(status);
      // Octokit reports 304 Not Modified as an error: it means the answer we hold is current.
      if (status === '304' && known)
        return {
          status: 304,
          data: known.data,
          headers: { ...known.headers, ...(error as { response: Answer }).response.headers },
        };
      throw this.classify(endpoint, quotaKey, error);
    }
  }

  private classify(endpoint: string, quotaKey: string, error: unknown): Error {
    if (error instanceof Unavailable) return error; // no answer in time
    const status = (error as { status?: number }).status;
    const response = (error as { response?: { headers: Record<string, unknown> } }).response;
    if (typeof status !== 'number' || response === undefined) {
      // No answer at all: a timeout, a reset, a refused connection (octokit reports status 500).
      const cause = (error as { cause?: { name?: string; code?: string } }).cause;
      const why =
        cause?.name === 'TimeoutError' || (error as Error).name === 'AbortError'
          ? `no answer within ${this.timeoutMs} ms`
          : (cause?.code ?? (error as Error).message.slice(0, 100));
      return this.calls.unavailable(endpoint, why);
    }
    const resetAt = this.noteQuota(quotaKey, response.headers);
    if (status === 403 || status === 429) {
      if (resetAt !== undefined) return this.calls.rateLimited(endpoint, resetAt);
      // A secondary rate limit (too many requests at once) is a 403 or 429 with retry-after while
      // quota is left: no answer about the resource, and no call with this token until then.
      const secondary = retryAt(String(response.headers['retry-after'] ?? ''));
      if (secondary !== undefined)
        return this.spent.limitedNow(quotaKey, endpoint, `secondary rate limit (HTTP ${status})`, secondary);
    }
    return this.calls.byStatus(endpoint, status, (error as Error).message.split(' - ')[0]!.slice(0, 200));
  }

  /** Remembers a spent quota; returns its reset time when it is spent. */
  private noteQuota(quotaKey: string, headers: Record<string, unknown>): number | undefined {
    const remaining = Number(headers['x-ratelimit-remaining']);
    if (Number.isFinite(remaining)) this.observer.rateLimitRemaining(this.forge, remaining);
    if (headers['x-ratelimit-remaining'] !== '0' && headers['x-ratelimit-remaining'] !== 0) return undefined;
    const resetAt = Number(headers['x-ratelimit-reset']) * 1000;
    if (!(resetAt > Date.now())) return undefined;
    return this.spent.spend(quotaKey, resetAt);
  }
}
