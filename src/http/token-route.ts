import type { Context } from 'koa';
import type { Authority, TokenRequest, TokenResult } from '../authority.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { formatScope } from '../policy/scope.js';
import { grantedActions } from '../policy/grant.js';
import { errorStyle } from './errors.js';
import { readGet, readPost } from './token-request.js';

// The token endpoint. Success is always HTTP 200 with both `token` and `access_token`
// (POST clients read only the latter), an integer `expires_in` and an RFC 3339 `issued_at`.

export function tokenHandler(authority: Authority, audit: Logger, metrics: Metrics) {
  return async (ctx: Context): Promise<void> => {
    const post = ctx.method === 'POST';
    errorStyle(ctx, post ? 'oauth' : 'registry');
    const started = process.hrtime.bigint();
    let request: TokenRequest | undefined;
    let result: TokenResult | undefined;
    try {
      request = post ? readPost(ctx, (ctx.request as { rawBody?: string }).rawBody ?? '') : readGet(ctx);
      result = await authority.issue(request);
    } catch (error) {
      observe(audit, metrics, ctx, started, request, undefined, error);
      throw error;
    }
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    ctx.body = responseBody(result);
    observe(audit, metrics, ctx, started, request, result, undefined);
  };
}

function responseBody(result: TokenResult): Record<string, unknown> {
  const { token, issuedAt, expiresIn } = result.token;
  const body: Record<string, unknown> = {
    token,
    access_token: token,
    expires_in: expiresIn,
    issued_at: issuedAt.toISOString().replace('.000Z', 'Z'),
  };
  if (result.refreshToken !== undefined) body.refresh_token = result.refreshToken;
  return body;
}

// The audit line of interface.md and the metrics, from the same facts: who asked for what,
// what they got and why. Fields are chosen one by one so that no secret can slip in.
function observe(audit: Logger, metrics: Metrics, ctx: Context, started: bigint, request: TokenRequest | undefined, result: TokenResult | undefined, error: unknown): void {
  const latencyMs = Number(process.hrtime.bigint() - started) / 1e6;
  const authentication = result?.authentication;
  const line: Record<string, unknown> = {
    reqId: ctx.state.requestId,
    clientIp: ctx.ip,
    userAgent: ctx.get('User-Agent').slice(0, 200),
    method: ctx.method,
    subject: authentication?.identity.subject ?? (request?.credential.kind === 'password' ? loggableName(request.credential.username) : undefined),
    credential: authentication?.via ?? request?.credential.kind,
    identityKind: authentication?.identity.kind,
    source: authentication?.identity.source,
    requested: request?.scopes.map(formatScope) ?? [],
    granted: result?.decisions.map((d) => formatScope({ ...d.scope, actions: grantedActions(d) })).filter((s) => !s.endsWith(':')) ?? [],
    denied: result?.decisions.flatMap((d) => d.verdicts.filter((v) => !v.granted).map((v) => `${d.scope.name}: ${v.reason}`)) ?? [],
    offline: request?.offline ?? false,
    refreshIssued: result?.refreshToken !== undefined,
    cache: result === undefined ? undefined : authentication?.via === 'password' && authentication.identity.kind === 'static' ? (authentication.cached ? 'hit' : 'miss') : result.cache,
    outcome: error === undefined ? 'granted' : outcomeOf(error),
    latencyMs: Math.round(latencyMs * 1000) / 1000,
  };
  if (error !== undefined) {
    line.error = (error as Error).message;
    const reason = (error as { reason?: string }).reason;
    if (reason !== undefined && reason !== line.error) line.reason = withoutName(reason, request);
  }
  audit.info(line, 'token request');
  const source = authentication?.identity.source ?? 'none';
  metrics.tokenRequest(line.outcome as string, String(line.credential ?? 'none'), source, latencyMs / 1000, result?.decisions ?? []);
}

// People paste tokens into the username field (`docker login -u $TOKEN`). forgegate cannot
// know a name is a secret, but a name shaped like one (a GitLab or GitHub token prefix, a
// JWT/JWE, a long run of base64) is not written to the audit log, nor in a reason quoting it.
const SECRET_SHAPED = /^(?:(?:glpat|gloas|glcbt|glptt|gldt|glft|glsoat|glrt|glimt|glagent|glwt|glffct)-|gh[pousr]_|github_pat_)|^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.|^[A-Za-z0-9+/_=-]{40,}$/;
const REDACTED_NAME = '[redacted: shaped like a token]';

function loggableName(username: string): string {
  return SECRET_SHAPED.test(username) ? REDACTED_NAME : username;
}

function withoutName(reason: string, request: TokenRequest | undefined): string {
  if (request?.credential.kind !== 'password') return reason;
  const { username } = request.credential;
  return username !== '' && loggableName(username) !== username ? reason.split(username).join(REDACTED_NAME) : reason;
}

function outcomeOf(error: unknown): string {
  switch ((error as Error).name) {
    case 'AuthenticationFailed':
      return 'unauthorized';
    case 'Unavailable':
      return 'unavailable';
    case 'BadRequest':
    case 'ScopeError':
      return 'bad_request';
    default:
      return 'error';
  }
}
