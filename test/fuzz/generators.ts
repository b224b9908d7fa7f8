import { randomBytes } from 'node:crypto';
import { EncryptJWT, SignJWT, UnsecuredJWT, type JWK } from 'jose';

// Request generators for fuzzing the token server, shared by the short run in the test suite
// (test/fuzz/http-fuzz.test.ts) and the full run (bench/fuzz.ts). Deterministic for a seed,
// so a failure can be replayed: every case carries a label naming what it mutates.

/** A small, fast, seedable PRNG (mulberry32): fast-check's shrinking is not needed here. */
export class Rng {
  constructor(private state: number) {}
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** What the fuzzer knows about its target: valid material to mutate. */
export interface FuzzTargets {
  service: string;
  staticUser: string;
  staticPassword: string;
  /** A GitLab token the fake forge accepts. */
  gitlabToken: string;
  /** A refresh token issued by the target for its own service. */
  refreshToken: string;
  /** A refresh token issued under the same key for another service. */
  otherServiceRefresh: string;
  /** An access token the target signed. */
  accessToken: string;
  publicKeyPem: string;
  jwk: JWK;
  images: readonly string[];
}

/** Credentials an attacker could make without the server's secret: none may ever earn a 200. */
export async function forgeries(t: FuzzTargets): Promise<string[]> {
  const claims = {
    sub: t.staticUser,
    source: 'static',
    proof: 'x'.repeat(22),
    access: [{ type: 'repository', name: t.images[0], actions: ['*'] }],
  };
  const pem = new TextEncoder().encode(t.publicKeyPem);
  const jwkText = new TextEncoder().encode(JSON.stringify(t.jwk));
  const [head, , iv, cipher, tag] = t.refreshToken.split('.') as [string, string, string, string, string];
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const flip = (part: string) => {
    const bytes = Buffer.from(part, 'base64url');
    if (bytes.length > 0) bytes[bytes.length >> 1]! ^= 0x01;
    return bytes.toString('base64url');
  };
  const now = Math.floor(Date.now() / 1000);
  return [
    // alg: none, as JWT and dressed as our refresh token's header
    new UnsecuredJWT(claims).setIssuedAt().setExpirationTime('1h').encode(),
    `${b64({ alg: 'none', enc: 'A256GCM', typ: 'forgegate-refresh' })}..${iv}.${cipher}.${tag}`,
    `${b64({ alg: 'none' })}.${b64({ ...claims, aud: t.service, iss: 'forgegate/refresh' })}.`,
    // HS256 keyed with the public key (PEM and JWK text): the classic algorithm confusion
    await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setAudience(t.service)
      .setIssuer('forgegate/refresh')
      .sign(pem),
    await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'forgegate-refresh' }).sign(jwkText),
    // A JWE under a key anyone could guess or derive from public material
    await new EncryptJWT(claims)
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', typ: 'forgegate-refresh' })
      .setIssuer('forgegate/refresh')
      .setAudience(t.service)
      .encrypt(randomBytes(32)),
    await new EncryptJWT(claims)
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', typ: 'forgegate-refresh' })
      .setIssuer('forgegate/refresh')
      .setAudience(t.service)
      .encrypt(new Uint8Array(32)),
    await new EncryptJWT(claims)
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', typ: 'forgegate-refresh' })
      .setIssuer('forgegate/refresh')
      .setAudience(t.service)
      .encrypt(pem.slice(0, 32)),
    await new EncryptJWT({ ...claims, exp: now - 10 })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .encrypt(randomBytes(32)),
    // Our own refresh token, tampered with part by part
    `${flip(head)}..${iv}.${cipher}.${tag}`,
    `${head}..${flip(iv)}.${cipher}.${tag}`,
    `${head}..${iv}.${flip(cipher)}.${tag}`,
    `${head}..${iv}.${cipher}.${flip(tag)}`,
    `${head}..${iv}.${cipher}.`,
    `${b64({ alg: 'dir', enc: 'A128GCM', typ: 'forgegate-refresh' })}..${iv}.${cipher}.${tag}`,
    `${b64({ alg: 'dir', enc: 'A256GCM', typ: 'forgegate-refresh', zip: 'DEF' })}..${iv}.${cipher}.${tag}`,
    t.refreshToken.slice(0, -3),
    t.refreshToken + 'AAAA', // (one extra 'A' would decode to the same tag: a re-encoding, not a forgery)
    // A valid token for another service, and our access token presented as a credential
    t.otherServiceRefresh,
    t.accessToken,
    t.accessToken.split('.').slice(0, 2).join('.') + '.',
  ];
}

