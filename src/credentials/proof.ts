import type { PasswordCredential } from './credential.js';

// What a refresh token carries so that every use re-verifies its subject: for a static
// account a digest of its password hash (a changed password stops the token); for a forge
// the credential itself (a revoked forge token stops it). The refresh token is a JWE only
// forgegate can open; the proof travels in it as text.

export type RefreshProof = { kind: 'static'; digest: string } | { kind: 'forge'; credential: PasswordCredential };

export function encodeProof(proof: RefreshProof): string {
  switch (proof.kind) {
    case 'static':
      return JSON.stringify({ kind: 'static', digest: proof.digest });
    case 'forge': {
      const { username, password } = proof.credential;
      return JSON.stringify({ kind: 'forge', username, password });
    }
  }
}

/**
 * The proof of a sealed refresh token; null when it is no proof. Tokens issued before proofs
 * were tagged carry a forge credential as `[username, password]` and a static digest as it is.
 */
export function decodeProof(text: string): RefreshProof | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { kind: 'static', digest: text };
  }
  if (Array.isArray(parsed)) {
    const [username, password] = parsed as unknown[];
    return parsed.length === 2 && typeof username === 'string' && typeof password === 'string'
      ? forgeProof(username, password)
      : null;
  }
  if (typeof parsed !== 'object' || parsed === null) return { kind: 'static', digest: text };
  const { kind, digest, username, password } = parsed as Record<string, unknown>;
  if (kind === 'static' && typeof digest === 'string') return { kind, digest };
  if (kind === 'forge' && typeof username === 'string' && typeof password === 'string') {
    return forgeProof(username, password);
  }
  return null;
}

function forgeProof(username: string, password: string): RefreshProof {
  return { kind: 'forge', credential: { kind: 'password', username, password } };
}
