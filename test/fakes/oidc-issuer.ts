import { createHmac } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { FakeServer, type Reply } from './server.js';

// A CI ID token issuer on loopback (GitHub Actions' or GitLab's, by the claims the test puts
// in): OIDC discovery, a JWKS of the keys it currently publishes, and tokens signed by the
// test itself. Keys rotate on demand; JWKS fetches are counted through calls('GET /jwks').

export interface IssuerKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  publicJwk: JWK;
}

export class FakeOidcIssuer extends FakeServer {
  protected readonly contentType = 'application/json';
  /** Keys in the JWKS now; tokens are signed with `current` unless told otherwise. */
  published: IssuerKey[] = [];
  current!: IssuerKey;
  /** What the discovery document claims as its issuer; default: the real URL. */
  discoveryIssuer: string | undefined;

  constructor() {
    super();
    this.route('GET', '/.well-known/openid-configuration', () => ({
      status: 200,
      body: {
        issuer: this.discoveryIssuer ?? this.url,
        jwks_uri: `${this.url}/jwks`,
        id_token_signing_alg_values_supported: ['RS256', 'ES256'],
      },
    }));
    this.route('GET', '/jwks', () => ({ status: 200, body: { keys: this.published.map((k) => k.publicJwk) } }));
  }

  override async start(): Promise<string> {
    const url = await super.start();
    this.current = await this.newKey('RS256');
    this.published = [this.current];
    return url;
  }

  async newKey(
    alg: 'RS256' | 'ES256',
    kid = `${alg.toLowerCase()}-${Math.random().toString(36).slice(2, 10)}`,
  ): Promise<IssuerKey> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    return { kid, alg, privateKey, publicJwk };
  }

  /** Publishes a new key and signs with it from now on; the old key stays published unless `retire`. */
  async rotate(options: { retire?: boolean; alg?: 'RS256' | 'ES256' } = {}): Promise<IssuerKey> {
    const key = await this.newKey(options.alg ?? 'RS256');
    this.published = options.retire ? [key] : [...this.published, key];
    this.current = key;
    return key;
  }

  /**
   * A token with `claims` over sensible defaults: iss = this issuer, iat now, exp in 5 min.
   * `key` signs it (default: the current key), and may be one never published.
   */
  async sign(claims: JWTPayload, options: { key?: IssuerKey; header?: Record<string, unknown> } = {}): Promise<string> {
    const key = options.key ?? this.current;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: this.url, iat: now, nbf: now - 5, exp: now + 300, ...claims })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header })
      .sign(key.privateKey);
  }

  protected notFound(): Reply {
    return { status: 404, body: { message: 'Not Found' } };
  }
}

/** An unsigned token (`alg: none`): no library will make one, so it is put together by hand. */
export function unsignedToken(claims: JWTPayload): string {
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
}

/** An HS256 token whose secret is the issuer's published public key: the classic confusion attack. */
export function hmacToken(claims: JWTPayload, secret: string, kid?: string): string {
  const signingInput = `${b64({ alg: 'HS256', typ: 'JWT', ...(kid ? { kid } : {}) })}.${b64(claims)}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** GitHub Actions' claims for a push to main of `repository` (token.actions.githubusercontent.com). */
export function githubClaims(repository: string, overrides: JWTPayload = {}): JWTPayload {
  const ref = (overrides.ref as string | undefined) ?? 'refs/heads/main';
  return {
    sub: `repo:${repository}:ref:${ref}`,
    aud: 'registry.test',
    repository,
    repository_id: '4242',
    repository_owner: repository.split('/')[0],
    repository_owner_id: '77',
    ref,
    ref_type: 'branch',
    ref_protected: 'true',
    workflow: 'build',
    workflow_ref: `${repository}/.github/workflows/build.yml@${ref}`,
    job_workflow_ref: `${repository}/.github/workflows/build.yml@${ref}`,
    event_name: 'push',
    environment: 'production',
    ...overrides,
  };
}

/** GitLab CI's `id_tokens:` claims for a pipeline of `projectPath` on main. */
export function gitlabClaims(projectPath: string, overrides: JWTPayload = {}): JWTPayload {
  return {
    sub: `project_path:${projectPath}:ref_type:branch:ref:main`,
    aud: 'registry.test',
    project_path: projectPath,
    project_id: '901',
    namespace_path: projectPath.split('/').slice(0, -1).join('/'),
    ref: 'main',
    ref_type: 'branch',
    ref_protected: 'true',
    user_login: 'dev',
    user_access_level: 'developer',
    pipeline_source: 'push',
    ci_config_ref_uri: `gitlab.example/${projectPath}//.gitlab-ci.yml@refs/heads/main`,
    ...overrides,
  };
}
