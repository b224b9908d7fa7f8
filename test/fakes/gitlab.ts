import { FakeServer, type FakeRequest, type Reply } from './server.js';

// Shapes, messages and checks follow GitLab's own code (lib/api/api_guard.rb, auth_finders.rb,
// projects.rb, members.rb, jobs.rb, job_token_scope.rb, Oauth::TokenInfoController,
// project_container_registry_protection_rules.rb, metadata.rb).

export type UserState = 'active' | 'blocked' | 'deactivated';
export type TokenKind = 'personal' | 'project' | 'group' | 'service_account' | 'oauth';
export type Visibility = 'public' | 'internal' | 'private';
export type RegistryAccessLevel = 'enabled' | 'private' | 'disabled';
export type JobStatus = 'created' | 'pending' | 'running' | 'success' | 'failed' | 'canceled';

export const ACCESS = { guest: 10, reporter: 20, developer: 30, maintainer: 40, owner: 50 } as const;

export interface GitLabUser {
  id: number;
  username: string;
  name: string;
  state: UserState;
  is_admin: boolean;
  external: boolean;
  bot: boolean;
}

export interface GitLabToken {
  id: number;
  token: string;
  kind: TokenKind;
  name: string;
  user_id: number;
  scopes: string[];
  revoked: boolean;
  /** 'YYYY-MM-DD' (a PAT is dead from that day's start, UTC, as in GitLab) or an ISO instant; null: never. */
  expires_at: string | null;
  created_at: Date;
}

export interface GitLabGroup {
  id: number;
  full_path: string;
  parent_id: number | null;
}

export interface GitLabProject {
  id: number;
  path_with_namespace: string;
  namespace_id: number;
  visibility: Visibility;
  archived: boolean;
  container_registry_access_level: RegistryAccessLevel;
}

export interface GitLabJob {
  id: number;
  token: string;
  status: JobStatus;
  ref: string;
  sha: string;
  user_id: number;
  project_id: number;
  pipeline_id: number;
}

/** A protected container repository rule (GitLab 17.9+); levels are null where the rule leaves an action open. */
export type ProtectionLevel = 'maintainer' | 'owner' | 'admin';
export interface GitLabProtectionRule {
  id: number;
  project_id: number;
  repository_path_pattern: string;
  minimum_access_level_for_push: ProtectionLevel | null;
  minimum_access_level_for_delete: ProtectionLevel | null;
}

interface Membership {
  source: 'project' | 'group';
  source_id: number;
  user_id: number;
  access_level: number;
  /** `awaiting`: added past a user cap (Premium), listed by the members API but without access. */
  state: 'active' | 'awaiting';
}

type Caller = { user: GitLabUser; token: GitLabToken };
type Auth = { caller: Caller | undefined } | { reply: Reply };

const CREATED_AT = '2024-01-01T00:00:00.000Z';
const API = ['/api/v4'];
const READ_API = ['api', 'read_api'];

const message = (status: number, text: string): Reply => ({ status, body: { message: text } });
const UNAUTHORIZED = message(401, '401 Unauthorized');
const notFound = (what: string): Reply => message(404, `404 ${what} Not Found`);

function invalidToken(description: string): Reply {
  return {
    status: 401,
    headers: {
      'www-authenticate': `Bearer realm="The API", error="invalid_token", error_description="${description}"`,
    },
    body: { error: 'invalid_token', error_description: description },
  };
}

export class FakeGitLab extends FakeServer {
  protected readonly contentType = 'application/json';

  readonly #users = new Map<number, GitLabUser>();
  readonly #tokens = new Map<string, GitLabToken>();
  readonly #groups = new Map<number, GitLabGroup>();
  readonly #projects = new Map<number, GitLabProject>();
  readonly #members: Membership[] = [];
  readonly #jobs = new Map<string, GitLabJob>();
  readonly #inboundAllowlist = new Map<number, Set<number>>();
  readonly #protectionRules: GitLabProtectionRule[] = [];
  /** Old full paths a renamed or transferred project left behind (GitLab's redirect routes). */
  readonly #redirects = new Map<string, number>();
  #nextId = 1;
  /**
   * What GET /metadata reports. Below 17.9 the protection rules API does not exist: GitLab
   * answers its route with a plain 404 (17.2-17.8 served an experimental route, not modelled).
   */
  version = '17.9.2';

