import type { ForgeConfig } from '../../config/schema.js';
import type { PasswordCredential } from '../../credentials/credential.js';
import { AuthenticationFailed } from '../../errors.js';
import { compileGlob } from '../../policy/glob.js';
import { judgeGitLab, judgeGitLabCatalog, MAINTAINER, scopeGate } from '../../policy/gitlab.js';
import type { GitLabCallerFacts, GitLabProjectFacts } from '../../policy/gitlab.js';
import { denying, judgeAll, type Judge, type Judgements } from '../../policy/grant.js';
import type { ProtectedCaller } from '../../policy/protection.js';
import { LRUCache } from 'lru-cache';
import { unexpected } from '../call.js';
import {
  ForgeRefusal,
  Prefetched,
  type CacheableForge,
  type ForgeCallObserver,
  type ForgeJudgement,
  type ProjectFacts,
} from '../forge.js';
import { GitLabApi, type Auth, type GitLabProjectJson } from './api.js';
import {
  revive,
  verifyAccessToken,
  verifyJobToken,
  type CredentialContext,
  type GitLabCaller,
  type GitLabSession,
} from './credentials.js';
import { judged } from '../judged.js';
import { GITLAB_ACCESS_TOKEN_PREFIX, issuedBy, JOB_TOKEN_USER } from '../token-prefixes.js';
import { ProtectionRules, type ProtectedProject, type RuleReader } from './protection.js';

// A GitLab instance as a forge: images under group/sub/project[/name] follow that project's
// members and visibility. The facts come from the API; the verdicts from policy/gitlab.ts.

export class GitLabForge implements CacheableForge<GitLabSession> {
  readonly type = 'gitlab';
  readonly name: string;
  readonly prefix: string;
  private readonly api: GitLabApi;
  private readonly ctx: CredentialContext;
  private readonly pushAllowlist: PushAllowlistEntry[];
  /**
   * Image path -> the candidate where anyone last found its project: asked first. Only an order:
   * every request still asks GitLab, and takes the answer only for the path it asked.
   */
  private readonly resolved = new LRUCache<string, string>({
    maxSize: 4 * 1024 * 1024,
    sizeCalculation: (project, image) => image.length + project.length,
    ttl: 10 * 60_000,
  });
  private readonly prefetched = new Prefetched<GitLabProjectJson | null>();
  /** Protected container repositories: the rules each project's writes are also held to. */
  private readonly protection: ProtectionRules;

  constructor(
    private readonly config: ForgeConfig,
    observer?: ForgeCallObserver,
  ) {
    this.name = config.name;
    this.prefix = config.prefix;
    this.api = new GitLabApi(config.name, config.url, config.timeout, observer);
    const { serviceToken, adminMode } = config;
    this.ctx = { forge: config.name, url: config.url, api: this.api, serviceToken, adminMode };
    this.pushAllowlist = (config.jobTokenPushAllowlist ?? []).map((entry) => ({
      source: entry.source.toLowerCase(),
      targets: entry.targets.map((glob) => compileGlob(glob.toLowerCase())),
    }));
    this.protection = new ProtectionRules(this.api, config);
  }

  recognises({ username, password }: PasswordCredential): boolean {
    return username === JOB_TOKEN_USER || issuedBy('gitlab', password);
  }

  credentialKey({ username, password }: PasswordCredential): readonly string[] {
    return [username === JOB_TOKEN_USER ? 'job-token' : 'token', password];
  }

