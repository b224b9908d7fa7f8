import type { ForgeConfig } from '../../config/schema.js';
import { AuthenticationFailed, Unavailable } from '../../errors.js';
import { compileGlob } from '../../policy/glob.js';
import { judgeGitLab, scopeGate, type GitLabCallerFacts, type GitLabProjectFacts } from '../../policy/gitlab.js';
import { denying, judgeAll, type Judge } from '../../policy/grant.js';
import { LRUCache } from 'lru-cache';
import { ForgeRefusal, Prefetched, type Forge, type ForgeCallObserver, type ForgeJudgement } from '../forge.js';
import { GitLabApi, type Auth, type GitLabProjectJson } from './api.js';
import { JOB_TOKEN_USER, verifyAccessToken, verifyJobToken, type CredentialContext, type GitLabCaller, type GitLabSession } from './credentials.js';

// A GitLab instance as a forge: images under group/sub/project[/name] follow that project's
// members and visibility. The facts come from the API; the verdicts from policy/gitlab.ts.

/** GitLab's token prefixes (personal, OAuth app secret, CI build, trigger, deploy, feed, service account ...). */
const TOKEN_PREFIXES = /^(glpat|gloas|glcbt|glptt|gldt|glft|glsoat|glrt|glimt|glagent|glwt)-/;
/** Personal, project, group and service account tokens: the ones that may read projects. */
const ACCESS_TOKEN_PREFIX = 'glpat-';

export class GitLabForge implements Forge<GitLabSession> {
  readonly type = 'gitlab';
  readonly name: string;
  readonly prefix: string;
  private readonly api: GitLabApi;
  private readonly ctx: CredentialContext;
  private readonly pushAllowlist: { source: string; targets: RegExp[] }[];
  /** Image path -> the project found for it by anyone: try it first, skip the other candidates. */
  private readonly resolved = new LRUCache<string, string>({ maxSize: 4 * 1024 * 1024, sizeCalculation: (project, image) => image.length + project.length, ttl: 10 * 60_000 });
  private readonly prefetched = new Prefetched<GitLabProjectJson | null>();

  constructor(
    private readonly config: ForgeConfig,
    observer?: ForgeCallObserver,
  ) {
    this.name = config.name;
    this.prefix = config.prefix;
    this.api = new GitLabApi(config.name, config.url, config.timeout, observer);
    this.ctx = { forge: config.name, url: config.url, api: this.api, serviceToken: config.serviceToken };
    this.pushAllowlist = (config.jobTokenPushAllowlist ?? []).map((entry) => ({
      source: entry.source.toLowerCase(),
      targets: entry.targets.map((glob) => compileGlob(glob.toLowerCase())),
    }));
  }

  recognises(username: string, password: string): boolean {
    return username === JOB_TOKEN_USER || TOKEN_PREFIXES.test(password);
  }

  authenticate(username: string, password: string): Promise<GitLabSession> {
    if (username !== JOB_TOKEN_USER) return this.unexpected(verifyAccessToken(password, this.ctx));
    if (!this.config.jobTokens) throw new AuthenticationFailed('invalid username or token', `job tokens are turned off for forge "${this.name}"`);
    return this.unexpected(verifyJobToken(password, this.ctx));
  }

  // A token known to read projects looks its project up beside its re-verification, where
  // the project of the image is known.
  prefetch(session: GitLabSession, paths: readonly string[]): void {
    const { caller } = session;
    if (caller.kind !== 'token' || !caller.scopes.some((s) => s === 'api' || s === 'read_api')) return;
    this.lookAhead(caller.token, paths);
  }

  // A personal (or project, group, service account) access token never seen before: its
  // project lookup needs only the token, so it goes out beside the verification. Wasted when
  // the token is bad or cannot read projects (read_registry only): one call per cold token.
  speculate(username: string, password: string, paths: readonly string[]): void {
    if (username === JOB_TOKEN_USER || !password.startsWith(ACCESS_TOKEN_PREFIX)) return;
    this.lookAhead(password, paths);
  }

  abandon(_username: string, password: string): void {
    this.prefetched.discard(password);
  }