  /**
   * The instance's Admin Mode setting (Admin Area > Settings > General > Sign-in restrictions).
   * When on, an admin's token acts as an admin only with the `admin_mode` scope; without it the
   * admin is judged like any user (visibility, members, allowlists).
   */
  adminMode = false;

  /**
   * GitLab's `external_url`: every `web_url` it returns is built from it, and it may differ
   * from the URL the API is reached at (another host or port, a relative root such as
   * `https://git.example.com/gitlab`). Undefined: the fake's own URL.
   */
  externalUrl: string | undefined;

  /**
   * The instance's API rate limits (Admin Area > Settings > Network > User and IP rate limits,
   * enforced by Rack::Attack in front of the API): at most `requests` per window of
   * `periodSeconds`, counted per user for a valid token and per address without one (an
   * unknown, expired or revoked token counts as none). Past it, 429 "Retry later" with
   * Retry-After and RateLimit-* headers until the window ends; with `headers: false`, a bare
   * 429, as a proxy in front of GitLab or an older GitLab sends it. Undefined: no limit (the
   * default, as on a fresh instance).
   */
  throttle: { requests: number; periodSeconds: number; headers: boolean } | undefined;
  readonly #throttled = new Map<string, { window: number; count: number }>();

  constructor() {
    super();
    this.#api('/personal_access_tokens/self', (r) => this.#tokenSelf(r));
    this.#api('/user', (r) => this.#currentUser(r));
    this.#api('/users/:id', (r) => this.#userById(r));
    this.#api('/job', (r) => this.#currentJob(r));
    this.#api('/projects/:id', (r) => this.#project(r));
    this.#api('/projects/:id/members/all/:user_id', (r) => this.#member(r));
    this.#api('/projects/:id/job_token_scope/allowlist', (r) => this.#allowlist(r));
    this.#api('/projects/:id/registry/protection/repository/rules', (r) => this.#protectionRuleList(r));
    this.#api('/metadata', (r) => this.#metadata(r));
    this.#api('/application/settings', (r) => this.#settings(r));
    // Doorkeeper's endpoint lives at the instance root, outside the API.
    this.route('GET', '/oauth/token/info', (r) => this.#oauthTokenInfo(r));
  }

  // ---- model ----------------------------------------------------------------------------------
  // Every add* returns the live record: mutate it (token.revoked = true, job.status = 'success')
  // to change what the fake answers next.

  addUser(init: Partial<GitLabUser> & { username: string }): GitLabUser {
    const user: GitLabUser = {
      name: init.username,
      state: 'active',
      is_admin: false,
      external: false,
      bot: false,
      ...init,
      id: this.#id(init.id),
    };
    this.#users.set(user.id, user);
    return user;
  }

  addToken(init: Partial<GitLabToken> & { token: string; user_id: number }): GitLabToken {
    this.#user(init.user_id);
    const token: GitLabToken = {
      kind: 'personal',
      name: 'token',
      scopes: ['api'],
      revoked: false,
      expires_at: null,
      created_at: new Date(),
      ...init,
      id: this.#id(init.id),
    };
    this.#tokens.set(token.token, token);
    return token;
  }

  /** Creates the group and any missing ancestors. */
  addGroup(fullPath: string): GitLabGroup {
    const existing = this.#groupByPath(fullPath);
    if (existing) return existing;
    const parentPath = fullPath.split('/').slice(0, -1).join('/');
    const group: GitLabGroup = {
      id: this.#id(),
      full_path: fullPath,
      parent_id: parentPath ? this.addGroup(parentPath).id : null,
    };
    this.#groups.set(group.id, group);
    return group;
  }

  /** Its namespace becomes a group (created when missing); personal namespaces are not modelled. */
  addProject(init: Partial<Omit<GitLabProject, 'namespace_id'>> & { path_with_namespace: string }): GitLabProject {
    const namespacePath = init.path_with_namespace.split('/').slice(0, -1).join('/');
    if (!namespacePath) throw new Error(`project path needs a namespace: ${init.path_with_namespace}`);
    const project: GitLabProject = {
      visibility: 'private',
      archived: false,
      container_registry_access_level: 'enabled',
      ...init,
      id: this.#id(init.id),
      namespace_id: this.addGroup(namespacePath).id,
    };
    this.#projects.set(project.id, project);
    // A new route takes precedence over, and removes, a redirect route at the same path.
    this.#redirects.delete(project.path_with_namespace.toLowerCase());
    return project;
  }

  /**
   * Renames or transfers a project, as GitLab does: the project keeps its id, members and jobs,
   * and its old path becomes a redirect route that the API follows (`GET /projects/old%2Fpath`
   * answers with the project at its new path) until a new project or group takes the old path.
   */
  moveProject(from: string, to: string): GitLabProject {
    const project = this.#requireProject(from);
    if (this.#projectByPath(to)) throw new Error(`project ${to} exists`);
    const namespacePath = to.split('/').slice(0, -1).join('/');
    if (!namespacePath) throw new Error(`project path needs a namespace: ${to}`);
    this.#redirects.set(project.path_with_namespace.toLowerCase(), project.id);
    project.path_with_namespace = to;
    project.namespace_id = this.addGroup(namespacePath).id;
    this.#redirects.delete(to.toLowerCase());
    return project;
  }

  /** Direct membership of a project or group; group members inherit into subgroups' projects. */
  addMember(path: string, userId: number, accessLevel: number, state: Membership['state'] = 'active'): void {
    this.#user(userId);
    const project = this.#projectByPath(path);
    const source = project ? { source: 'project' as const, source_id: project.id } : undefined;
    const group = this.#groupByPath(path);
    const target = source ?? (group && { source: 'group' as const, source_id: group.id });
    if (!target) throw new Error(`no project or group ${path}`);
    this.#members.push({ ...target, user_id: userId, access_level: accessLevel, state });
  }

  /** Ends a direct membership of a project or group (what user_remove_from_team/_group report). */
  removeMember(path: string, userId: number): void {
    const source = this.#projectByPath(path) ? ('project' as const) : ('group' as const);
    const sourceId = (this.#projectByPath(path) ?? this.#groupByPath(path))?.id;
    const index = this.#members.findIndex(
      (m) => m.source === source && m.source_id === sourceId && m.user_id === userId,
    );
    if (index < 0) throw new Error(`user ${userId} is no direct member of ${path}`);
    this.#members.splice(index, 1);
  }

  addJob(
    init: Partial<Omit<GitLabJob, 'project_id'>> & { token: string; project: string; user_id: number },
  ): GitLabJob {
    this.#user(init.user_id);
    const { project: path, ...rest } = init;
    const job: GitLabJob = {
      status: 'running',
      ref: 'main',
      sha: '0123456789abcdef0123456789abcdef01234567',
      ...rest,
      id: this.#id(init.id),
      pipeline_id: this.#id(init.pipeline_id),
      project_id: this.#requireProject(path).id,
    };
    this.#jobs.set(job.token, job);
    return job;
  }

  /** Lets CI jobs of `source` use their job token on `target` (the target's inbound allowlist). */
  allowJobTokenAccess(target: string, source: string): void {
    const targetId = this.#requireProject(target).id;
    const sources = this.#inboundAllowlist.get(targetId) ?? new Set<number>();
    sources.add(this.#requireProject(source).id);
    this.#inboundAllowlist.set(targetId, sources);
  }

  /** Protects the container repositories of `project` matching `pattern` (the full image path, `*` wildcards). */
  addProtectionRule(
    project: string,
    init: { pattern: string; push?: ProtectionLevel | null; delete?: ProtectionLevel | null },
  ): GitLabProtectionRule {
    const target = this.#requireProject(project);
    // GitLab's validations: the pattern starts with the project's full path; at least one level is set.
    if (!init.pattern.toLowerCase().startsWith(target.path_with_namespace.toLowerCase())) {
      throw new Error(`pattern ${init.pattern} does not start with ${target.path_with_namespace}`);
    }
    if ((init.push ?? null) === null && (init.delete ?? null) === null) {
      throw new Error('a rule needs a level for push or delete');
    }
    const rule: GitLabProtectionRule = {
      id: this.#id(),
      project_id: target.id,
      repository_path_pattern: init.pattern,
      minimum_access_level_for_push: init.push ?? null,
      minimum_access_level_for_delete: init.delete ?? null,
    };
    this.#protectionRules.push(rule);
    return rule;
  }

  /** The live rules of `project`. */
  protectionRules(project: string): GitLabProtectionRule[] {
    const id = this.#requireProject(project).id;
    return this.#protectionRules.filter((rule) => rule.project_id === id);
  }

  removeProtectionRule(rule: GitLabProtectionRule): void {
    const index = this.#protectionRules.indexOf(rule);
    if (index >= 0) this.#protectionRules.splice(index, 1);
  }

  /** Forgets every throttle count (a new window for everyone). */
  resetThrottle(): void {
    this.#throttled.clear();
  }

  // ---- endpoints ------------------------------------------------------------------------------

  /** An API route: Rack::Attack's throttle answers before the API sees the request. */
  #api(pattern: string, handler: (req: FakeRequest) => Reply): void {
    this.route('GET', pattern, (r) => this.#throttle(r) ?? handler(r), API);
  }

  #throttle(req: FakeRequest): Reply | undefined {
    if (!this.throttle) return undefined;
    const { requests, periodSeconds, headers } = this.throttle;
    const now = Date.now() / 1000;
    const window = Math.floor(now / periodSeconds);
    const key = this.#throttleKey(req);
    const seen = this.#throttled.get(key);
    const count = seen?.window === window ? seen.count + 1 : 1;
    this.#throttled.set(key, { window, count });
    if (count <= requests) return undefined;
    const resetAt = (window + 1) * periodSeconds;
    const rateHeaders = {
      'retry-after': String(Math.ceil(resetAt - now)),
      'ratelimit-name': key.startsWith('user:') ? 'throttle_authenticated_api' : 'throttle_unauthenticated_api',
      'ratelimit-limit': String(requests),
      'ratelimit-observed': String(count),
      'ratelimit-remaining': '0',
      'ratelimit-reset': String(resetAt),
      'ratelimit-resettime': new Date(resetAt * 1000).toUTCString(),
    };
    return { status: 429, text: 'Retry later\n', ...(headers ? { headers: rateHeaders } : {}) };
  }

  /** Whose count a request draws on: the user of a valid token (any kind), else the address. */
  #throttleKey(req: FakeRequest): string {
    const secret = bearer(req) ?? req.header('private-token') ?? req.header('job-token') ?? '';
    const token = this.#tokens.get(secret);
    if (token && !isExpired(token) && !token.revoked) return `user:${token.user_id}`;
    const job = this.#jobs.get(secret);
    if (job && job.status === 'running') return `user:${job.user_id}`;
    return `address:${req.remoteAddress}`;
  }

  #tokenSelf(req: FakeRequest): Reply {
    // Every scope may read its own token.
    const auth = this.#authenticate(req, undefined);
    if ('reply' in auth) return auth.reply;
    if (!auth.caller) return UNAUTHORIZED;
    const { token } = auth.caller;
    if (token.kind === 'oauth') {
      return message(400, '400 Bad request - This endpoint requires token type to be a personal access token');
    }
    return {
      status: 200,
      body: {
        id: token.id,
        name: token.name,
        revoked: token.revoked,
        created_at: token.created_at.toISOString(),
        description: null,
        scopes: token.scopes,
        user_id: token.user_id,
        last_used_at: null,
        active: !token.revoked && !isExpired(token),
        expires_at: token.expires_at?.slice(0, 10) ?? null,
        last_used_ips: [],
      },
    };
  }

