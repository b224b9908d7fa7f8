import { hkdfSync, type KeyObject } from 'node:crypto';

// Server-side secrets derived from the signing key, so that replicas sharing token.keyDir
// agree on them (a refresh token from one opens on another; cache keys match in Redis)
// without one more secret to distribute. Rotating the signing key rotates them too.

export type SecretPurpose = 'refresh-token' | 'credential-hmac';

export function deriveSecret(privateKey: KeyObject, purpose: SecretPurpose): Uint8Array {
  const material = privateKey.export({ type: 'pkcs8', format: 'der' });
  return new Uint8Array(hkdfSync('sha256', material, 'forgegate', `forgegate/${purpose}/v1`, 32));
}
