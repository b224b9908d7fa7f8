import { SingleFlight } from '../../cache/single-flight.js';
import type { ForgeConfig } from '../../config/schema.js';
import { AuthenticationFailed } from '../../errors.js';
import type { Judge } from '../../policy/grant.js';
import {
  grantsWrites,
  needsRole,
  protect,
  unreadableText,
  type ProtectedCaller,
  type ProtectionFacts,
  type ProtectionMode,
  type ProtectionRule,
  type UnreadableCause,
} from '../../policy/protection.js';
import { ForgeRefusal, type ProjectFacts } from '../forge.js';
import type { GitLabApi } from './api.js';

// Reading a project's protected container repository rules (GitLab 17.9+) and applying them
// (policy/protection.ts) to what the permission matrix granted. Listing the rules needs
// Maintainer: the caller's own token when it is Maintainer+ and may read the API, else the
// service token. They are kept per project like other project facts, for cache.decisionTtl:
// GitLab sends no webhook when a rule changes, so that TTL bounds how long a change takes.
//
// GitLab 17.2-17.8 served an experimental /registry/protection/rules whose fields changed
// meaning during the experiment ("protected up to" a level, then "minimum" level); it is not
// read: on those versions the rules count as unreadable (GitLab answers 404 here).

const FACT = 'protection-rules';
/** 100 rules a page: more than this many pages is far beyond any real project. */
const MAX_PAGES = 10;

/** What the cache keeps: the rules, or why the service token (or the instance) could not give them. */
type Stored = { kind: 'rules'; rules: ProtectionRule[] } | { kind: 'unreadable'; cause: UnreadableCause };

/** The project the image belongs to: its id (or path) for the API, its path for keys and reasons. */
export interface ProtectedProject {
  id: number | string;
  path: string;
}

/** Who asks, as far as reading and applying the rules goes. */
export interface RuleReader {
  /** Instance admins pass every rule: nothing is read for them. */
  admin: boolean;
  /** The caller's own token when it may list the rules itself (Maintainer+ with read_api or api). */
  ownToken: string | null;
  /** The caller's role, asked for only when a rule restricts a write the matrix granted. */
  role(): Promise<ProtectedCaller>;
}

export interface Guarded {
  judge: Judge;
  /** Seconds the judgement may be reused at most: the rules it used were that close to expiring. */
  maxAge?: number;
}

export class ProtectionRules {
  private readonly mode: ProtectionMode;
  private readonly flights = new SingleFlight<{ facts: Stored; ageSeconds: number }>();
  private facts: ProjectFacts | null = null;
  /** Rules that could not be read since start, by cause, for the status page (never a project path). */
  private readonly unreadable = new Map<UnreadableCause, { count: number; last: Date }>();

  constructor(
    private readonly api: GitLabApi,
    private readonly config: Pick<ForgeConfig, 'name' | 'serviceToken' | 'protectedRepositories'>,
  ) {
    this.mode = config.protectedRepositories;
  }

  useProjectFacts(facts: ProjectFacts): void {
    this.facts = facts;
  }

  /** `base` with the project's rules applied to `imagePath`; nothing is read when base grants no write. */
  async guard(base: Judge, imagePath: string, project: ProtectedProject, reader: RuleReader): Promise<Guarded> {
    if (reader.admin || !grantsWrites(base)) return { judge: base };
    const { facts, ageSeconds } = await this.read(project, reader.ownToken);
    // The role is asked for only when a rule restricts a granted write; otherwise no rule consults it.
    const caller: ProtectedCaller = needsRole(base, facts, imagePath)
      ? await reader.role()
      : { kind: 'unknown', why: 'no rule applies' };
    const judge = protect(base, imagePath, project.path, facts, caller, this.mode);
    const ttl = this.facts?.ttl ?? 0;
    return ageSeconds > 0 ? { judge, maxAge: Math.max(0, ttl - ageSeconds) } : { judge };
  }