  #currentUser(req: FakeRequest): Reply {
    const auth = this.#authenticate(req, [...READ_API, 'read_user']);
    if ('reply' in auth) return auth.reply;
    if (!auth.caller) return UNAUTHORIZED;
    return { status: 200, body: this.#userJson(auth.caller.user, true) };
  }

  // Admins (with admin powers: can_read_all_resources?) see UserWithAdmin (is_admin, external);
  // everyone else UserBasic, which has neither.
  #userById(req: FakeRequest): Reply {
    const auth = this.#authenticate(req, [...READ_API, 'read_user']);
    if ('reply' in auth) return auth.reply;
    const user = this.#users.get(Number(req.params.id));
    if (!user) return message(404, '404 User Not Found');
    if (!this.#actsAsAdmin(auth.caller)) return { status: 200, body: this.#userBasicJson(user) };
    return { status: 200, body: { ...this.#userJson(user, false), is_admin: user.is_admin, external: user.external } };
  }

  #currentJob(req: FakeRequest): Reply {
    const jobToken = req.header('job-token');
    const job = this.#jobs.get(jobToken ?? bearer(req) ?? '');
    if (job && job.status !== 'running') return UNAUTHORIZED;
    if (job) return this.#inactive(this.#user(job.user_id)) ?? { status: 200, body: this.#jobJson(job) };
    if (jobToken) return UNAUTHORIZED;
    const auth = this.#authenticate(req, READ_API);
    if ('reply' in auth) return auth.reply;
    // Authenticated, but not by a job token.
    return auth.caller ? notFound('Job') : UNAUTHORIZED;
  }

  #project(req: FakeRequest): Reply {
    const auth = this.#authenticate(req, READ_API);
    if ('reply' in auth) return auth.reply;
    const project = this.#visibleProject(req.params.id, auth.caller);
    if (!project) return notFound('Project');
    // Anonymous callers get ProjectDetails: no visibility, archived, registry level or permissions.
    const body = auth.caller ? this.#projectWithAccess(project, auth.caller) : this.#basicProjectJson(project);
    return { status: 200, body };
  }