export type FuzzCase =
  | {
      kind: 'http';
      label: string;
      method: string;
      path: string;
      headers: Record<string, string>;
      body?: Buffer;
      forged: boolean;
    }
  | { kind: 'raw'; label: string; bytes: Buffer };

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'MKCOL', 'PURGE'];
const PATHS = [
  '/token',
  '/auth/token',
  '/.well-known/jwks.json',
  '/metrics',
  '/healthz',
  '/readyz',
  '/hooks/gitlab',
  '/hooks/github',
  '/',
  '/v2/',
  '/token/',
  '//token',
  '/TOKEN',
  '/token/../metrics',
  '/%2e%2e/token',
  '/token%00',
  '/token;a=b',
  '/token?',
  '/x'.repeat(2000),
];
const CONTENT_TYPES = [
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=latin1',
  'application/json',
  'multipart/form-data; boundary=x',
  'text/plain',
  'application/x-www-form-urlencoded; charset=utf-16',
  '',
];
const GRANTS = [
  'password',
  'refresh_token',
  'client_credentials',
  'authorization_code',
  '',
  'PASSWORD',
  'password\u0000',
  'x'.repeat(2000),
];
const SCOPE_TYPES = [
  'repository',
  'registry',
  'repository(plugin)',
  'REPOSITORY',
  'repo',
  '',
  'repository(',
  'a'.repeat(300),
];
const ACTIONS = [
  'pull',
  'push',
  'delete',
  '*',
  'pull,push',
  'pull,push,delete,*',
  '',
  ',',
  'PULL',
  'pull;push',
  '*,*,*',
  'catalog',
];

/** A random printable-or-not string: unicode, control characters, percent junk. */
export function junkText(rng: Rng, max = 64): string {
  const n = rng.int(max + 1);
  switch (rng.int(6)) {
    case 0:
      return rng.bytes(n).toString('latin1');
    case 1:
      return rng.bytes(n).toString('utf8');
    case 2:
      return Array.from({ length: n }, () => String.fromCodePoint(rng.int(0x10ffff + 1) & ~0x800)).join('');
    case 3:
      return '%'.repeat(n) + '%zz%0';
    case 4:
      return rng.bytes(n).toString('base64');
    default:
      return 'a'.repeat(n);
  }
}

/** A value for a parameter: valid, huge, binary, or deeply repeated. */
function mutate(rng: Rng, valid: string): string {
  switch (rng.int(9)) {
    case 0:
    case 1:
    case 2:
      return valid;
    case 3:
      return junkText(rng);
    case 4:
      return valid.repeat(1 + rng.int(2000));
    case 5:
      return 'x'.repeat(rng.pick([1023, 1024, 1025, 8192, 8193, 70_000]));
    case 6:
      return valid.slice(0, rng.int(valid.length + 1));
    case 7:
      return `${valid}\u0000${junkText(rng, 8)}`;
    default:
      return '';
  }
}

function scope(rng: Rng, t: FuzzTargets): string {
  if (rng.chance(0.6)) return `repository:${rng.pick(t.images)}:${rng.pick(ACTIONS)}`;
  const name = rng.chance(0.5) ? rng.pick(t.images) : mutate(rng, rng.pick(t.images));
  const text = `${rng.pick(SCOPE_TYPES)}:${name}:${rng.pick(ACTIONS)}`;
  return rng.chance(0.2)
    ? Array.from({ length: 1 + rng.int(100) }, () => text).join(rng.pick([' ', '+', '%20']))
    : text;
}

