import { createHmac } from 'node:crypto';

// Cache keys for secrets: an HMAC under a server secret, so a cache dump (or a Redis
// reader) learns nothing it could replay, and the raw secret is never stored.

export function fingerprint(secret: Uint8Array, ...parts: string[]): string {
  const hmac = createHmac('sha256', secret);
  for (const part of parts) hmac.update(part).update('\u0000');
  return hmac.digest('base64url');
}

/**
 * The fingerprint of a credential's password, made once per credential object: a forge token's
 * request keys the brute-force guard's counters and the forge's cache entries on it, and each
 * HMAC cost about 15 microseconds of a warm request's CPU (node:crypto sets one up anew for
 * each). It is used again only for the same secret and password.
 */
export function passwordFingerprint(secret: Uint8Array, credential: { readonly password: string }): string {
  const { password } = credential;
  const made = madeFor.get(credential);
  if (made?.secret === secret && made.password === password) return made.value;
  const value = fingerprint(secret, 'password', password);
  madeFor.set(credential, { secret, password, value });
  return value;
}

const madeFor = new WeakMap<object, { secret: Uint8Array; password: string; value: string }>();
