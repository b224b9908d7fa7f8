import { randomBytes } from 'node:crypto';

// What the fake GitLab of the forge scenarios knows (bench/servers/fake-gitlab.ts loads it
// from JSON), and how the scenarios pick users and projects: reproducibly, from a fixed seed.

export const FORGE_LATENCY_MS = 50;
export const GROUP = 'group';
/** Images are named group/projN: a two-segment path is exactly one project candidate. */
export const PROJECT_COUNT = 50;

export interface BenchUser {
  username: string;
  /** A personal access token with scope `api`. */
  token: string;
  /**
   * An instance admin instead of a Developer of the group: same calls, same grants, same cache
   * entries, but no membership for the fake to scan (see MEMORY_USERS).
   */
  admin?: boolean;
}

export interface ForgeModel {
  latencyMs: number;
  /** Every user is a Developer of this group, so of every project in it. */
  group: string;
  projects: string[];
  users: BenchUser[];
}

/** Forge calls since the last reset, as the fake's call log records them. */
export interface ForgeCallStats {
  /** Whether arrival times were recorded for every call (needed to tell parallel calls apart). */
  timed: boolean;
  total: number;
  endpoints: Record<string, number>;
  /** Raw counts of the identity endpoints and of GET /projects/:id. */
  tokenSelf: number;
  currentUser: number;
  projectCalls: number;
  /** Identity rounds: a self + user pair of one token sent in parallel counts once. */
  identityRounds: number;
  parallelPairs: number;
  /** Identity rounds beyond the first for a token, and project calls beyond the first per token and project. */
  repeatedIdentityRounds: number;
  repeatedProjectCalls: number;
  /** Median, over tokens, of the time from the first identity call to the first project call. */
  projectAfterIdentityMs: number | null;
}

export interface ForgeUsers {
  warm: BenchUser;
  stampede: BenchUser;
  coldWarmup: BenchUser[];
  cold: BenchUser[];
  economy: BenchUser[];
  memory: BenchUser[];
}

export const ECONOMY_USERS = 200;
/**
 * The memory scenario's users are GitLab instance admins (their tokens carry `admin_mode`). The
 * fake looks memberships up by scanning all of them, four times per project call, and at 10,000
 * members that costs ~7 ms of CPU a call (the fake builds its membership records with object
 * spread, which V8 keeps in a slow shape): the scenario would take minutes and starve forgegate
 * of CPU. Admins need no membership and forgegate treats them the same way: GET
 * /personal_access_tokens/self + GET /user, then GET /projects/:id, and a token granting pull
 * and push, cached alike.
 */
export const MEMORY_USERS = 10_000;
export const COLD_WARMUP = 5;
export const COLD_SAMPLES = 40;

export function project(n: number): string {
  return `${GROUP}/proj${n}`;
}

export function createModel(): { model: ForgeModel; users: ForgeUsers } {
  const make = (username: string): BenchUser => ({ username, token: `glpat-${randomBytes(15).toString('base64url')}` });
  const many = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => make(`${prefix}-${i + 1}`));
  const users: ForgeUsers = {
    warm: make('warm'),
    stampede: make('stampede'),
    coldWarmup: many('cold-warmup', COLD_WARMUP),
    cold: many('cold', COLD_SAMPLES),
    economy: many('economy', ECONOMY_USERS),
    memory: many('memory', MEMORY_USERS).map((user) => ({ ...user, admin: true })),
  };
  const all = [users.warm, users.stampede, ...users.coldWarmup, ...users.cold, ...users.economy, ...users.memory];
  const projects = Array.from({ length: PROJECT_COUNT }, (_, i) => project(i + 1));
  return { model: { latencyMs: FORGE_LATENCY_MS, group: GROUP, projects, users: all }, users };
}

/** mulberry32: a small seeded generator, so every run asks the same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draws 1..n with probability proportional to 1 / k^s. */
export function zipf(n: number, s: number, random: () => number): () => number {
  const cumulative: number[] = [];
  let total = 0;
  for (let k = 1; k <= n; k++) cumulative.push((total += 1 / k ** s));
  return () => {
    const x = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
}
