import { createHash } from 'node:crypto';
import { FakeServer, type FakeRequest, type Reply } from './server.js';

export type TokenKind = 'classic' | 'fine_grained' | 'oauth' | 'app_user' | 'installation';
export type Role = 'read' | 'triage' | 'write' | 'maintain' | 'admin';
export type Visibility = 'public' | 'private' | 'internal';

const ROLES: readonly Role[] = ['read', 'triage', 'write', 'maintain', 'admin'];
const DOCS = 'https://docs.github.com/rest';

export interface GitHubUser {
  id: number;
  login: string;
  type: 'User' | 'Bot';
  site_admin: boolean;
}

export interface GitHubOrg {
  id: number;
  login: string;
  /** The org's "base permission", which every member holds on every org repository. */
  base_permission: Role | 'none';
  /** login -> role; owners ('admin') hold admin on every org repository. */
  members: Map<string, 'admin' | 'member'>;
}

export interface GitHubTeam {
  org: string;
  slug: string;
  members: string[];
  /** 'owner/repo' -> role the team grants. */
  repos: Map<string, Role>;
}

export interface GitHubRepo {
  id: number;
  owner: string;
  name: string;
  visibility: Visibility;
  archived: boolean;
  /** login -> role of direct collaborators. */
  collaborators: Map<string, Role>;
}

export interface GitHubToken {
  token: string;
  kind: TokenKind;
  /** The owner's login; absent for installation tokens. */
  user?: string;
  /** OAuth scopes of classic and OAuth tokens, sent back in X-OAuth-Scopes. */
  scopes: string[];
  /**
   * 'owner/repo' names the token reaches besides public repositories: the selection of a
   * fine-grained or GitHub App user token, or an installation's repositories. 'all': whatever
   * the user can reach; for an installation, every repository in the fake.
   */
  repositories: string[] | 'all';
  /**
   * Installation tokens and fine-grained PATs: what they may do on their repositories. Like
   * GitHub's, no answer shows it: a read-only GITHUB_TOKEN (fork pull requests, Dependabot,
   * `permissions: contents: read`) is listed and described exactly like a writing one, and a
   * read-only fine-grained token is shown its user's role. (The fake enforces no writes.)
   */
  permission: 'read' | 'write';
  /**
   * GitHub App user tokens (ghu_): the App installation's permissions, which GET
   * /user/installations reports (the token holds those the user's role holds too).
   */
  appPermissions: Record<string, 'read' | 'write'>;
  expired: boolean;
  revoked: boolean;
}

export interface RateLimitOptions {
  /** Per user for user tokens, per token for installations (GitHub: 5000/h). */
  limit: number;
  /** Per client address for anonymous calls (GitHub: 60/h). */
  anonymousLimit: number;
  /** GitHub documents 403 or 429 for an exhausted primary limit; 403 is what it mostly sends. */
  status: 403 | 429;
}

interface Bucket {
  limit: number;
  used: number;
  resetAt: number;
}

type Caller = { token: GitHubToken; user: GitHubUser | undefined } | undefined;

const message = (status: number, text: string, doc = DOCS): Reply => ({
  status,
  body: { message: text, documentation_url: doc, status: String(status) },
});
const BAD_CREDENTIALS = message(401, 'Bad credentials');
const NOT_FOUND = message(404, 'Not Found', `${DOCS}/repos/repos#get-a-repository`);

export class FakeGitHub extends FakeServer {
  protected readonly contentType = 'application/json; charset=utf-8';