function basicHeader(
  rng: Rng,
  t: FuzzTargets,
  forged: readonly string[],
): { value: string | undefined; forged: boolean } {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  switch (rng.int(14)) {
    case 0:
      return { value: undefined, forged: false };
    case 1:
      return { value: `Basic ${b64(`${t.staticUser}:${t.staticPassword}`)}`, forged: false };
    case 2:
      return { value: `Basic ${b64(`oauth2:${t.gitlabToken}`)}`, forged: false };
    case 3:
      return { value: `Basic ${b64(`${t.staticUser}:${mutate(rng, t.staticPassword)}x`)}`, forged: true };
    case 4:
      return { value: `Basic ${b64(`:${rng.pick(forged)}`)}`, forged: true };
    case 5:
      return {
        value: `Basic ${b64(`${rng.pick([t.staticUser, 'oauth2', 'gitlab-ci-token', 'x'])}:${rng.pick(forged)}`)}`,
        forged: true,
      };
    case 6:
      return { value: `Bearer ${rng.pick(forged)}`, forged: true };
    case 7:
      return { value: `Basic ${rng.bytes(rng.int(200)).toString('base64')}`, forged: true };
    case 8:
      return { value: `Basic ${b64(junkText(rng, 200))}`, forged: true };
    case 9:
      return {
        value: rng.pick([
          'Basic',
          'Basic ',
          'basic ====',
          'Basic ===a',
          'Digest x',
          'Basic\ta',
          'Basic a b',
          `Basic ${'A'.repeat(12_000)}`,
        ]),
        forged: true,
      };
    case 10:
      return {
        value: `Basic ${b64(`${'u'.repeat(rng.pick([256, 257, 5000]))}:${'p'.repeat(rng.pick([1, 8192, 8193]))}`)}`,
        forged: true,
      };
    case 11:
      return { value: `Basic ${b64(`${t.staticUser}:`)}`, forged: true };
    case 12:
      return { value: `Basic ${b64(t.staticUser)}`, forged: true };
    default:
      return { value: `Basic ${b64(`${junkText(rng, 20).replace(/:/g, '')}:${junkText(rng, 40)}`)}`, forged: true };
  }
}

function query(rng: Rng, t: FuzzTargets): string {
  const q = new URLSearchParams();
  if (rng.chance(0.85)) q.append('service', rng.chance(0.8) ? t.service : mutate(rng, t.service));
  const scopes = rng.chance(0.05) ? 100 + rng.int(200) : rng.int(4);
  for (let i = 0; i < scopes; i++) q.append('scope', scope(rng, t));
  if (rng.chance(0.2)) q.append('offline_token', rng.pick(['true', 'false', 'TRUE', junkText(rng, 10)]));
  if (rng.chance(0.1)) q.append('client_id', mutate(rng, 'docker'));
  if (rng.chance(0.05)) q.append('service', 'another-service');
  let text = q.toString();
  if (rng.chance(0.1))
    text += rng.pick(['&&&', '&=', '&scope', '&%', '&service=%ZZ', '&a[b][c]=1', `&${'x='.repeat(1000)}`]);
  return text;
}