  /** The project's rules, from the cache or read now; unreadable ones with their cause. */
  async read(
    project: ProtectedProject,
    ownToken: string | null,
  ): Promise<{ facts: ProtectionFacts; ageSeconds: number }> {
    const key = project.path.toLowerCase();
    const cached = await this.facts?.get<Stored>(key, FACT);
    // An unreadable entry says what the service token got; a caller who may list them tries its own token.
    const settled = cached !== undefined && (cached.value.kind === 'rules' || cached.value.cause === 'no-api');
    if (cached !== undefined && (settled || ownToken === null)) {
      return { facts: cached.value, ageSeconds: cached.ageSeconds };
    }
    const flight = `${key}\n${ownToken === null ? 'service' : 'own'}`;
    return this.flights.run(flight, async () => {
      const facts = this.noted(await this.fetch(project, key, ownToken));
      return { facts, ageSeconds: 0 };
    });
  }

  private async fetch(project: ProtectedProject, key: string, ownToken: string | null): Promise<Stored> {
    if (ownToken !== null) {
      const own = await this.ask(project, ownToken).catch((error: unknown) => {
        // The caller's token stopped working between two calls (revoked, user blocked).
        if (error instanceof ForgeRefusal && error.httpStatus === 401) {
          const why = `GitLab refused the token on ${error.endpoint} (HTTP 401)`;
          throw new AuthenticationFailed('invalid username or token', why);
        }
        throw error;
      });
      // What the caller's own token could not read says nothing of what the service token may.
      if (own.kind === 'rules' || own.cause === 'no-api' || own.cause === 'too-many') return this.keep(key, own);
    }
    const service = this.config.serviceToken;
    if (service === null) return { kind: 'unreadable', cause: 'no-service-token' };
    return this.keep(key, await this.ask(project, service));
  }

  private async ask(project: ProtectedProject, token: string): Promise<Stored> {
    try {
      const { rules, complete } = await this.api.protectionRules(project.id, { bearer: token }, MAX_PAGES);
      if (!complete) return { kind: 'unreadable', cause: 'too-many' };
      return {
        kind: 'rules',
        rules: rules.map((rule) => ({
          pattern: rule.repository_path_pattern.toLowerCase(),
          push: rule.minimum_access_level_for_push ?? null,
          delete: rule.minimum_access_level_for_delete ?? null,
        })),
      };
    } catch (error) {
      if (!(error instanceof ForgeRefusal)) throw error;
      if (error.httpStatus === 403) return { kind: 'unreadable', cause: 'forbidden' };
      // A route GitLab does not have answers `404 Not Found`; a project it hides, `404 Project Not Found`.
      if (error.httpStatus === 404) {
        return { kind: 'unreadable', cause: /project/i.test(error.message) ? 'not-visible' : 'no-api' };
      }
      throw error; // 401 and the like: the forge reports them as it does for every call
    }
  }

  private keep(key: string, facts: Stored): Stored {
    this.facts?.set(key, FACT, facts);
    return facts;
  }

  private noted(facts: Stored): Stored {
    if (facts.kind === 'unreadable') {
      const seen = this.unreadable.get(facts.cause);
      this.unreadable.set(facts.cause, { count: (seen?.count ?? 0) + 1, last: new Date() });
    }
    return facts;
  }

  /** What the status page and the banner say: where rules are not enforced, and why; never a project path. */
  notices(): string[] {
    const out = protectionNotices(this.config);
    for (const [cause, { count, last }] of this.unreadable) {
      if (cause === 'no-service-token') continue; // said by the configuration notice
      const when = `${last.toISOString().slice(0, 19)}Z`;
      const what = `${unreadableText(cause)}; ${consequence(this.mode)}`;
      out.push(`protection rules could not be read ${count} time(s), last at ${when}: ${what}`);
    }
    return out;
  }
}

/** What the configuration alone says about protection rules (banner, `check`, status page). */
export function protectionNotices(config: Pick<ForgeConfig, 'serviceToken' | 'protectedRepositories'>): string[] {
  if (config.serviceToken !== null) return [];
  return [
    'protection rules of container repositories are read only with the tokens of Maintainers: for other callers, ' +
      `job tokens and ID tokens they cannot be read (no serviceToken); ${consequence(config.protectedRepositories)}`,
  ];
}

/** What unreadable rules mean under the configured mode. */
export function consequence(mode: ProtectionMode): string {
  return mode === 'strict'
    ? 'protectedRepositories is strict: push and delete are refused there'
    : 'protectedRepositories is best-effort: they are not enforced there';
}