  private lookAhead(token: string, paths: readonly string[]): void {
    for (const path of paths) {
      const imagePath = path.toLowerCase();
      const candidate = this.resolved.get(imagePath) ?? (imagePath.split('/').length === 2 ? imagePath : undefined);
      if (candidate === undefined) continue;
      this.prefetched.put(token, candidate, () => this.api.project(candidate, { bearer: token }));
    }
  }

  forget(project: string): void {
    const gone = project.toLowerCase();
    for (const [image, resolvedTo] of this.resolved.entries()) {
      if (resolvedTo === gone || image === gone || image.startsWith(`${gone}/`)) this.resolved.delete(image);
    }
  }

  judge(session: GitLabSession | null, path: string): Promise<ForgeJudgement> {
    return this.unexpected(this.judgeImage(session, path));
  }

  persist(session: GitLabSession): unknown {
    const { token: _secret, ...caller } = session.caller;
    return { ...session, caller };
  }

  restore(data: unknown, password: string): GitLabSession {
    const session = data as GitLabSession;
    return { ...session, caller: { ...session.caller, token: password } };
  }

  // A refusal no rule expected (a service token lacking rights, say) is a misconfiguration:
  // a clear 503 naming the forge and the call, never a grant and never a misleading status.
  private unexpected<T>(work: Promise<T>): Promise<T> {
    return work.catch((error: unknown) => {
      if (!(error instanceof ForgeRefusal)) throw error;
      throw new Unavailable(`GitLab "${this.name}" refused ${error.endpoint} (HTTP ${error.httpStatus}); check forges[].serviceToken`, this.name);
    });
  }

  private async judgeImage(session: GitLabSession | null, path: string): Promise<ForgeJudgement> {
    const imagePath = path.toLowerCase();
    const caller = session?.caller ?? null;
    if (imagePath.split('/').length < 2) return judged(denying('no-project', `no GitLab project for image ${path}: it needs group/project`), null);
    // Scopes gate the credential before any role is looked up: a token that can earn
    // nothing costs GitLab no call.
    const gate = caller?.kind === 'token' ? scopeGate(caller.scopes) : null;
    if (gate) return judged(gate, null);

    // A running job's own project needs no lookup: the job proves the project exists and is active.
    if (caller?.kind === 'job' && candidates(imagePath).includes(caller.projectPath)) {
      const own: GitLabProjectFacts = { path: caller.projectPath, visibility: 'private', registry: 'enabled', archived: false };
      return judged(judgeGitLab({ kind: 'job', ownProject: true, role: 0, allowlisted: false, pushAllowed: false, sourcePath: caller.projectPath }, own), own.path);
    }

    const auth = this.lookupAuth(caller);
    if (auth === undefined) {
      return judged(denying('needs-service-token', `forge "${this.name}" needs a serviceToken to read the registry settings of ${path} for ${describeCaller(caller)}`), null);
    }
    const project = await this.findProject(imagePath, auth, caller);
    if (project === null) return judged(denying('no-project', `no GitLab project for image ${path}${caller ? ` visible to ${caller.username}` : ''}`), null);

    const facts: GitLabProjectFacts = {
      path: project.path_with_namespace,
      visibility: project.visibility,
      registry: project.container_registry_access_level,
      archived: project.archived,
    };
    const callerFacts = await this.callerFacts(caller, project, auth);
    // The service token sees more than the caller: a project the caller could not see
    // itself is reported as absent, as GitLab would, so reasons leak no private paths.
    if (!visibleTo(callerFacts, facts)) return judged(denying('no-project', `no GitLab project for image ${path}${caller ? ` visible to ${caller.username}` : ''}`), facts.path);
    return judged(judgeGitLab(callerFacts, facts), facts.path);
  }

  // The caller's own token when it may read projects; else the service token; else none.
  // undefined: nothing may read the project's registry settings (GitLab hides them from
  // anonymous requests), so nothing can be granted.
  private lookupAuth(caller: GitLabCaller | null): Auth | undefined {
    if (caller?.kind === 'token' && caller.scopes.some((s) => s === 'api' || s === 'read_api')) return { bearer: caller.token };
    if (this.config.serviceToken !== null) return { bearer: this.config.serviceToken };
    return undefined;
  }