function formBody(rng: Rng, t: FuzzTargets, forged: readonly string[]): { body: string; forged: boolean } {
  const q = new URLSearchParams();
  let isForged = false;
  const grant = rng.chance(0.8) ? rng.pick(['password', 'refresh_token']) : mutate(rng, rng.pick(GRANTS));
  if (rng.chance(0.95)) q.append('grant_type', grant);
  if (rng.chance(0.85)) q.append('service', rng.chance(0.8) ? t.service : mutate(rng, t.service));
  if (rng.chance(0.8)) q.append('client_id', mutate(rng, 'docker'));
  for (let i = rng.int(4); i > 0; i--) q.append('scope', scope(rng, t));
  if (rng.chance(0.3)) q.append('access_type', rng.pick(['offline', 'online', junkText(rng, 10)]));
  // Only the credential the grant type reads decides whether the request is forged.
  let passwordForged = true;
  let refreshForged = true;
  if (grant === 'password' || rng.chance(0.2)) {
    passwordForged = !rng.chance(0.3);
    q.append(
      'username',
      passwordForged ? mutate(rng, rng.pick([t.staticUser, 'oauth2', '', 'gitlab-ci-token'])) : t.staticUser,
    );
    q.append(
      'password',
      passwordForged ? (rng.chance(0.5) ? rng.pick(forged) : mutate(rng, t.staticPassword) + '!') : t.staticPassword,
    );
  }
  if (grant === 'refresh_token' || rng.chance(0.2)) {
    refreshForged = !rng.chance(0.3);
    q.append('refresh_token', refreshForged ? rng.pick(forged) : t.refreshToken);
  }
  isForged = grant === 'password' ? passwordForged : grant === 'refresh_token' ? refreshForged : true;
  let body = q.toString();
  if (rng.chance(0.05)) body = `${body}&${body}`; // every field twice
  if (rng.chance(0.03)) body += `&scope=${'a'.repeat(70_000)}`; // past the form limit
  return { body, forged: isForged };
}

function rawCase(rng: Rng, t: FuzzTargets): FuzzCase {
  const req = (lines: string[], body = '') => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
  const variants: [string, () => Buffer][] = [
    ['raw-binary', () => rng.bytes(1 + rng.int(2048))],
    ['raw-http09', () => Buffer.from('GET /token\r\n')],
    ['raw-bad-version', () => req([`GET /token HTTP/${rng.pick(['9.9', '1.x', '0.1', ''])}`, 'Connection: close'])],
    [
      'raw-header-overflow',
      () =>
        req(['GET /token HTTP/1.1', 'Host: x', `X-Big: ${'a'.repeat(20_000 + rng.int(80_000))}`, 'Connection: close']),
    ],
    [
      'raw-many-headers',
      () =>
        req([
          'GET /token HTTP/1.1',
          'Host: x',
          ...Array.from({ length: 3000 }, (_, i) => `X-${i}: y`),
          'Connection: close',
        ]),
    ],
    [
      'raw-header-bytes',
      () =>
        req([
          'GET /token HTTP/1.1',
          'Host: x',
          `Authorization: Basic ${rng
            .bytes(40)
            .toString('latin1')
            .replace(/[\r\n]/g, '')}`,
          'Connection: close',
        ]),
    ],
    [
      'raw-cl-te',
      () =>
        req(
          [
            'POST /token HTTP/1.1',
            'Host: x',
            'Content-Type: application/x-www-form-urlencoded',
            'Content-Length: 4',
            'Transfer-Encoding: chunked',
            'Connection: close',
          ],
          '0\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n',
        ),
    ],
    [
      'raw-bad-chunk',
      () =>
        req(
          [
            'POST /token HTTP/1.1',
            'Host: x',
            'Content-Type: application/x-www-form-urlencoded',
            'Transfer-Encoding: chunked',
            'Connection: close',
          ],
          `zz\r\n${'a'.repeat(10)}\r\n0\r\n\r\n`,
        ),
    ],
    [
      'raw-short-body',
      () =>
        req(
          [
            'POST /token HTTP/1.1',
            'Host: x',
            'Content-Type: application/x-www-form-urlencoded',
            `Content-Length: ${100 + rng.int(1000)}`,
            'Connection: close',
          ],
          'grant_type=password&username=',
        ),
    ],
    [
      'raw-huge-cl',
      () =>
        req(
          [
            'POST /token HTTP/1.1',
            'Host: x',
            'Content-Type: application/x-www-form-urlencoded',
            'Content-Length: 99999999999',
            'Connection: close',
          ],
          'grant_type=',
        ),
    ],
    ['raw-neg-cl', () => req(['POST /token HTTP/1.1', 'Host: x', 'Content-Length: -1', 'Connection: close'])],
    [
      'raw-dup-cl',
      () =>
        req(
          ['POST /token HTTP/1.1', 'Host: x', 'Content-Length: 3', 'Content-Length: 5', 'Connection: close'],
          'abcde',
        ),
    ],
    [
      'raw-pipelined',
      () =>
        Buffer.concat([
          req([`GET /token?service=${t.service} HTTP/1.1`, 'Host: x']),
          rng.bytes(64),
          req(['GET /healthz HTTP/1.1', 'Host: x', 'Connection: close']),
        ]),
    ],
    ['raw-bare-lf', () => Buffer.from(`GET /token HTTP/1.1\nHost: x\nConnection: close\n\n`)],
    ['raw-long-uri', () => req([`GET /token?scope=${'a'.repeat(100_000)} HTTP/1.1`, 'Host: x', 'Connection: close'])],
  ];
  const [label, make] = rng.pick(variants);
  return { kind: 'raw', label, bytes: make() };
}

