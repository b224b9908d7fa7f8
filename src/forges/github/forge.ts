import type { ForgeConfig } from '../../config/schema.js';
import type { PasswordCredential } from '../../credentials/credential.js';
import { AuthenticationFailed } from '../../errors.js';
import { compileGlob } from '../../policy/glob.js';
import { denying, judgeAll, type Judgements } from '../../policy/grant.js';
import {
  judgeGitHub,
  judgeGitHubCatalog,
  type GitHubCallerFacts,
  type GitHubRepoFacts,
  type TokenGrant,
} from '../../policy/github.js';
import { unexpected } from '../call.js';
import {
  ForgeRefusal,
  Prefetched,
  type CacheableForge,
  type ForgeCallObserver,
  type ForgeJudgement,
  type ForgeSession,
} from '../forge.js';
import { judged } from '../judged.js';
import { issuedBy } from '../token-prefixes.js';
import { GitHubApi, type AppInstallations, type GitHubRepoJson } from './api.js';

// GitHub (github.com or Enterprise Server) as a forge: images under owner/repo[/name]
// follow that repository's permissions. The facts come from the API; the verdicts from
// policy/github.ts.

/**
 * What a user token was itself granted, as far as GitHub tells (see TokenGrant): classic and
 * OAuth tokens by their scopes; App user tokens by their App's installations (null: these
 * could not be read); fine-grained and unrecognised tokens not at all.
 */
export type UserTokenGrant =
  { kind: 'scopes'; scopes: string[] } | { kind: 'app'; installations: AppInstallations } | { kind: 'unknown' };

export type GitHubCaller =
  | { kind: 'user'; token: string; login: string; grant: UserTokenGrant }
  | { kind: 'installation'; token: string; repositories: GitHubRepoJson[] };

export interface GitHubSession extends ForgeSession {
  caller: GitHubCaller;
}

export class GitHubForge implements CacheableForge<GitHubSession> {
  readonly type = 'github';
  readonly name: string;
  readonly prefix: string;
  private readonly api: GitHubApi;
  private readonly prefetched = new Prefetched<GitHubRepoJson | null>();
  /** installationTokenPush, compiled: own repositories where installation tokens may push. */
  private readonly installationPush: RegExp[];

  constructor(
    private readonly config: ForgeConfig,
    observer?: ForgeCallObserver,
  ) {
    this.name = config.name;
    this.prefix = config.prefix;
    this.api = new GitHubApi(config.name, config.url.replace(/\/+$/, ''), config.timeout, observer);
    this.installationPush = (config.installationTokenPush ?? []).map((glob) => compileGlob(glob.toLowerCase()));
  }

  recognises({ password }: PasswordCredential): boolean {
    return issuedBy('github', password);
  }

  credentialKey({ password }: PasswordCredential): readonly string[] {
    return ['token', password];
  }

  authenticate({ password }: PasswordCredential): Promise<GitHubSession> {
    return this.unexpected(password.startsWith('ghs_') ? this.installation(password) : this.user(password));
  }

  // GET /repos with the caller's token needs nothing from GET /user or the installation's
  // repository list: both go out at once.
  prefetch(session: GitHubSession, paths: readonly string[]): void {
    this.lookAhead(session.caller.token, paths);
  }

  // A token never seen before: the same, at the price of one wasted call when it turns out bad.
  speculate({ password }: PasswordCredential, paths: readonly string[]): void {
    if (issuedBy('github', password)) this.lookAhead(password, paths);
  }

  abandon({ password }: PasswordCredential): void {
    this.prefetched.discard(password);
  }

  private lookAhead(token: string, paths: readonly string[]): void {
    for (const path of paths) {
      const [owner, repo] = path.toLowerCase().split('/');
      if (!owner || !repo) continue;
      this.prefetched.put(token, `${owner}/${repo}`, () => this.api.repository(owner, repo, token));
    }
  }

  judge(session: GitHubSession | null, path: string): Promise<ForgeJudgement> {
    return this.unexpected(this.judgeImage(session, path));
  }

