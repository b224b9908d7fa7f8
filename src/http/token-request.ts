import type { Context } from 'koa';
import { LRUCache } from 'lru-cache';
import type { TokenRequest } from '../authority.js';
import { parseAuthorization, passwordCredential, refreshCredential } from '../credentials/credential.js';
import { BadRequest } from '../errors.js';
import { parseScopes } from '../policy/scope.js';

// Reads the token endpoint's two dialects (docs/protocol.md sections 2 and 3) into one
// TokenRequest. Parameters are read with URLSearchParams: it decodes `+` as a space (Go
// clients encode spaces so) and keeps repeated `scope` values apart.

/** Longest accepted value of a single-valued parameter. */
const MAX_PARAMETER_LENGTH = 1024;

// A registry asks for the same few tokens over and over: each robot or user sends the same
// query and Authorization header on every pull. Reading one (URLSearchParams, the Basic header's
// base64, the scope grammar's expressions) touches code that has left the CPU's caches between
// two bursts of requests: 14-25 µs for a burst's first request at a steady 1,000 a second, 4-7
// for the next ones (timed inside the server, medians). So the requests read recently are kept,
// frozen, by their exact text, and a repeated one is found instead: 2-3 µs, and under 1. Reading
// is a function of that text alone; a request that fails to read is not kept. Bounded by characters: 256 Ki of them (about 1,000 requests), and
// none longer than 2 Ki, so a stream of long made-up requests cannot grow it. What it keeps
// (a password among them) stays in this process, as the credential fingerprints do.
const RECENT_CHARS = 256 * 1024;
const LONGEST_KEPT = 2048;
const recentGets = new LRUCache<string, TokenRequest>({
  maxSize: RECENT_CHARS,
  maxEntrySize: LONGEST_KEPT,
  sizeCalculation: (_request, text) => text.length,
});

/** A GET's query string (after the `?`) and its Authorization header; the result is frozen. */
export function readGet(querystring: string, authorization: string | undefined): TokenRequest {
  // A header value holds no line break, so the two parts cannot run into each other.
  const text = `${authorization ?? ''}\n${querystring}`;
  let request = recentGets.get(text);
  if (request === undefined) {
    request = frozen(readGetAnew(querystring, authorization));
    recentGets.set(text, request);
  }
  return request;
}

function readGetAnew(querystring: string, authorization: string | undefined): TokenRequest {
  const params = new URLSearchParams(querystring);
  return {
    service: single(params, 'service'),
    scopes: parseScopes(params.getAll('scope')),
    credential: parseAuthorization(authorization),
    offline: single(params, 'offline_token')?.toLowerCase() === 'true',
  };
}

/** The request, its scopes and its credential frozen: one reading serves many requests. */
function frozen(request: TokenRequest): TokenRequest {
  for (const scope of request.scopes) Object.freeze(Object.freeze(scope).actions);
  Object.freeze(request.scopes);
  Object.freeze(request.credential);
  return Object.freeze(request);
}

export function readPost(ctx: Context, body: string): TokenRequest {
  if (!ctx.is('application/x-www-form-urlencoded')) {
    throw new BadRequest('the token endpoint takes POST bodies as application/x-www-form-urlencoded');
  }
  const params = new URLSearchParams(body);
  const grantType = single(params, 'grant_type');
  const request = {
    service: single(params, 'service'),
    scopes: parseScopes(params.getAll('scope')),
    offline: single(params, 'access_type') === 'offline',
  };
  switch (grantType) {
    case 'password': {
      const username = single(params, 'username');
      const password = single(params, 'password');
      if (username === undefined || password === undefined)
        throw new BadRequest('grant_type=password needs username and password');
      return { ...request, credential: passwordCredential(username, password) };
    }
    case 'refresh_token': {
      const token = params.get('refresh_token');
      if (!token) throw new BadRequest('grant_type=refresh_token needs refresh_token');
      return { ...request, credential: refreshCredential(token) };
    }
    case undefined:
      throw new BadRequest('grant_type is required (password or refresh_token)');
    default:
      throw new BadRequest(
        `grant_type "${grantType.slice(0, 40)}" is not supported; use password or refresh_token`,
        'unsupported_grant_type',
      );
  }
}

/** A parameter that must not disagree with itself when repeated; "" counts as absent. */
function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  const value = values[0];
  if (values.some((other) => other !== value))
    throw new BadRequest(`parameter ${name} is given more than once with different values`);
  if (value !== undefined && value.length > MAX_PARAMETER_LENGTH && name !== 'password') {
    throw new BadRequest(`parameter ${name} is longer than ${MAX_PARAMETER_LENGTH} characters`);
  }
  return value === '' ? undefined : value;
}
