import type { Credential } from '../../credentials/credential.js';

// What people paste into the form is an image reference ("registry.example.com/group/app:1.2"),
// while the registry asks forgegate about the repository name alone ("group/app"): take the
// reference apart the way docker does, and say how to log in to the registry it names.

export interface ImageParts {
  /** The registry host[:port] when the reference names one. */
  registryHost: string | null;
  repository: string;
}

export function splitImage(reference: string): ImageParts {
  let rest = reference.trim().replace(/^docker:\/\//, '');
  const at = rest.indexOf('@');
  if (at >= 0) rest = rest.slice(0, at); // @sha256:...
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) rest = rest.slice(0, colon); // :tag
  // As docker does: the first component is a host only when it has a dot, a port, or is localhost.
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    return { registryHost: first, repository: rest.slice(slash + 1) };
  }
  return { registryHost: null, repository: rest };
}

/** The login line, never with the secret: it is read from stdin. */
export function dockerLogin(registryHost: string | null, credential: Credential): string {
  const host = registryHost ?? 'REGISTRY';
  const username =
    credential.kind === 'password' ? credential.username : credential.kind === 'refresh' ? '' : 'USERNAME';
  return `docker login ${host} --username ${shellQuote(username)} --password-stdin`;
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9._@+=-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