  judgeCatalog(session: GitHubSession): Judgements {
    const { caller } = session;
    if (caller.kind !== 'user') return judgeAll(judgeGitHubCatalog({ kind: 'installation' }));
    // Only classic scopes can show a token may read packages: App and fine-grained tokens list nothing.
    const { login, grant } = caller;
    const scopes = grant.kind === 'scopes' ? grant.scopes : null;
    return judgeAll(judgeGitHubCatalog({ kind: 'user', login, scopes, admin: session.admin }));
  }

  persist(session: GitHubSession): unknown {
    const { token: _secret, ...caller } = session.caller;
    return { ...session, caller };
  }

  restore(data: unknown, { password }: PasswordCredential): GitHubSession {
    const session = data as GitHubSession;
    return { ...session, caller: { ...session.caller, token: password } as GitHubCaller };
  }

  private async user(token: string): Promise<GitHubSession> {
    try {
      // An App user token's installations are asked beside GET /user: both need only the token.
      const installations = token.startsWith('ghu_') ? this.appInstallations(token) : null;
      installations?.catch(() => {});
      const { user, scopes } = await this.api.authenticatedUser(token);
      const grant = await userTokenGrant(token, scopes, installations);
      const admin =
        user.site_admin === true ||
        this.config.admins.some((login) => login.toLowerCase() === user.login.toLowerCase());
      const app = token.startsWith('ghu_');
      const kind = grant.kind === 'scopes' ? 'github-token' : app ? 'github-app-user' : 'github-fine-grained';
      return {
        identity: { subject: user.login, kind, source: this.name },
        admin,
        account: `user:${user.login.toLowerCase()}`,
        caller: { kind: 'user', token, login: user.login, grant },
      };
    } catch (error) {
      if (!(error instanceof ForgeRefusal)) throw error;
      // An installation token without its ghs_ prefix (GitHub Enterprise, older tokens).
      if (error.httpStatus === 403 && /not accessible by integration/i.test(error.message))
        return this.installation(token);
      if (error.httpStatus === 401)
        throw new AuthenticationFailed('invalid username or token', `GitHub rejected the token (${error.message})`);
      throw error;
    }
  }

  /** The App's installations, or null when GitHub will not list them (then nothing is known). */
  private async appInstallations(token: string): Promise<AppInstallations | null> {
    try {
      return await this.api.userInstallations(token);
    } catch (error) {
      if (error instanceof ForgeRefusal && [403, 404].includes(error.httpStatus)) return null;
      throw error;
    }
  }

  private async installation(token: string): Promise<GitHubSession> {
    let repositories: GitHubRepoJson[];
    try {
      repositories = await this.api.installationRepositories(token);
    } catch (error) {
      if (error instanceof ForgeRefusal && (error.httpStatus === 401 || error.httpStatus === 403)) {
        throw new AuthenticationFailed(
          'invalid username or token',
          `GitHub rejected the installation token (${error.message})`,
        );
      }
      throw error;
    }
    const subject =
      repositories.length === 1
        ? `installation:${repositories[0]!.full_name}`
        : `installation:${repositories.length}-repositories`;
    // Installation events name no repository list we could match: they drop every installation session.
    return {
      identity: { subject, kind: 'github-installation', source: this.name },
      admin: false,
      account: 'installation',
      caller: { kind: 'installation', token, repositories },
    };
  }

