import type { Context, Next } from 'koa';
import { AuthenticationFailed, BadRequest, Unavailable } from '../errors.js';
import { ForgeCallsSpent } from '../forges/budget.js';
import type { Logger } from '../log.js';
import { respond, type Answer } from './answer.js';
import { askerIn, type Asker } from './asker.js';
import { ScopeError } from '../policy/scope.js';
import { TooManyAttempts } from './guard/brute-force.js';

// Every failure leaves as JSON in the format its client reads (docs/protocol.md section 4):
// the registry style {"errors":[...]} on GET, RFC 6749 {"error": ...} on the POST form.

export type ErrorStyle = 'registry' | 'oauth';

interface WireError {
  status: number;
  code: string; // registry error code
  oauth: string; // RFC 6749 error
  message: string;
}

/** Marks the error format of the route handling the request. */
export function errorStyle(ctx: Context, style: ErrorStyle): void {
  ctx.state.errorStyle = style;
}

export function errorHandler(logger: Logger, basicRealm: string) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      if (ctx.body === undefined) unanswered(ctx);
    } catch (error) {
      const style: ErrorStyle = ctx.state.errorStyle ?? 'registry';
      respond(ctx, answerFailure(error, style, { logger, basicRealm, asker: askerIn(ctx) }));
    }
  };
}

/** Where a failure is answered: the log for unexpected errors, the Basic challenge's realm, who asked. */
export interface FailureContext {
  logger: Logger;
  basicRealm: string;
  asker: Asker;
}

/** The answer to a request that failed with `error`, in its route's error style; unexpected errors are logged. */
export function answerFailure(error: unknown, style: ErrorStyle, context: FailureContext): Answer {
  const wire = toWire(error);
  if (wire.status >= 500 && !(error instanceof Unavailable))
    context.logger.error({ err: error, reqId: context.asker.requestId }, 'request failed');
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (wire.status === 401) headers['WWW-Authenticate'] = `Basic realm=${quotedString(context.basicRealm)}`;
  const retryAfter = retryAfterOf(error);
  if (retryAfter !== undefined) headers['Retry-After'] = String(retryAfter);
  const body =
    style === 'oauth'
      ? { error: wire.oauth, error_description: wire.message }
      : { errors: [{ code: wire.code, message: wire.message }] };
  return { status: wire.status, headers, body };
}

/**
 * The realm (the configured service name, any text) as a header's quoted-string: quotes and
 * backslashes escaped, anything but printable ASCII as "?". Node refuses to write a header
 * holding a character beyond Latin-1, and a control character would end the header.
 */
function quotedString(text: string): string {
  return `"${text.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '\\$&')}"`;
}

// The router leaves unknown paths at 404 and wrong methods at 405 (501 for methods it has
// never heard of) without a body; all are the client's mistake and get JSON.
function unanswered(ctx: Context): void {
  if (ctx.status === 404) throw new NotFound('no such endpoint');
  if (ctx.status === 405 || ctx.status === 501)
    throw new MethodNotAllowed(`method ${ctx.method.slice(0, 20)} is not allowed here`);
}

// The HTTP-level refusals of forgegate's own routes; the failures of deciding are in ../errors.ts.

export class NotFound extends Error {
  override name = 'NotFound';
}

export class MethodNotAllowed extends Error {
  override name = 'MethodNotAllowed';
}

export class BodyTooLarge extends Error {
  override name = 'BodyTooLarge';
}

export class UnsupportedMediaType extends Error {
  override name = 'UnsupportedMediaType';
}

/** What the audit line and the metrics call a failed request. */
export type FailureOutcome = 'unauthorized' | 'unavailable' | 'banned' | 'throttled' | 'bad_request' | 'error';

interface Failure {
  status: number;
  code: string;
  oauth: string;
  outcome: FailureOutcome;
}

type ErrorClass = abstract new (...args: never[]) => Error;

// Every failure forgegate names, in one table: its HTTP status, its registry and RFC 6749
// codes, and its outcome in the audit log and metrics. First match wins.
const FAILURES: readonly (readonly [ErrorClass, Failure])[] = [
  [ScopeError, { status: 400, code: 'INVALID_SCOPE', oauth: 'invalid_scope', outcome: 'bad_request' }],
  [BadRequest, { status: 400, code: 'INVALID_REQUEST', oauth: 'invalid_request', outcome: 'bad_request' }],
  [AuthenticationFailed, { status: 401, code: 'UNAUTHORIZED', oauth: 'invalid_grant', outcome: 'unauthorized' }],
  [TooManyAttempts, { status: 429, code: 'TOOMANYREQUESTS', oauth: 'invalid_request', outcome: 'banned' }],
  [ForgeCallsSpent, { status: 429, code: 'TOOMANYREQUESTS', oauth: 'invalid_request', outcome: 'throttled' }],
  [Unavailable, { status: 503, code: 'UNAVAILABLE', oauth: 'temporarily_unavailable', outcome: 'unavailable' }],
  [NotFound, { status: 404, code: 'NOT_FOUND', oauth: 'invalid_request', outcome: 'bad_request' }],
  [MethodNotAllowed, { status: 405, code: 'UNSUPPORTED', oauth: 'invalid_request', outcome: 'bad_request' }],
  [BodyTooLarge, { status: 413, code: 'REQUEST_TOO_LARGE', oauth: 'invalid_request', outcome: 'bad_request' }],
  [UnsupportedMediaType, { status: 415, code: 'UNSUPPORTED', oauth: 'invalid_request', outcome: 'bad_request' }],
];

/** The audit and metrics outcome of a request that failed with `error`. */
export function outcomeOf(error: unknown): FailureOutcome {
  return FAILURES.find(([kind]) => error instanceof kind)?.[1].outcome ?? 'error';
}

/** Seconds after which asking again can help, when the failure says (a ban, a spent budget or quota). */
function retryAfterOf(error: unknown): number | undefined {
  const timed = error instanceof TooManyAttempts || error instanceof ForgeCallsSpent || error instanceof Unavailable;
  return timed ? error.retryAfter : undefined;
}

function toWire(error: unknown): WireError {
  const known = FAILURES.find(([kind]) => error instanceof kind)?.[1];
  if (known !== undefined) {
    const oauth = error instanceof BadRequest ? error.oauthError : known.oauth;
    return { status: known.status, code: known.code, oauth, message: (error as Error).message };
  }
  // Koa and the body parsers throw http-errors (they carry `expose`): keep their 4xx status
  // and text. Any other error is unexpected.
  const { status, expose } = error as { status?: unknown; expose?: unknown };
  if (typeof expose === 'boolean' && typeof status === 'number' && status >= 400 && status < 500) {
    const message = (error as { expose?: boolean }).expose ? (error as Error).message : 'bad request';
    return { status, code: REGISTRY_CODES[status] ?? 'INVALID_REQUEST', oauth: 'invalid_request', message };
  }
  return { status: 500, code: 'UNKNOWN', oauth: 'server_error', message: 'internal error; see the server log' };
}

const REGISTRY_CODES: Record<number, string> = {
  404: 'NOT_FOUND',
  405: 'UNSUPPORTED',
  413: 'REQUEST_TOO_LARGE',
  415: 'UNSUPPORTED',
  429: 'TOOMANYREQUESTS',
};
