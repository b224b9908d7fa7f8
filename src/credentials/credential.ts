import { BadRequest } from '../errors.js';
import { looksLikeRefreshToken } from '../token/refresh.js';

// Who the caller claims to be, before anything is verified.

export type Credential =
  { kind: 'anonymous' } | { kind: 'password'; username: string; password: string } | { kind: 'refresh'; token: string };

/** A username and password: what a forge or a static account verifies. */
export type PasswordCredential = Extract<Credential, { kind: 'password' }>;

export const MAX_USERNAME_LENGTH = 256;
/** Forge tokens are short; OIDC ID tokens and our refresh tokens stay well under this. */
export const MAX_PASSWORD_LENGTH = 8192;

export function passwordCredential(username: string, password: string): Credential {
  if (username.length > MAX_USERNAME_LENGTH)
    throw new BadRequest(`username is longer than ${MAX_USERNAME_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH)
    throw new BadRequest(`password is longer than ${MAX_PASSWORD_LENGTH} characters`);
  if (password === '') throw new BadRequest('password is empty');
  // Some clients present their identity token as a password with an empty user.
  if (username === '' && looksLikeRefreshToken(password)) return { kind: 'refresh', token: password };
  return { kind: 'password', username, password };
}

export function refreshCredential(token: string): Credential {
  if (token.length > MAX_PASSWORD_LENGTH)
    throw new BadRequest(`refresh_token is longer than ${MAX_PASSWORD_LENGTH} characters`);
  return { kind: 'refresh', token };
}

/** Parses an Authorization header: absent means anonymous; only Basic is spoken here. */
export function parseAuthorization(header: string | undefined): Credential {
  if (header === undefined || header.trim() === '') return { kind: 'anonymous' };
  const match = /^basic[ \t]+([A-Za-z0-9+/]*={0,2})[ \t]*$/i.exec(header);
  if (!match) {
    const scheme = header.trim().split(/[ \t]/, 1)[0]!;
    if (scheme.toLowerCase() !== 'basic')
      throw new BadRequest(`unsupported authorization scheme "${scheme.slice(0, 20)}": use Basic`);
    throw new BadRequest('malformed Basic authorization header: expected base64 of user:password');
  }
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new BadRequest('malformed Basic authorization header: no ":" between user and password');
  // The password may itself contain ":": split on the first one only.
  return passwordCredential(decoded.slice(0, colon), decoded.slice(colon + 1));
}