  authenticate({ username, password }: PasswordCredential): Promise<GitLabSession> {
    if (username !== JOB_TOKEN_USER) return this.unexpected(verifyAccessToken(password, this.ctx));
    if (!this.config.jobTokens)
      throw new AuthenticationFailed('invalid username or token', `job tokens are turned off for forge "${this.name}"`);
    return this.unexpected(
      verifyJobToken(password, this.ctx).then(({ session, project }) => {
        // The job's project was just read to learn its path: its first judgement takes that answer.
        const item = project && jobItem(project.path_with_namespace.toLowerCase());
        if (item) this.prefetched.put(password, item, () => Promise.resolve(project));
        return session;
      }),
    );
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
  speculate({ username, password }: PasswordCredential, paths: readonly string[]): void {
    if (username === JOB_TOKEN_USER || !password.startsWith(GITLAB_ACCESS_TOKEN_PREFIX)) return;
    this.lookAhead(password, paths);
  }

  abandon({ password }: PasswordCredential): void {
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

  // ---- protected container repositories (protection.ts) ----
  useProjectFacts(facts: ProjectFacts): void {
    this.protection.useProjectFacts(facts);
  }

  notices(): string[] {
    return this.protection.notices();
  }

  /** An OIDC rule's judge on the job's own project, held to that project's protection rules. */
  async restrict(judge: Judge, project: string, path: string, caller: ProtectedCaller): Promise<Judge> {
    const target = { id: project, path: project.toLowerCase() };
    const reader: RuleReader = { admin: caller.kind === 'admin', ownToken: null, role: async () => caller };
    return (await this.unexpected(this.protection.guard(judge, path.toLowerCase(), target, reader))).judge;
  }

  private async guarded(
    base: Judge,
    imagePath: string,
    project: ProtectedProject,
    reader: RuleReader,
  ): Promise<ForgeJudgement> {
    const { judge, maxAge } = await this.protection.guard(base, imagePath, project, reader);
    return maxAge === undefined ? judged(judge, project.path) : { ...judged(judge, project.path), maxAge };
  }

  /** How a caller reads rules and shows its role. A job is judged on its user's role (as GitLab does). */
  private ruleReader(
    caller: GitLabCaller | null,
    facts: GitLabCallerFacts,
    project: GitLabProjectJson,
    auth: Auth,
  ): RuleReader {
    if (caller === null || facts.kind === 'anonymous') {
      const role = async (): Promise<ProtectedCaller> => ({ kind: 'unknown', why: 'anonymous callers have no role' });
      return { admin: false, ownToken: null, role };
    }
    if (caller.kind === 'job') return this.jobReader(caller, project.id, facts.role);
    const mayList = auth !== null && auth.bearer === caller.token && effectiveRole(project) >= MAINTAINER;
    const role: ProtectedCaller = { kind: 'member', level: facts.kind === 'user' ? facts.role : 0, as: 'you are' };
    return { admin: caller.admin, ownToken: mayList ? caller.token : null, role: async () => role };
  }

  // A job's own project is decided without its user's role; a rule that applies needs it, from
  // the service token's members/all. Unknown: the rule refuses, saying why.
  private jobReader(caller: Extract<GitLabCaller, { kind: 'job' }>, projectId: number, known: number): RuleReader {
    const as = `the job's user ${caller.username} is`;
    const whose = `the role of the job's user ${caller.username}`;
    const role = async (): Promise<ProtectedCaller> => {
      if (known > 0) return { kind: 'member', level: known, as };
      const service = this.config.serviceToken;
      if (service === null) return { kind: 'unknown', why: `${whose} cannot be looked up without a serviceToken` };
      try {
        return { kind: 'member', level: await this.api.memberLevel(projectId, caller.userId, service), as };
      } catch (error) {
        if (!(error instanceof ForgeRefusal)) throw error;
        return { kind: 'unknown', why: `${whose} could not be looked up (HTTP ${error.httpStatus})` };
      }
    };
    return { admin: false, ownToken: null, role };
  }
  // ---- end of protected container repositories ----

  judgeCatalog(session: GitLabSession): Judgements {
    const { caller } = session;
    return judgeAll(judgeGitLabCatalog(caller.kind === 'token' ? caller : null));
  }

  persist(session: GitLabSession): unknown {
    const { token: _secret, ...caller } = session.caller;
    return { ...session, caller };
  }

  restore(data: unknown, { password }: PasswordCredential): GitLabSession {
    const session = data as GitLabSession;
    const caller = revive({ ...session.caller, token: password }, this.config.adminMode);
    return { ...session, admin: caller.kind === 'token' && caller.admin, caller };
  }

  private unexpected<T>(work: Promise<T>): Promise<T> {
    return unexpected('GitLab', this.name, work, '; check forges[].serviceToken');
  }

  private async judgeImage(session: GitLabSession | null, path: string): Promise<ForgeJudgement> {
    const imagePath = path.toLowerCase();
    const caller = session?.caller ?? null;
    if (imagePath.split('/').length < 2)
      return judged(denying('no-project', `no GitLab project for image ${path}: it needs group/project`), null);
    // Scopes gate the credential before any role is looked up: a token that can earn
    // nothing costs GitLab no call.
    const gate = caller?.kind === 'token' ? scopeGate(caller.scopes) : null;
    if (gate) return judged(gate, null);

    // A job's own project is judged like any other, on its registry level and archived state
    // as GitLab reports them now: a running job proves neither.
    const auth = this.lookupAuth(caller);
    if (auth === undefined) {
      return judged(
        denying(
          'needs-service-token',
          `forge "${this.name}" needs a serviceToken to read the registry settings of ${path} for ${describeCaller(caller)}`,
        ),
        null,
      );
    }
    const project = await this.findProject(imagePath, auth, caller);
    const absent = denying('no-project', `no GitLab project for image ${path}${describeAbsence(caller)}`);
    if (project === null) return judged(absent, null);

    const facts: GitLabProjectFacts = {
      path: project.path_with_namespace,
      visibility: project.visibility,
      registry: project.container_registry_access_level,
      archived: project.archived,
    };
    const callerFacts = await this.callerFacts(caller, project, auth);
    // The service token sees more than the caller: a project the caller could not see
    // itself is reported as absent, as GitLab would, so reasons leak no private paths.
    if (!visibleTo(callerFacts, facts)) return judged(absent, facts.path);
    const reader = this.ruleReader(caller, callerFacts, project, auth);
    return this.guarded(judgeGitLab(callerFacts, facts), imagePath, { id: project.id, path: facts.path }, reader);
  }

  // The caller's own token when it may read projects; else the service token; else none.
  // undefined: nothing may read the project's registry settings (GitLab hides them from
  // anonymous requests), so nothing can be granted.
  private lookupAuth(caller: GitLabCaller | null): Auth | undefined {
    if (caller?.kind === 'token' && caller.scopes.some((s) => s === 'api' || s === 'read_api'))
      return { bearer: caller.token };
    if (this.config.serviceToken !== null) return { bearer: this.config.serviceToken };
    return undefined;
  }

  /**
   * The project of the image: the one of its three longest prefixes at which a project lives
   * (group/sub/proj/app/x: group/sub/proj). A project can contain no groups, so at most one
   * does, and the order they are asked in is only a matter of cost. GitLab follows the
   * redirect route a renamed or transferred project leaves, so an answer counts only when the
   * project's own path is the one asked: the old path belongs to nobody now, and may be
   * someone else's tomorrow.
   */
  private async findProject(
    imagePath: string,
    auth: Auth,
    caller: GitLabCaller | null,
  ): Promise<GitLabProjectJson | null> {
    const all = candidates(imagePath);
    const jobProject = caller?.kind === 'job' ? caller.projectPath : null;
    const first = jobProject !== null && all.includes(jobProject) ? jobProject : this.resolved.get(imagePath);
    try {
      for (const candidate of first === undefined ? all : [first, ...all.filter((c) => c !== first)]) {
        const project = await (this.takePrefetched(caller, auth, candidate) ?? this.api.project(candidate, auth));
        if (project === null) continue;
        if (project.path_with_namespace.toLowerCase() !== candidate) {
          if (this.resolved.get(imagePath) === candidate) this.resolved.delete(imagePath);
          continue;
        }
        // Set when it changes, not on every use: a hint nobody confirms expires.
        if (this.resolved.get(imagePath) !== candidate) this.resolved.set(imagePath, candidate);
        return project;
      }
      return null;
    } catch (error) {
      // The caller's own token refused mid-request (revoked, user blocked): authentication failed.
      const own = caller?.kind === 'token' && auth?.bearer === caller.token;
      if (own && error instanceof ForgeRefusal && (error.httpStatus === 401 || error.httpStatus === 403)) {
        throw new AuthenticationFailed(
          'invalid username or token',
          `GitLab refused the token on ${error.endpoint} (HTTP ${error.httpStatus})`,
        );
      }
      throw error;
    }
  }

  // A lookup started ahead for this caller, made with the same credential as this one would be.
  private takePrefetched(caller: GitLabCaller | null, auth: Auth, item: string): Promise<ProjectAnswer> | undefined {
    if (caller === null || auth === null) return undefined;
    // A token's own lookups (speculate, prefetch), or a job's project read with the serviceToken.
    const { token } = caller;
    if (caller.kind === 'token') return auth.bearer === token ? this.prefetched.take(token, item) : undefined;
    return auth.bearer === this.config.serviceToken ? this.prefetched.take(token, jobItem(item)) : undefined;
  }

  private async callerFacts(
    caller: GitLabCaller | null,
    project: GitLabProjectJson,
    auth: Auth,
  ): Promise<GitLabCallerFacts> {
    if (caller === null) return { kind: 'anonymous', anonymousPull: this.config.anonymousPull };
    const service = this.config.serviceToken;
    if (caller.kind === 'token') {
      const ownToken = auth !== null && auth.bearer === caller.token;
      const role = ownToken ? effectiveRole(project) : await this.api.memberLevel(project.id, caller.userId, service!);
      const { username, admin, instanceAdmin, external, scopes } = caller;
      return { kind: 'user', username, admin, instanceAdmin, external, scopes, role };
    }
    const ownProject = project.id === caller.projectId;
    const target = project.path_with_namespace.toLowerCase();
    const source = caller.projectPath;
    const allows = (entry: PushAllowlistEntry) => entry.source === source && entry.targets.some((t) => t.test(target));
    const pushAllowed = source !== null && this.pushAllowlist.some(allows);
    // An internal project is readable by its instance's users, external ones excepted.
    const enabled = project.container_registry_access_level === 'enabled';
    const internal = !ownProject && enabled && project.visibility === 'internal';
    const external = internal && service !== null ? await this.jobUserExternal(caller.userId, service) : true;
    // The allowlist and the job user's role matter only where visibility alone does not let it pull.
    const openToJobs = enabled && (project.visibility === 'public' || (internal && !external));
    let allowlisted = false;
    let role = 0;
    if (!ownProject && !openToJobs && service !== null) {
      [allowlisted, role] = await Promise.all([
        this.api.inboundAllowlist(project.id, service).then((ids) => ids.includes(caller.projectId)),
        this.api.memberLevel(project.id, caller.userId, service),
      ]);
    }
    const sourcePath = source ?? `project ${caller.projectId}`;
    return { kind: 'job', ownProject, role, external, allowlisted, pushAllowed, sourcePath };
  }

  // GET /job names the job's user without `external`; only an admin's token reads it
  // (GET /users/:id). Not known counts as external: the safe side.
  private async jobUserExternal(userId: number, serviceToken: string): Promise<boolean> {
    const user = await this.api.user(userId, serviceToken).catch((error: unknown) => {
      if (error instanceof ForgeRefusal) return null;
      throw error;
    });
    return user?.external ?? true;
  }
}

/** Longest first: the full path, minus its last segment, minus its last two; at least group/project. */
export function candidates(imagePath: string): string[] {
  const segments = imagePath.split('/');
  const out: string[] = [];
  for (let drop = 0; drop <= 2 && segments.length - drop >= 2; drop++)
    out.push(segments.slice(0, segments.length - drop).join('/'));
  return out;
}

function visibleTo(caller: GitLabCallerFacts, project: GitLabProjectFacts): boolean {
  if (project.visibility === 'public') return true;
  if (caller.kind === 'anonymous') return false;
  // A job: its own project, what forgegate's or the target's allowlist links it to, what its
  // user is a member of, and internal projects (whose reasons say when its user is external).
  if (caller.kind === 'job') {
    const linked = caller.ownProject || caller.pushAllowed || caller.allowlisted;
    return linked || caller.role > 0 || project.visibility === 'internal';
  }
  return caller.admin || caller.role > 0 || (project.visibility === 'internal' && !caller.external);
}

function effectiveRole(project: GitLabProjectJson): number {
  return Math.max(
    project.permissions?.project_access?.access_level ?? 0,
    project.permissions?.group_access?.access_level ?? 0,
  );
}

type ProjectAnswer = GitLabProjectJson | null;
type PushAllowlistEntry = { source: string; targets: RegExp[] };

/** A job's own project, read with the serviceToken, is kept apart from any token's lookups. */
function jobItem(projectPath: string): string {
  return `job:${projectPath}`;
}

function describeAbsence(caller: GitLabCaller | null): string {
  if (caller === null) return '';
  // The serviceToken looks up for jobs: one that cannot read the job's own project sees less.
  if (caller.kind === 'job' && caller.projectPath === null) {
    return ` that the serviceToken can read (it cannot read job ${caller.jobId}'s own project either)`;
  }
  return ` visible to ${caller.username}`;
}

function describeCaller(caller: GitLabCaller | null): string {
  if (caller === null) return 'anonymous callers';
  if (caller.kind === 'job') {
    const project = caller.projectPath ?? `project ${caller.projectId}`;
    return `job tokens (job ${caller.jobId} of ${project})`;
  }
  return `${caller.username}, whose token scopes [${caller.scopes.join(', ')}] cannot read projects`;
}
