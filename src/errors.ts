// The failures a token request can end in, named by what the client did or what broke,
// not by HTTP status: http/errors.ts maps them to status codes and wire formats.

/** The request is malformed: 400 with a message the client can act on. */
export class BadRequest extends Error {
  override name = 'BadRequest';
  constructor(
    message: string,
    readonly oauthError: 'invalid_request' | 'unsupported_grant_type' | 'invalid_scope' = 'invalid_request',
  ) {
    super(message);
  }
}

/**
 * Authentication failed: 401. `message` is safe to show the client; `reason` is for the
 * operator's log and may be more specific (never a secret either way).
 */
export class AuthenticationFailed extends Error {
  override name = 'AuthenticationFailed';
  constructor(
    message: string,
    readonly reason: string = message,
  ) {
    super(message);
  }
}

/** A backend needed to decide is down and nothing cached may stand in: 503. */
export class Unavailable extends Error {
  override name = 'Unavailable';
  constructor(
    message: string,
    readonly backend: string,
    /** Seconds until asking again can help (a rate limit's reset), when known. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}