  private async judgeImage(session: GitHubSession | null, path: string): Promise<ForgeJudgement> {
    const [owner, repo] = path.toLowerCase().split('/');
    if (owner === undefined || repo === undefined || owner === '' || repo === '') {
      return judged(denying('no-repository', `no GitHub repository for image ${path}: it needs owner/repo`), null);
    }
    const fullName = `${owner}/${repo}`;
    const caller = session?.caller ?? null;

    if (caller?.kind === 'installation') {
      // The repository at this path now, as GitHub says; its own by id, not by a remembered name.
      const lookup = this.prefetched.take(caller.token, fullName) ?? this.api.repository(owner, repo, caller.token);
      const found = await lookup;
      if (found === null) {
        const why = `no GitHub repository ${fullName} visible to the installation token`;
        return judged(denying('no-repository', why), fullName);
      }
      const ownRepository = caller.repositories.some((r) => r.id === found.id);
      const pushOptIn = this.installationPush.some((glob) => glob.test(fullName));
      return judged(judgeGitHub({ kind: 'installation', ownRepository, pushOptIn }, facts(found)), fullName);
    }
    if (caller === null && !this.config.anonymousPull)
      return judged(denying('anonymous', 'anonymous pulls are turned off for this forge'), null);

    // Anonymous lookups go through the service token when there is one: GitHub allows an
    // unauthenticated client only 60 calls an hour.
    const token = caller?.token ?? this.config.serviceToken;
    const prefetched = caller ? this.prefetched.take(caller.token, fullName) : undefined;
    const found = await (prefetched ?? this.api.repository(owner, repo, token));
    if (found === null) {
      return judged(
        denying('no-repository', `no GitHub repository ${fullName}${caller ? ` visible to ${caller.login}` : ''}`),
        fullName,
      );
    }
    const callerFacts: GitHubCallerFacts =
      caller === null
        ? { kind: 'anonymous', anonymousPull: this.config.anonymousPull }
        : {
            kind: 'user',
            login: caller.login,
            grant: this.tokenGrant(caller.grant, found.owner.id),
            permissions: permissionsOf(found),
            deleteNeeds: this.config.deletePermission,
          };
    return judged(judgeGitHub(callerFacts, facts(found)), fullName);
  }

  /** What the policy is told the token was granted on a repository of the account `ownerId`. */
  private tokenGrant(grant: UserTokenGrant, ownerId: number): TokenGrant {
    switch (grant.kind) {
      case 'scopes':
        return grant;
      case 'app': {
        // By account id: an account renamed, and its old login taken by another, is not the same.
        const installation = grant.installations.accounts.find((i) => i.accountId === ownerId);
        if (installation) {
          return { kind: 'app', permissions: { contents: installation.contents, packages: installation.packages } };
        }
        // Not among the installations listed: not installed there, unless some were left unlisted.
        if (grant.installations.complete) return { kind: 'app', permissions: null };
        return { kind: 'unknown', trusted: this.config.trustUserTokenRole };
      }
      case 'unknown':
        return { kind: 'unknown', trusted: this.config.trustUserTokenRole };
    }
  }

  private unexpected<T>(work: Promise<T>): Promise<T> {
    return unexpected('GitHub', this.name, work);
  }
}

/**
 * Classic PATs (ghp_) and OAuth tokens (gho_) by their scopes (none when GitHub sent no scope
 * header: fail closed); App user tokens (ghu_) by their App's installations; fine-grained
 * PATs, and tokens of no known prefix that carry no scope header, are unknown.
 */
async function userTokenGrant(
  token: string,
  scopes: string[] | null,
  installations: Promise<AppInstallations | null> | null,
): Promise<UserTokenGrant> {
  if (installations !== null) {
    const listed = await installations;
    return listed === null ? { kind: 'unknown' } : { kind: 'app', installations: listed };
  }
  if (token.startsWith('ghp_') || token.startsWith('gho_')) return { kind: 'scopes', scopes: scopes ?? [] };
  if (token.startsWith('github_pat_') || scopes === null) return { kind: 'unknown' };
  return { kind: 'scopes', scopes };
}

function facts(repo: GitHubRepoJson): GitHubRepoFacts {
  return {
    fullName: repo.full_name,
    visibility: repo.visibility ?? (repo.private ? 'private' : 'public'),
    archived: repo.archived,
  };
}

function permissionsOf(repo: GitHubRepoJson) {
  const p = repo.permissions;
  if (p === undefined) return null;
  return { admin: p.admin, maintain: p.maintain ?? p.admin, push: p.push, triage: p.triage ?? p.push, pull: p.pull };
}