  /** The first of the image path's three longest prefixes that is a project (forges.md section 1). */
  private async findProject(imagePath: string, auth: Auth, caller: GitLabCaller | null): Promise<GitLabProjectJson | null> {
    try {
      // A project can contain no groups: once any lookup found the project of this image,
      // no other candidate can be one. A 404 there means "not visible to this caller".
      const known = this.resolved.get(imagePath);
      for (const candidate of known === undefined ? candidates(imagePath) : [known]) {
        const prefetched = auth !== null && caller?.kind === 'token' && auth.bearer === caller.token ? this.prefetched.take(auth.bearer, candidate) : undefined;
        const project = await (prefetched ?? this.api.project(candidate, auth));
        if (project !== null) {
          this.resolved.set(imagePath, project.path_with_namespace.toLowerCase());
          return project;
        }
      }
      return null;
    } catch (error) {
      // The caller's own token refused mid-request (revoked, user blocked): authentication failed.
      const own = caller?.kind === 'token' && auth?.bearer === caller.token;
      if (own && error instanceof ForgeRefusal && (error.httpStatus === 401 || error.httpStatus === 403)) {
        throw new AuthenticationFailed('invalid username or token', `GitLab refused the token on ${error.endpoint} (HTTP ${error.httpStatus})`);
      }
      throw error;
    }
  }

  private async callerFacts(caller: GitLabCaller | null, project: GitLabProjectJson, auth: Auth): Promise<GitLabCallerFacts> {
    if (caller === null) return { kind: 'anonymous', anonymousPull: this.config.anonymousPull };
    const service = this.config.serviceToken;
    if (caller.kind === 'token') {
      const ownToken = auth !== null && auth.bearer === caller.token;
      const role = ownToken ? effectiveRole(project) : await this.api.memberLevel(project.id, caller.userId, service!);
      return { kind: 'user', username: caller.username, admin: caller.admin, external: caller.external, scopes: caller.scopes, role };
    }
    const ownProject = project.id === caller.projectId;
    const pushAllowed = this.pushAllowlist.some((entry) => entry.source === caller.projectPath && entry.targets.some((t) => t.test(project.path_with_namespace.toLowerCase())));
    // The allowlist and the job user's role matter only where visibility alone does not let it pull.
    const openToJobs = project.container_registry_access_level === 'enabled' && project.visibility !== 'private';
    let allowlisted = false;
    let role = 0;
    if (!ownProject && !openToJobs && service !== null) {
      [allowlisted, role] = await Promise.all([
        this.api.inboundAllowlist(project.id, service).then((ids) => ids.includes(caller.projectId)),
        this.api.memberLevel(project.id, caller.userId, service),
      ]);
    }
    return { kind: 'job', ownProject, role, allowlisted, pushAllowed, sourcePath: caller.projectPath };
  }
}

function judged(judge: Judge, project: string | null): ForgeJudgement {
  return { judgements: judgeAll(judge), project };
}

/** Longest first: the full path, minus its last segment, minus its last two; at least group/project. */
export function candidates(imagePath: string): string[] {
  const segments = imagePath.split('/');
  const out: string[] = [];
  for (let drop = 0; drop <= 2 && segments.length - drop >= 2; drop++) out.push(segments.slice(0, segments.length - drop).join('/'));
  return out;
}

function visibleTo(caller: GitLabCallerFacts, project: GitLabProjectFacts): boolean {
  if (project.visibility === 'public') return true;
  if (caller.kind === 'anonymous') return false;
  if (caller.kind === 'job') return true; // decided by the job token rules, which name no more than the image
  return caller.admin || caller.role > 0 || (project.visibility === 'internal' && !caller.external);
}

function effectiveRole(project: GitLabProjectJson): number {
  return Math.max(project.permissions?.project_access?.access_level ?? 0, project.permissions?.group_access?.access_level ?? 0);
}

function describeCaller(caller: GitLabCaller | null): string {
  if (caller === null) return 'anonymous callers';
  if (caller.kind === 'job') return `job tokens of ${caller.projectPath}`;
  return `${caller.username}, whose token scopes [${caller.scopes.join(', ')}] cannot read projects`;
}
