import { createHmac } from 'node:crypto';

// Cache keys for secrets: an HMAC under a server secret, so a cache dump (or a Redis
// reader) learns nothing it could replay, and the raw secret is never stored.

export function fingerprint(secret: Uint8Array, ...parts: string[]): string {
  const hmac = createHmac('sha256', secret);
  for (const part of parts) hmac.update(part).update('\u0000');
  return hmac.digest('base64url');
}