/** One fuzz case. `forged` cases carry only credentials that must never earn a 200. */
export function generateCase(rng: Rng, t: FuzzTargets, forged: readonly string[]): FuzzCase {
  const roll = rng.next();
  if (roll < 0.12) return rawCase(rng, t);
  if (roll < 0.5) {
    const auth = basicHeader(rng, t, forged);
    const headers: Record<string, string> = {};
    if (auth.value !== undefined) headers.authorization = auth.value;
    if (rng.chance(0.05)) headers['x-request-id'] = junkText(rng, 300).replace(/[^\x21-\x7e]/g, 'a');
    if (rng.chance(0.05)) headers['x-forwarded-for'] = junkText(rng, 50).replace(/[^\x21-\x7e]/g, '1');
    return {
      kind: 'http',
      label: `get-token/${auth.forged ? 'bad-auth' : 'auth'}`,
      method: 'GET',
      path: `/token?${query(rng, t)}`,
      headers,
      forged: auth.forged,
    };
  }
  if (roll < 0.85) {
    const { body, forged: isForged } = formBody(rng, t, forged);
    const headers: Record<string, string> = {};
    const contentType = rng.chance(0.85) ? CONTENT_TYPES[0]! : rng.pick(CONTENT_TYPES);
    if (contentType !== '') headers['content-type'] = contentType;
    let payload: Buffer = Buffer.from(body);
    let replaced = false;
    if (rng.chance(0.05)) [payload, replaced] = [rng.bytes(rng.int(5000)), true];
    if (rng.chance(0.03))
      [payload, replaced] = [
        Buffer.from(JSON.stringify({ grant_type: 'password', username: t.staticUser, password: t.staticPassword })),
        true,
      ];
    const form = contentType.startsWith('application/x-www-form-urlencoded');
    return {
      kind: 'http',
      label: `post-token/${contentType.split(';')[0] || 'none'}`,
      method: 'POST',
      path: rng.pick(['/token', '/auth/token']),
      headers,
      body: payload,
      forged: isForged || !form || replaced,
    };
  }
  const method = rng.pick(METHODS);
  const path = rng.chance(0.7) ? rng.pick(PATHS) : `/${encodeURIComponent(junkText(rng, 100))}`;
  const headers: Record<string, string> = {};
  if (rng.chance(0.5)) headers['content-type'] = rng.pick(CONTENT_TYPES.filter(Boolean));
  if (rng.chance(0.3)) headers['x-gitlab-token'] = junkText(rng, 40).replace(/[^\x21-\x7e]/g, 'a');
  if (rng.chance(0.3)) headers['x-hub-signature-256'] = `sha256=${rng.bytes(32).toString('hex')}`;
  const body =
    method === 'GET' || method === 'HEAD'
      ? undefined
      : rng.chance(0.5)
        ? rng.bytes(rng.int(3000))
        : Buffer.from(
            JSON.stringify({
              object_kind: 'project',
              event_name: junkText(rng, 10),
              project: { path_with_namespace: rng.pick(t.images) },
            }),
          );
  return { kind: 'http', label: `other/${method}`, method, path, headers, ...(body ? { body } : {}), forged: false };
}
