import type { Context } from 'koa';
import type { Authority, TokenRequest, TokenResult } from '../authority.js';
import { forgeTokenShaped } from '../forges/token-prefixes.js';
import { writeInfo, type Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { formatScope } from '../policy/scope.js';
import { grantedActions } from '../policy/grant.js';
import type { Decision } from '../policy/types.js';
import { afterAnswers } from './after-answers.js';
import { AsciiJson, respond, type Answer } from './answer.js';
import { askerIn, type Asker } from './asker.js';
import { errorStyle, outcomeOf } from './errors.js';
import type { BruteForceGuard } from './guard/brute-force.js';
import { readGet, readPost } from './token-request.js';

// The token endpoint. Success is always HTTP 200 with both `token` and `access_token`
// (POST clients read only the latter), an integer `expires_in` and an RFC 3339 `issued_at`.

/** Answers one token request, or throws its failure after writing its audit line. */
export type TokenEndpoint = (asker: Asker, read: () => TokenRequest) => Promise<Answer>;

const NOT_CACHED = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

export function tokenEndpoint(
  authority: Authority,
  audit: Logger,
  metrics: Metrics,
  guard?: BruteForceGuard,
): TokenEndpoint {
  return async (asker, read) => {
    const started = process.hrtime.bigint();
    let request: TokenRequest | undefined;
    let result: TokenResult | undefined;
    try {
      request = read();
      // Banned callers are refused here, before the authority (and any forge) sees them.
      const admission = guard ? await guard.admit(asker.ip, request.credential) : undefined;
      try {
        result = await authority.issue({ ...request, anonymousBudget: guard?.forgeBudget(asker.ip) });
      } catch (error) {
        if (admission) await guard!.settle(admission, error);
        throw error;
      }
      if (admission) await guard!.settle(admission, undefined);
    } catch (error) {
      observeLater(audit, metrics, asker, elapsedMs(started), request, undefined, error);
      throw error;
    }
    observeLater(audit, metrics, asker, elapsedMs(started), request, result, undefined);
    return { status: 200, headers: NOT_CACHED, body: responseBody(result) };
  };
}

/**
 * The token endpoint as a Koa route: the POST form, and the GETs the token lane leaves to Koa
 * (HEAD, a trailing slash, another case); its failures go to errorHandler.
 */
export function tokenRoute(endpoint: TokenEndpoint) {
  return async (ctx: Context): Promise<void> => {
    const post = ctx.method === 'POST';
    errorStyle(ctx, post ? 'oauth' : 'registry');
    const read = post
      ? () => readPost(ctx, (ctx.request as { rawBody?: string }).rawBody ?? '')
      : () => readGet(ctx.querystring, ctx.get('Authorization') || undefined);
    respond(ctx, await endpoint(askerIn(ctx), read));
  };
}

/**
 * The answer's JSON, written out: every value is ASCII that JSON needs no escape for (the token
 * and the refresh token are base64url segments and dots, the time RFC 3339, the lifetime an
 * integer). JSON.stringify of the same object copied the token for each of its two fields and
 * grew its output in steps, about 5 KB of garbage per request, a tenth of the warm path's.
 */
export function responseBody(result: Pick<TokenResult, 'token' | 'refreshToken'>): AsciiJson {
  const { token, issuedAt, expiresIn } = result.token;
  const issued = issuedText(issuedAt);
  const refresh = result.refreshToken === undefined ? '' : `,"refresh_token":"${result.refreshToken}"`;
  return new AsciiJson(
    `{"token":"${token}","access_token":"${token}","expires_in":${expiresIn},"issued_at":"${issued}"${refresh}}`,
  );
}

/** `issued_at` in RFC 3339, whole seconds; made once per second, as every token of that second shares it. */
function issuedText(issuedAt: Date): string {
  const at = issuedAt.getTime();
  if (at !== lastIssued.at) lastIssued = { at, text: issuedAt.toISOString().replace('.000Z', 'Z') };
  return lastIssued.text;
}
let lastIssued = { at: Number.NaN, text: '' };

/** Milliseconds since `started` (process.hrtime.bigint()). */
export function elapsedMs(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/**
 * `observe`, after the answers (after-answers.ts): the answer does not wait for its audit line,
 * and every line takes the same queue, so the lines keep the order of their requests.
 */
export function observeLater(...facts: Parameters<typeof observe>): void {
  afterAnswers(() => observe(...facts));
}

/** What an answer decided, signed or not (POST /explain decides without signing). */
export type Observed = Pick<TokenResult, 'authentication' | 'decisions' | 'cache' | 'refreshToken'>;

// The audit line (README "Logs") and the metrics, from the same facts: who asked for what,
// what they got and why. Fields are chosen one by one so that no secret can slip in.
// POST /explain writes the same line, marked `explain: true`, and leaves the token metrics alone.
function observe(
  audit: Logger,
  metrics: Metrics,
  asker: Asker,
  latencyMs: number,
  request: TokenRequest | undefined,
  result: Observed | undefined,
  error: unknown,
  endpoint: 'token' | 'explain' = 'token',
): void {
  const authentication = result?.authentication;
  const verdicts = auditVerdicts(result?.decisions ?? []);
  const line: Record<string, unknown> = {
    reqId: asker.requestId,
    clientIp: asker.ip,
    userAgent: asker.userAgent,
    method: asker.method,
    subject:
      authentication?.identity.subject ??
      (request?.credential.kind === 'password' ? loggableName(request.credential.username) : undefined),
    credential: authentication?.via ?? request?.credential.kind,
    identityKind: authentication?.identity.kind,
    source: authentication?.identity.source,
    oidc: oidcFields(authentication),
    requested: request?.scopes.map(formatScope) ?? [],
    granted: verdicts.granted,
    denied: verdicts.denied,
    offline: request?.offline ?? false,
    refreshIssued: result?.refreshToken !== undefined,
    cache:
      result === undefined
        ? undefined
        : authentication?.via === 'password' && authentication.identity.kind === 'static'
          ? authentication.cached
            ? 'hit'
            : 'miss'
          : result.cache,
    outcome: error === undefined ? verdicts.outcome : outcomeOf(error),
    latencyMs: Math.round(latencyMs * 1000) / 1000,
  };
  if (error !== undefined) {
    line.error = (error as Error).message;
    const reason = (error as { reason?: string }).reason;
    if (reason !== undefined && reason !== line.error) line.reason = withoutName(reason, request);
  }
  if (endpoint === 'explain') line.explain = true;
  writeInfo(audit, line, 'token request');
  if (endpoint === 'explain') return;
  const source = authentication?.identity.source ?? 'none';
  // The metric's outcome stays "granted" for every answered request (a token was issued);
  // forgegate_verdicts_total counts the actions.
  const outcome = error === undefined ? 'granted' : (line.outcome as string);
  metrics.tokenRequest(outcome, String(line.credential ?? 'none'), source, latencyMs / 1000, result?.decisions ?? []);
}

/** Who the CI job was, by its verified ID token: issuer, repository, ref and workflow. */
function oidcFields(authentication: TokenResult['authentication'] | undefined): Record<string, unknown> | undefined {
  if (authentication?.caller.kind !== 'oidc') return undefined;
  const { caller, issuer, rule } = authentication.caller.session;
  const { project: repository, projectId: repositoryId, ref, workflow } = caller;
  return { issuer: issuer.config.issuer, repository, repositoryId, ref, workflow, rule: rule?.label ?? null };
}

// People paste tokens into the username field (`docker login -u $TOKEN`). forgegate cannot
// know a name is a secret, but a name shaped like one (a GitLab or GitHub token prefix, a
// JWT/JWE, a long run of base64) is not written to the audit log, nor in a reason quoting it.
const SECRET_SHAPED = /^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.|^[A-Za-z0-9+/_=-]{40,}$/;
const REDACTED_NAME = '[redacted: shaped like a token]';

function loggableName(username: string): string {
  return forgeTokenShaped(username) || SECRET_SHAPED.test(username) ? REDACTED_NAME : username;
}

function withoutName(reason: string, request: TokenRequest | undefined): string {
  if (request?.credential.kind !== 'password') return reason;
  const { username } = request.credential;
  return username !== '' && loggableName(username) !== username ? reason.split(username).join(REDACTED_NAME) : reason;
}

/** The audit line's account of the verdicts, in one loop over the decisions: every request writes one. */
interface AuditVerdicts {
  /** Each scope with the actions granted on it (in KNOWN_ACTIONS order); none granted: left out. */
  granted: string[];
  /** "name: reason" of every action refused. */
  denied: string[];
  /** An answered request (HTTP 200): how much of what it asked for was granted. */
  outcome: 'login' | 'granted' | 'partial' | 'denied';
}

function auditVerdicts(decisions: readonly Decision[]): AuditVerdicts {
  const granted: string[] = [];
  const denied: string[] = [];
  let total = 0;
  let grantedCount = 0;
  for (const decision of decisions) {
    for (const verdict of decision.verdicts) {
      total++;
      if (verdict.granted) grantedCount++;
      else denied.push(`${decision.scope.name}: ${verdict.reason}`);
    }
    const actions = grantedActions(decision);
    if (actions.length > 0) granted.push(formatScope({ ...decision.scope, actions }));
  }
  const outcome =
    total === 0 ? 'login' : grantedCount === total ? 'granted' : grantedCount === 0 ? 'denied' : 'partial';
  return { granted, denied, outcome };
}