  readonly rateLimit: RateLimitOptions;
  readonly #users = new Map<string, GitHubUser>();
  readonly #orgs = new Map<string, GitHubOrg>();
  readonly #teams: GitHubTeam[] = [];
  readonly #repos = new Map<string, GitHubRepo>();
  readonly #tokens = new Map<string, GitHubToken>();
  readonly #buckets = new Map<string, Bucket>();
  /**
   * GitHub's secondary rate limits (too many requests in a short time, whatever the hourly quota
   * says): past `requests` in a window of `periodSeconds` per quota (user, installation token or
   * address), 403 "You have exceeded a secondary rate limit" with `retry-after` until the window
   * ends, while `x-ratelimit-remaining` still shows quota left. Undefined: none.
   */
  secondaryLimit: { requests: number; periodSeconds: number } | undefined;
  readonly #secondary = new Map<string, { window: number; count: number }>();
  /** Old lower-case 'owner/repo' -> repository id: what a rename or a transfer leaves behind. */
  readonly #redirects = new Map<string, number>();
  #nextId = 1;

  constructor(rateLimit: Partial<RateLimitOptions> = {}) {
    super();
    this.rateLimit = { limit: 5000, anonymousLimit: 60, status: 403, ...rateLimit };
    // The root is api.github.com; /api/v3 is GitHub Enterprise Server's mount.
    const mounts = ['', '/api/v3'];
    this.route('GET', '/user', (r) => this.#metered(r, (c) => this.#user(c)), mounts);
    // A renamed repository's old name answers 301 to /repositories/:id under the same mount.
    for (const mount of mounts) {
      this.route('GET', '/repos/:owner/:repo', (r) => this.#metered(r, (c) => this.#repo(r, c, mount)), [mount]);
    }
    this.route('GET', '/repositories/:id', (r) => this.#metered(r, (c) => this.#repoById(r, c)), mounts);
    this.route('GET', '/installation/repositories', (r) => this.#metered(r, (c) => this.#installationRepos(c)), mounts);
    this.route('GET', '/user/installations', (r) => this.#metered(r, (c) => this.#userInstallations(c)), mounts);
  }

  // ---- model ----------------------------------------------------------------------------------
  // Every add* returns the live record; mutate it to change what the fake answers next.

  addUser(init: Partial<GitHubUser> & { login: string }): GitHubUser {
    const user: GitHubUser = { type: 'User', site_admin: false, ...init, id: this.#id(init.id) };
    this.#users.set(user.login.toLowerCase(), user);
    return user;
  }

  addOrg(init: { login: string; id?: number; base_permission?: GitHubOrg['base_permission'] }): GitHubOrg {
    const org: GitHubOrg = {
      base_permission: 'read',
      ...init,
      id: this.#id(init.id),
      members: new Map(),
    };
    this.#orgs.set(org.login.toLowerCase(), org);
    return org;
  }

  addOrgMember(org: string, login: string, role: 'admin' | 'member' = 'member'): void {
    this.#requireOrg(org).members.set(login.toLowerCase(), role);
  }

  addTeam(init: { org: string; slug: string; members: string[]; repos: Record<string, Role> }): GitHubTeam {
    this.#requireOrg(init.org);
    const team: GitHubTeam = {
      ...init,
      members: init.members.map((m) => m.toLowerCase()),
      repos: new Map(Object.entries(init.repos).map(([name, role]) => [name.toLowerCase(), role])),
    };
    this.#teams.push(team);
    return team;
  }

  /** The owner must be a user or an org added before. A user owner holds admin on it. */
  addRepo(init: {
    full_name: string;
    id?: number;
    visibility?: Visibility;
    archived?: boolean;
    collaborators?: Record<string, Role>;
  }): GitHubRepo {
    const [owner, name, ...rest] = init.full_name.split('/');
    if (!owner || !name || rest.length > 0) throw new Error(`bad repository name ${init.full_name}`);
    if (!this.#owner(owner)) throw new Error(`no user or org ${owner}`);
    const repo: GitHubRepo = {
      id: this.#id(init.id),
      owner,
      name,
      visibility: init.visibility ?? 'private',
      archived: init.archived ?? false,
      collaborators: new Map(
        Object.entries(init.collaborators ?? {}).map(([login, role]) => [login.toLowerCase(), role]),
      ),
    };
    this.#repos.set(init.full_name.toLowerCase(), repo);
    // A new repository at an old name ends that name's redirect, as on GitHub.
    this.#redirects.delete(init.full_name.toLowerCase());
    return repo;
  }

  /**
   * Renames or transfers a repository (`to` may name another owner): it keeps its id, and its
   * old name answers 301 to /repositories/:id until a repository is created there again.
   */
  moveRepo(from: string, to: string): GitHubRepo {
    const repo = this.#repos.get(from.toLowerCase());
    if (!repo) throw new Error(`no repository ${from}`);
    const [owner, name, ...rest] = to.split('/');
    if (!owner || !name || rest.length > 0) throw new Error(`bad repository name ${to}`);
    if (!this.#owner(owner)) throw new Error(`no user or org ${owner}`);
    if (this.#repos.has(to.toLowerCase())) throw new Error(`${to} exists`);
    this.#repos.delete(from.toLowerCase());
    repo.owner = owner;
    repo.name = name;
    this.#repos.set(to.toLowerCase(), repo);
    this.#redirects.set(from.toLowerCase(), repo.id);
    this.#redirects.delete(to.toLowerCase());
    // Token and installation selections hold the repository (by id on GitHub), not its name.
    for (const token of this.#tokens.values()) {
      if (token.repositories !== 'all')
        token.repositories = token.repositories.map((n) => (n.toLowerCase() === from.toLowerCase() ? to : n));
    }
    return repo;
  }

  addToken(init: Partial<GitHubToken> & { token: string; kind: TokenKind }): GitHubToken {
    if (init.kind === 'installation' ? init.user : !init.user) {
      throw new Error('installation tokens have no user; every other kind needs one');
    }
    if (init.user) this.#requireUser(init.user);
    const token: GitHubToken = {
      scopes: [],
      repositories: init.kind === 'installation' ? [] : 'all',
      permission: 'write',
      appPermissions: { metadata: 'read', contents: 'write', packages: 'write' },
      expired: false,
      revoked: false,
      ...init,
    };
    this.#tokens.set(token.token, token);
    return token;
  }

  /** Starts every rate-limit window afresh. */
  resetRateLimits(): void {
    this.#buckets.clear();
    this.#secondary.clear();
  }

  /** Requests counted against the quota `token` draws on (its user's; an installation's own); absent: `address`'s. */
  quotaUsed(token?: string, address = '127.0.0.1'): number {
    const found = token === undefined ? undefined : this.#tokens.get(token);
    if (token !== undefined && !found) throw new Error('unknown token');
    const caller = found && { token: found, user: found.user ? this.#requireUser(found.user) : undefined };
    return this.#bucket(caller, address).used;
  }

  // ---- endpoints ------------------------------------------------------------------------------

  #user(caller: Caller): Reply {
    if (!caller) return message(401, 'Requires authentication', `${DOCS}/users/users#get-the-authenticated-user`);
    if (!caller.user) {
      return message(403, 'Resource not accessible by integration', `${DOCS}/users/users#get-the-authenticated-user`);
    }
    return { status: 200, body: this.#userJson(caller.user) };
  }

  #repo(req: FakeRequest, caller: Caller, mount: string): Reply {
    const name = `${req.params.owner}/${req.params.repo}`.toLowerCase();
    const repo = this.#repos.get(name);
    if (!repo) {
      const movedTo = this.#redirects.get(name);
      if (movedTo === undefined || !this.#byId(movedTo)) return NOT_FOUND;
      const url = `${this.url}${mount}/repositories/${movedTo}`;
      return {
        status: 301,
        headers: { location: url },
        body: { message: 'Moved Permanently', url, documentation_url: `${DOCS}/repos/repos#get-a-repository` },
      };
    }
    if (!this.#canSee(caller, repo)) return NOT_FOUND;
    return { status: 200, body: this.#repoJson(repo, caller) };
  }

  #repoById(req: FakeRequest, caller: Caller): Reply {
    const repo = this.#byId(Number(req.params.id));
    if (!repo || !this.#canSee(caller, repo)) return NOT_FOUND;
    return { status: 200, body: this.#repoJson(repo, caller) };
  }

  /** GitHub App user tokens only: the App's installations on accounts whose repositories the token reaches. */
  #userInstallations(caller: Caller): Reply {
    if (caller?.token.kind !== 'app_user') {
      return message(
        403,
        'You must authenticate with an access token authorized to a GitHub App in order to list installations',
        `${DOCS}/apps/installations#list-app-installations-accessible-to-the-user-access-token`,
      );
    }
    const selected = caller.token.repositories;
    const accounts =
      selected === 'all'
        ? [...this.#orgs.values(), ...this.#users.values()].map((o) => o.login)
        : selected.map((n) => n.split('/')[0]!);
    const owners = [...new Map(accounts.map((login) => [login.toLowerCase(), this.#owner(login)])).values()].filter(
      (o) => o !== undefined,
    );
    const installations = owners.map((owner) => ({
      id: 10_000 + owner.id,
      account: {
        login: owner.login,
        id: owner.id,
        type: 'members' in owner ? 'Organization' : 'User',
        site_admin: false,
      },
      repository_selection: selected === 'all' ? 'all' : 'selected',
      app_id: 1,
      app_slug: 'forgegate-test-app',
      target_id: owner.id,
      target_type: 'members' in owner ? 'Organization' : 'User',
      permissions: caller.token.appPermissions,
      events: [],
    }));
    return { status: 200, body: { total_count: installations.length, installations } };
  }

  #installationRepos(caller: Caller): Reply {
    if (caller?.token.kind !== 'installation') {
      return message(
        403,
        'You must authenticate with an installation access token in order to list repositories for an installation.',
        `${DOCS}/apps/installations#list-repositories-accessible-to-the-app-installation`,
      );
    }
    const names = caller.token.repositories === 'all' ? [...this.#repos.keys()] : caller.token.repositories;
    const repos = names.flatMap((name) => {
      const repo = this.#repos.get(name.toLowerCase());
      return repo ? [this.#repoJson(repo, caller)] : [];
    });
    return {
      status: 200,
      body: {
        total_count: repos.length,
        repository_selection: caller.token.repositories === 'all' ? 'all' : 'selected',
        repositories: repos,
      },
    };
  }

  // ---- authentication, rate limit, ETag -------------------------------------------------------

  /**
   * Wraps an endpoint the way api.github.com does: bad credentials 401 before anything else;
   * X-RateLimit-* on every answer; X-OAuth-Scopes for classic and OAuth tokens; a weak ETag on
   * 200s, answered with a free 304 when If-None-Match matches; 403 (or 429) once the window's
   * budget is spent.
   */
  #metered(req: FakeRequest, handle: (caller: Caller) => Reply): Reply {
    const credential = /^(?:token|bearer)\s+(\S+)$/i.exec(req.header('authorization') ?? '')?.[1];
    const token = credential === undefined ? undefined : this.#tokens.get(credential);
    if (credential !== undefined && (!token || token.expired || token.revoked)) {
      return this.#withRateHeaders(BAD_CREDENTIALS, this.#bucket(undefined, req.remoteAddress), false);
    }
    const caller: Caller = token && { token, user: token.user ? this.#requireUser(token.user) : undefined };
    const bucket = this.#bucket(caller, req.remoteAddress);
    const secondary = this.#secondaryLimited(caller, req.remoteAddress);
    if (secondary) return this.#withRateHeaders(secondary, bucket, false);
    if (bucket.used >= bucket.limit) {
      const who = !caller
        ? `${req.remoteAddress}. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)`
        : caller.user
          ? `user ID ${caller.user.id}.`
          : 'installation ID 1.';
      const limited = message(
        this.rateLimit.status,
        `API rate limit exceeded for ${who}`,
        `${DOCS}/overview/rate-limits-for-the-rest-api`,
      );
      return this.#withRateHeaders(limited, bucket, false);
    }

    let reply = handle(caller);
    if (reply.status === 200) {
      const etag = `W/"${createHash('sha256').update(JSON.stringify(reply.body)).digest('hex')}"`;
      reply = { ...reply, headers: { ...reply.headers, etag } };
      const wanted = (req.header('if-none-match') ?? '').split(',').map((t) => t.trim());
      if (wanted.includes(etag)) reply = { status: 304, headers: { etag } };
    }
    const headers: Record<string, string> = {
      ...reply.headers,
      'cache-control': `${caller ? 'private' : 'public'}, max-age=60, s-maxage=60`,
      vary: 'Accept, Authorization, Cookie, X-GitHub-OTP',
      'x-github-media-type': 'github.v3; format=json',
    };
    if (token && (token.kind === 'classic' || token.kind === 'oauth'))
      headers['x-oauth-scopes'] = token.scopes.join(', ');
    return this.#withRateHeaders({ ...reply, headers }, bucket, reply.status !== 304);
  }

  #secondaryLimited(caller: Caller, address: string): Reply | undefined {
    if (!this.secondaryLimit) return undefined;
    const { requests, periodSeconds } = this.secondaryLimit;
    const now = Date.now() / 1000;
    const window = Math.floor(now / periodSeconds);
    const key = !caller ? `address:${address}` : caller.user ? `user:${caller.user.id}` : `token:${caller.token.token}`;
    const seen = this.#secondary.get(key);
    const count = seen?.window === window ? seen.count + 1 : 1;
    this.#secondary.set(key, { window, count });
    if (count <= requests) return undefined;
    const limited = message(
      403,
      'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.',
      `${DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits`,
    );
    return { ...limited, headers: { 'retry-after': String(Math.ceil((window + 1) * periodSeconds - now)) } };
  }

  /** GitHub counts per user for user tokens, per installation token, and per address without one. */
  #bucket(caller: Caller, address: string): Bucket {
    const key = !caller ? `address:${address}` : caller.user ? `user:${caller.user.id}` : `token:${caller.token.token}`;
    const now = Math.floor(Date.now() / 1000);
    let bucket = this.#buckets.get(key);
    if (!bucket || bucket.resetAt <= now) {
      bucket = { limit: caller ? this.rateLimit.limit : this.rateLimit.anonymousLimit, used: 0, resetAt: now + 3600 };
      this.#buckets.set(key, bucket);
    }
    return bucket;
  }

  #withRateHeaders(reply: Reply, bucket: Bucket, counts: boolean): Reply {
    if (counts) bucket.used += 1;
    return {
      ...reply,
      headers: {
        ...reply.headers,
        'x-ratelimit-limit': String(bucket.limit),
        'x-ratelimit-remaining': String(Math.max(0, bucket.limit - bucket.used)),
        'x-ratelimit-reset': String(bucket.resetAt),
        'x-ratelimit-used': String(bucket.used),
        'x-ratelimit-resource': 'core',
      },
    };
  }

  // ---- authorization --------------------------------------------------------------------------

  #canSee(caller: Caller, repo: GitHubRepo): boolean {
    if (repo.visibility === 'public') return true;
    if (!caller || !this.#tokenReaches(caller.token, repo)) return false;
    if (!caller.user) return true; // an installation sees its own repositories
    // Internal repositories are open to the enterprise; the owning org's members stand in for it.
    const org = this.#orgs.get(repo.owner.toLowerCase());
    if (repo.visibility === 'internal' && org?.members.has(caller.user.login.toLowerCase())) return true;
    return this.#role(caller.user, repo) !== undefined;
  }

  /** Whether the credential itself may touch a non-public repository, whatever the user's role. */
  #tokenReaches(token: GitHubToken, repo: GitHubRepo): boolean {
    switch (token.kind) {
      case 'classic':
      case 'oauth':
        return token.scopes.includes('repo');
      default:
        return (
          token.repositories === 'all' ||
          token.repositories.some((n) => n.toLowerCase() === fullName(repo).toLowerCase())
        );
    }
  }

  #role(user: GitHubUser, repo: GitHubRepo): Role | undefined {
    const login = user.login.toLowerCase();
    const roles: Role[] = [];
    if (repo.owner.toLowerCase() === login) roles.push('admin');
    const org = this.#orgs.get(repo.owner.toLowerCase());
    const orgRole = org?.members.get(login);
    if (orgRole === 'admin') roles.push('admin');
    if (orgRole === 'member' && org && org.base_permission !== 'none') roles.push(org.base_permission);
    for (const team of this.#teams) {
      const granted = team.repos.get(fullName(repo).toLowerCase());
      if (granted && team.members.includes(login) && team.org.toLowerCase() === repo.owner.toLowerCase()) {
        roles.push(granted);
      }
    }
    const collaborator = repo.collaborators.get(login);
    if (collaborator) roles.push(collaborator);
    return roles.sort((a, b) => ROLES.indexOf(b) - ROLES.indexOf(a))[0];
  }

  /**
   * The permissions object states the user's role on the repository; the token's narrower grant
   * does not show in it. Installations are shown what their App installation holds (write on
   * their repositories), whatever the token itself was narrowed to. Pull is true because it is
   * only asked for repositories the caller can see.
   */
  #permissions(caller: NonNullable<Caller>, repo: GitHubRepo): Record<string, boolean> {
    const role: Role | undefined = caller.user
      ? this.#role(caller.user, repo)
      : this.#tokenReaches(caller.token, repo)
        ? 'write'
        : undefined;
    const at = (min: Role): boolean => role !== undefined && ROLES.indexOf(role) >= ROLES.indexOf(min);
    return { admin: at('admin'), maintain: at('maintain'), push: at('write'), triage: at('triage'), pull: true };
  }

  // ---- JSON -----------------------------------------------------------------------------------

  #userJson(user: GitHubUser): Record<string, unknown> {
    return {
      login: user.login,
      id: user.id,
      node_id: `U_${user.id}`,
      type: user.type,
      site_admin: user.site_admin,
      name: user.login,
      html_url: `https://github.com/${user.login}`,
    };
  }

  #repoJson(repo: GitHubRepo, caller: Caller): Record<string, unknown> {
    const owner = this.#owner(repo.owner);
    return {
      id: repo.id,
      node_id: `R_${repo.id}`,
      name: repo.name,
      full_name: fullName(repo),
      private: repo.visibility !== 'public',
      owner: {
        login: owner?.login ?? repo.owner,
        id: owner?.id ?? 0,
        type: owner && 'members' in owner ? 'Organization' : (owner?.type ?? 'User'),
        site_admin: false,
      },
      html_url: `https://github.com/${fullName(repo)}`,
      fork: false,
      visibility: repo.visibility,
      archived: repo.archived,
      disabled: false,
      default_branch: 'main',
      ...(caller ? { permissions: this.#permissions(caller, repo) } : {}),
    };
  }

  // ---- lookups --------------------------------------------------------------------------------

  protected notFound(): Reply {
    return message(404, 'Not Found');
  }

  /** Explicit ids are honoured, and automatic ones never collide with them. */
  #id(explicit?: number): number {
    const id = explicit ?? this.#nextId;
    this.#nextId = Math.max(this.#nextId, id + 1);
    return id;
  }

  #byId(id: number): GitHubRepo | undefined {
    return [...this.#repos.values()].find((r) => r.id === id);
  }

  #owner(login: string): GitHubUser | GitHubOrg | undefined {
    return this.#orgs.get(login.toLowerCase()) ?? this.#users.get(login.toLowerCase());
  }

  #requireUser(login: string): GitHubUser {
    const user = this.#users.get(login.toLowerCase());
    if (!user) throw new Error(`no user ${login}`);
    return user;
  }

  #requireOrg(login: string): GitHubOrg {
    const org = this.#orgs.get(login.toLowerCase());
    if (!org) throw new Error(`no org ${login}`);
    return org;
  }
}

function fullName(repo: GitHubRepo): string {
  return `${repo.owner}/${repo.name}`;
}
