import type { Context } from 'koa';
import type { TokenRequest } from '../authority.js';
import { parseAuthorization, passwordCredential, refreshCredential } from '../credentials/credential.js';
import { BadRequest } from '../errors.js';
import { parseScopes } from '../policy/scope.js';

// Reads the token endpoint's two dialects (docs/protocol.md sections 2 and 3) into one
// TokenRequest. Parameters are read with URLSearchParams: it decodes `+` as a space (Go
// clients encode spaces so) and keeps repeated `scope` values apart.

/** Longest accepted value of a single-valued parameter. */
const MAX_PARAMETER_LENGTH = 1024;

/** A GET's query string (after the `?`) and its Authorization header. */
export function readGet(querystring: string, authorization: string | undefined): TokenRequest {
  const params = new URLSearchParams(querystring);
  return {
    service: single(params, 'service'),
    scopes: parseScopes(params.getAll('scope')),
    credential: parseAuthorization(authorization),
    offline: single(params, 'offline_token')?.toLowerCase() === 'true',
  };
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
  const values = [...new Set(params.getAll(name))];
  if (values.length > 1) throw new BadRequest(`parameter ${name} is given more than once with different values`);
  const value = values[0];
  if (value !== undefined && value.length > MAX_PARAMETER_LENGTH && name !== 'password') {
    throw new BadRequest(`parameter ${name} is longer than ${MAX_PARAMETER_LENGTH} characters`);
  }
  return value === '' ? undefined : value;
}