  #member(req: FakeRequest): Reply {
    const auth = this.#authenticate(req, READ_API);
    if ('reply' in auth) return auth.reply;
    if (!auth.caller) return UNAUTHORIZED;
    const project = this.#visibleProject(req.params.id, auth.caller);
    if (!project) return notFound('Project');
    const userId = Number(req.params.user_id);
    if (!Number.isInteger(userId)) return { status: 400, body: { error: 'user_id is invalid' } };
    const user = this.#users.get(userId);
    // The members API lists awaiting members too, with their state: the record, not the access.
    const records = user ? this.#memberships(user, project) : [];
    const member = records.sort((a, b) => b.access_level - a.access_level)[0];
    // members.find_by! raises RecordNotFound, which the API renders with a lower-case "found".
    if (!user || !member) return message(404, '404 Not found');
    return {
      status: 200,
      body: {
        ...this.#userBasicJson(user),
        access_level: member.access_level,
        created_at: CREATED_AT,
        expires_at: null,
        membership_state: member.state,
      },
    };
  }

  #allowlist(req: FakeRequest): Reply {
    const found = this.#projectOfMaintainer(req);
    if ('reply' in found) return found.reply;
    const { project } = found;
    // GitLab lists the project itself first.
    const ids = [project.id, ...(this.#inboundAllowlist.get(project.id) ?? [])];
    const body = ids.flatMap((id) => {
      const listed = this.#projects.get(id);
      return listed ? [this.#basicProjectJson(listed)] : [];
    });
    const total = String(body.length);
    return {
      status: 200,
      headers: {
        'x-page': '1',
        'x-per-page': '20',
        'x-total': total,
        'x-total-pages': '1',
        'x-next-page': '',
        'x-prev-page': '',
      },
      body,
    };
  }

  // authenticate!, then user_project (404 Project Not Found for whom it is hidden), then
  // authorize! :admin_container_image (Maintainer+ or admin, else 403). Not paginated.
  #protectionRuleList(req: FakeRequest): Reply {
    if (!versionAtLeast(this.version, 17, 9)) return this.notFound();
    const found = this.#projectOfMaintainer(req);
    if ('reply' in found) return found.reply;
    const { project } = found;
    return { status: 200, body: this.#protectionRules.filter((rule) => rule.project_id === project.id) };
  }

  /** The project `:id` for a signed-in Maintainer (or admin): 401 signed out, 404 hidden, 403 below Maintainer. */
  #projectOfMaintainer(req: FakeRequest): { project: GitLabProject } | { reply: Reply } {
    const auth = this.#authenticate(req, READ_API);
    if ('reply' in auth) return auth;
    if (!auth.caller) return { reply: UNAUTHORIZED };
    const project = this.#visibleProject(req.params.id, auth.caller);
    if (!project) return { reply: notFound('Project') };
    const maintainer =
      this.#actsAsAdmin(auth.caller) || this.#accessLevel(auth.caller.user, project) >= ACCESS.maintainer;
    if (!maintainer) return { reply: message(403, '403 Forbidden') };
    return { project };
  }

  #metadata(req: FakeRequest): Reply {
    const auth = this.#authenticate(req, [...READ_API, 'read_user']);
    if ('reply' in auth) return auth.reply;
    if (!auth.caller) return UNAUTHORIZED;
    return {
      status: 200,
      body: {
        version: this.version,
        revision: '0123abcd',
        kas: { enabled: false, externalUrl: null, version: null },
        enterprise: false,
      },
    };
  }

  // authenticated_as_admin!: admin powers (with Admin Mode on, the admin_mode scope) or 403.
  #settings(req: FakeRequest): Reply {
    const auth = this.#authenticate(req, READ_API);
    if ('reply' in auth) return auth.reply;
    if (!auth.caller) return UNAUTHORIZED;
    if (!this.#actsAsAdmin(auth.caller)) return message(403, '403 Forbidden');
    const body = { id: 1, admin_mode: this.adminMode, signup_enabled: true, default_project_visibility: 'private' };
    return { status: 200, body };
  }

  #oauthTokenInfo(req: FakeRequest): Reply {
    const value = bearer(req) ?? req.query.get('access_token') ?? '';
    const token = this.#tokens.get(value);
    if (!token || token.kind !== 'oauth' || token.revoked || isExpired(token)) {
      return {
        status: 401,
        body: {
          error: 'invalid_request',
          error_description:
            'The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.',
        },
      };
    }
    const expiresIn = token.expires_at
      ? Math.max(0, Math.floor((Date.parse(token.expires_at) - Date.now()) / 1000))
      : null;
    return {
      status: 200,
      body: {
        resource_owner_id: token.user_id,
        scope: token.scopes,
        expires_in: expiresIn,
        application: { uid: `app-${token.id}` },
        created_at: Math.floor(token.created_at.getTime() / 1000),
        // GitLab's backwards-compatible duplicates.
        scopes: token.scopes,
        expires_in_seconds: expiresIn,
      },
    };
  }

  // ---- authentication and authorization -------------------------------------------------------

  /**
   * GitLab's order: unknown token 401, expired 401, revoked 401, scope 403, then the user's state
   * 403. `scopes` undefined accepts any scope. No credential at all yields an anonymous caller.
   */
  #authenticate(req: FakeRequest, scopes: string[] | undefined): Auth {
    const viaBearer = bearer(req);
    const viaHeader = req.header('private-token') || undefined;
    if (viaBearer === undefined && viaHeader === undefined) return { caller: undefined };
    let token = this.#tokens.get(viaBearer ?? viaHeader ?? '');
    // OAuth tokens are only looked up from the Authorization header.
    if (viaBearer === undefined && token?.kind === 'oauth') token = undefined;
    if (!token) return { reply: UNAUTHORIZED };
    if (isExpired(token)) {
      return { reply: invalidToken('Token is expired. You can either do re-authorization or token refresh.') };
    }
    if (token.revoked) return { reply: invalidToken('Token was revoked. You have to re-authorize from the user.') };
    if (scopes && !token.scopes.some((s) => scopes.includes(s))) {
      return {
        reply: {
          status: 403,
          body: {
            error: 'insufficient_scope',
            error_description: 'The request requires higher privileges than provided by the access token.',
            scope: scopes.join(' '),
          },
        },
      };
    }
    const user = this.#user(token.user_id);
    const inactive = this.#inactive(user);
    return inactive ? { reply: inactive } : { caller: { user, token } };
  }

  /** The API guard's answer for a user who may not use the API, whatever the credential. */
  #inactive(user: GitLabUser): Reply | undefined {
    if (user.state === 'blocked') return message(403, '403 Forbidden - Your account has been blocked.');
    if (user.state === 'deactivated') {
      return message(
        403,
        '403 Forbidden - Your account has been deactivated by your administrator. ' +
          `Please log back in from a web browser to reactivate your account at ${this.#external}`,
      );
    }
    return undefined;
  }

  /** Admin powers on this request: an admin, and with Admin Mode on, a token with the admin_mode scope. */
  #actsAsAdmin(caller: Caller | undefined): boolean {
    if (!caller?.user.is_admin) return false;
    return !this.adminMode || caller.token.scopes.includes('admin_mode');
  }

  // find_project: by id, or by full path following redirect routes (follow_redirects: true).
  #visibleProject(id: string | undefined, caller: Caller | undefined): GitLabProject | undefined {
    const project = /^\d+$/.test(id ?? '')
      ? this.#projects.get(Number(id))
      : (this.#projectByPath(id ?? '') ?? this.#projects.get(this.#redirects.get((id ?? '').toLowerCase()) ?? -1));
    if (!project) return undefined;
    const user = caller?.user;
    if (project.visibility === 'public' || this.#actsAsAdmin(caller)) return project;
    if (!user) return undefined;
    if (this.#accessLevel(user, project) > 0) return project;
    return project.visibility === 'internal' && !user.external ? project : undefined;
  }

  /** Effective role: the highest of direct project membership and memberships of every ancestor group. */
  #accessLevel(user: GitLabUser, project: GitLabProject): number {
    return Math.max(this.#projectAccess(user, project), this.#groupAccess(user, project));
  }

  #projectAccess(user: GitLabUser, project: GitLabProject): number {
    return this.#highest(user, 'project', [project.id]);
  }

  #groupAccess(user: GitLabUser, project: GitLabProject): number {
    const ancestors: number[] = [];
    for (let g = this.#groups.get(project.namespace_id); g; g = this.#groups.get(g.parent_id ?? -1)) {
      ancestors.push(g.id);
    }
    return this.#highest(user, 'group', ancestors);
  }

  #highest(user: GitLabUser, source: Membership['source'], ids: number[]): number {
    return this.#members
      .filter((m) => m.user_id === user.id && m.source === source && ids.includes(m.source_id) && m.state === 'active')
      .reduce((max, m) => Math.max(max, m.access_level), 0);
  }

  /** Every membership record of the user on the project or an ancestor group, whatever its state. */
  #memberships(user: GitLabUser, project: GitLabProject): Membership[] {
    const groups: number[] = [];
    for (let g = this.#groups.get(project.namespace_id); g; g = this.#groups.get(g.parent_id ?? -1)) groups.push(g.id);
    const on = (m: Membership) => (m.source === 'project' ? m.source_id === project.id : groups.includes(m.source_id));
    return this.#members.filter((m) => m.user_id === user.id && on(m));
  }

  // ---- JSON -----------------------------------------------------------------------------------

  #userBasicJson(user: GitLabUser): Record<string, unknown> {
    return {
      id: user.id,
      username: user.username,
      name: user.name,
      state: user.state,
      locked: false,
      avatar_url: null,
      web_url: `${this.#external}/${user.username}`,
    };
  }

  #userEntityJson(user: GitLabUser): Record<string, unknown> {
    return { ...this.#userBasicJson(user), created_at: CREATED_AT, bio: '', bot: user.bot };
  }

  #userJson(user: GitLabUser, self: boolean): Record<string, unknown> {
    return {
      ...this.#userBasicJson(user),
      created_at: CREATED_AT,
      bio: '',
      bot: user.bot,
      external: user.external,
      private_profile: false,
      two_factor_enabled: false,
      ...(self ? { email: `${user.username}@example.com`, can_create_group: true, can_create_project: true } : {}),
      // UserPublic lacks is_admin; only UserWithAdmin (an admin looking at itself) carries it.
      ...(user.is_admin ? { is_admin: true } : {}),
    };
  }

  #basicProjectJson(project: GitLabProject): Record<string, unknown> {
    const path = project.path_with_namespace;
    const group = this.#groups.get(project.namespace_id);
    return {
      id: project.id,
      description: null,
      name: path.split('/').pop(),
      name_with_namespace: path.split('/').join(' / '),
      path: path.split('/').pop(),
      path_with_namespace: path,
      created_at: CREATED_AT,
      default_branch: 'main',
      web_url: `${this.#external}/${path}`,
      namespace: group && {
        id: group.id,
        name: group.full_path.split('/').pop(),
        path: group.full_path.split('/').pop(),
        kind: 'group',
        full_path: group.full_path,
        parent_id: group.parent_id,
      },
    };
  }

  #projectWithAccess(project: GitLabProject, caller: Caller): Record<string, unknown> {
    const { user } = caller;
    const access = (level: number): { access_level: number; notification_level: number } | null =>
      level > 0 ? { access_level: level, notification_level: 3 } : null;
    const level = project.container_registry_access_level;
    return {
      ...this.#basicProjectJson(project),
      archived: project.archived,
      visibility: project.visibility,
      container_registry_access_level: level,
      // Deprecated boolean: whether the registry feature is available to this caller.
      container_registry_enabled:
        level === 'enabled' ||
        (level === 'private' && (this.#actsAsAdmin(caller) || this.#accessLevel(user, project) >= ACCESS.reporter)),
      permissions: {
        project_access: access(this.#projectAccess(user, project)),
        group_access: access(this.#groupAccess(user, project)),
      },
    };
  }

  #jobJson(job: GitLabJob): Record<string, unknown> {
    const project = this.#projects.get(job.project_id);
    const web = `${this.#external}/${project?.path_with_namespace ?? ''}`;
    return {
      id: job.id,
      status: job.status,
      stage: 'build',
      name: 'build',
      ref: job.ref,
      tag: false,
      coverage: null,
      allow_failure: false,
      created_at: CREATED_AT,
      started_at: CREATED_AT,
      finished_at: null,
      erased_at: null,
      duration: null,
      queued_duration: 0.1,
      // API::Entities::User: neither is_admin nor external.
      user: this.#userEntityJson(this.#user(job.user_id)),
      commit: { id: job.sha, short_id: job.sha.slice(0, 8), title: 'commit' },
      pipeline: {
        id: job.pipeline_id,
        project_id: job.project_id,
        sha: job.sha,
        ref: job.ref,
        status: 'running',
        source: 'push',
        created_at: CREATED_AT,
        updated_at: CREATED_AT,
        web_url: `${web}/-/pipelines/${job.pipeline_id}`,
      },
      web_url: `${web}/-/jobs/${job.id}`,
      project: { ci_job_token_scope_enabled: false },
      artifacts: [],
      runner: null,
      artifacts_expire_at: null,
      archived: false,
      tag_list: [],
    };
  }

  get #external(): string {
    return (this.externalUrl ?? this.url).replace(/\/+$/, '');
  }

  // ---- lookups --------------------------------------------------------------------------------

  protected notFound(): Reply {
    return { status: 404, body: { error: '404 Not Found' } };
  }

  /** Explicit ids are honoured, and automatic ones never collide with them. */
  #id(explicit?: number): number {
    const id = explicit ?? this.#nextId;
    this.#nextId = Math.max(this.#nextId, id + 1);
    return id;
  }

  #user(id: number): GitLabUser {
    const user = this.#users.get(id);
    if (!user) throw new Error(`no user ${id}`);
    return user;
  }

  #groupByPath(path: string): GitLabGroup | undefined {
    return [...this.#groups.values()].find((g) => g.full_path.toLowerCase() === path.toLowerCase());
  }

  #projectByPath(path: string): GitLabProject | undefined {
    return [...this.#projects.values()].find((p) => p.path_with_namespace.toLowerCase() === path.toLowerCase());
  }

  #requireProject(path: string): GitLabProject {
    const project = this.#projectByPath(path);
    if (!project) throw new Error(`no project ${path}`);
    return project;
  }
}

function bearer(req: FakeRequest): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(req.header('authorization') ?? '');
  return match?.[1];
}

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [m = 0, n = 0] = version.split(/[.-]/).map(Number);
  return m > major || (m === major && n >= minor);
}

function isExpired(token: GitLabToken): boolean {
  if (!token.expires_at) return false;
  const instant = token.expires_at.length === 10 ? `${token.expires_at}T00:00:00Z` : token.expires_at;
  return Date.parse(instant) <= Date.now();
}
