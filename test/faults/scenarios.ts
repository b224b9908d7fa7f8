import { decodeJwt } from 'jose';
import { FakeGitHub } from '../fakes/github.js';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import type { Injection } from '../fakes/server.js';
import { basic, startForgegate, type TestForgegate } from '../support/forgegate.js';
import { startRedis, type RunningRedis } from '../support/redis.js';

// Forge faults, shared by the test suite (test/faults/forge-faults.test.ts, a few requests
// per fault) and the full run (bench/faults.ts, many concurrent requests per fault). One
// GitLab and one GitHub caller whose healthy grant is known; every fault is injected on
// every endpoint of one forge.

export const SERVICE = 'faults.registry';
/** The forge timeout configured (seconds): no request may take much longer than a few of these. */
export const FORGE_TIMEOUT_S = 1;

export interface Caller {
  forge: 'gitlab' | 'github';
  authorization: string;
  scope: string;
  image: string;
  /** What the caller gets while the forge is healthy. */
  healthy: string[];
}

export interface FaultEnv {
  gl: FakeGitLab;
  gh: FakeGitHub;
  /** No cache: every request asks the forge. */
  cold: TestForgegate;
  /** TTLs 1 s, staleIfError 300 s: expired answers stand in while the forge fails. */
  stale: TestForgegate;
  callers: Caller[];
  /**
   * The caller with a token never seen before. GitHub revalidates what it saw with ETags,
   * and a 304 carries no body for a body fault to spoil: a fresh token meets the fault.
   */
  fresh(forge: 'gitlab' | 'github'): Caller;
  stop(): Promise<void>;
}

export const FORGE_FAULTS: { name: string; injection: Injection }[] = [
  { name: 'timeout (socket held)', injection: { kind: 'timeout' } },
  { name: 'slow answer (3 s delay)', injection: { kind: 'delay', ms: 3000 } },
  { name: 'slow drip (1 byte / 100 ms)', injection: { kind: 'drip', ms: 100 } },
  { name: 'connection reset', injection: { kind: 'reset' } },
  { name: 'HTTP 500', injection: { kind: 'status', status: 500 } },
  { name: 'HTTP 502', injection: { kind: 'status', status: 502 } },
  { name: 'HTTP 503', injection: { kind: 'status', status: 503 } },
  { name: 'HTTP 429 + Retry-After', injection: { kind: 'status', status: 429, headers: { 'retry-after': '1' } } },
  { name: 'malformed JSON', injection: { kind: 'malformed' } },
  { name: 'truncated JSON', injection: { kind: 'truncated' } },
];

export async function startFaultEnv(): Promise<FaultEnv> {
  const gl = new FakeGitLab();
  const dev = gl.addUser({ username: 'dev' });
  gl.addToken({ token: 'glpat-faults-dev-Qr4', user_id: dev.id, scopes: ['api'] });
  gl.addProject({ path_with_namespace: 'team/app' });
  gl.addMember('team', dev.id, ACCESS.developer);
  const gh = new FakeGitHub();
  gh.addUser({ login: 'octo' });
  gh.addOrg({ login: 'o', base_permission: 'none' });
  gh.addRepo({ full_name: 'o/app', collaborators: { octo: 'write' } });
  gh.addToken({ token: 'ghp_faultsOcto0001', kind: 'classic', user: 'octo', scopes: ['repo'] });
  await Promise.all([gl.start(), gh.start()]);

  const forges = [
    { type: 'gitlab', url: gl.url, timeout: FORGE_TIMEOUT_S },
    { type: 'github', url: gh.url, prefix: 'gh/', timeout: FORGE_TIMEOUT_S },
  ];
  const start = (cache: Record<string, number>) => startForgegate({ token: { service: SERVICE }, forges, cache });
  const [cold, stale] = await Promise.all([
    start({ identityTtl: 0, decisionTtl: 0, negativeTtl: 0 }),
    start({ identityTtl: 1, decisionTtl: 1, negativeTtl: 0, staleIfError: 300 }),
  ]);
  const callers: Caller[] = [
    {
      forge: 'gitlab',
      authorization: basic('dev', 'glpat-faults-dev-Qr4'),
      image: 'team/app',
      scope: 'repository:team/app:pull,push,delete',
      healthy: ['pull', 'push'],
    },
    {
      forge: 'github',
      authorization: basic('octo', 'ghp_faultsOcto0001'),
      image: 'gh/o/app',
      scope: 'repository:gh/o/app:pull,push,delete',
      healthy: ['pull', 'push'],
    },
  ];
  let minted = 0;
  const fresh = (forge: 'gitlab' | 'github'): Caller => {
    const caller = callers.find((c) => c.forge === forge)!;
    const n = ++minted;
    if (forge === 'gitlab') {
      gl.addToken({ token: `glpat-faults-dev-${n}x`, user_id: dev.id, scopes: ['api'] });
      return { ...caller, authorization: basic('dev', `glpat-faults-dev-${n}x`) };
    }
    gh.addToken({ token: `ghp_faultsOcto${n}x`, kind: 'classic', user: 'octo', scopes: ['repo'] });
    return { ...caller, authorization: basic('octo', `ghp_faultsOcto${n}x`) };
  };
  return {
    gl,
    gh,
    cold,
    stale,
    callers,
    fresh,
    stop: async () => {
      await Promise.all([cold.stop(), stale.stop()]);
      await Promise.all([gl.stop(), gh.stop()]);
    },
  };
}

export interface Outcome {
  status: number | 'aborted';
  /** Granted actions on the caller's image (200 only). */
  granted: string[] | undefined;
  ms: number;
  message?: string;
  retryAfter?: string | null;
}

/** Any request taking longer than this is a hang: far beyond the forge timeout and its retries. */
export const HANG_MS = 15_000;

export async function ask(fg: TestForgegate, caller: Caller): Promise<Outcome> {
  const started = performance.now();
  const query = new URLSearchParams({ service: SERVICE, scope: caller.scope });
  try {
    const response = await fetch(`${fg.url}/token?${query}`, {
      headers: { authorization: caller.authorization },
      signal: AbortSignal.timeout(HANG_MS),
    });
    const body = (await response.json()) as { token?: string; errors?: { message: string }[] };
    const ms = performance.now() - started;
    if (response.status !== 200)
      return {
        status: response.status,
        granted: undefined,
        ms,
        message: body.errors?.[0]?.message,
        retryAfter: response.headers.get('retry-after'),
      };
    const access = decodeJwt(body.token!).access as { name: string; actions: string[] }[];
    return { status: 200, granted: access.find((a) => a.name === caller.image)?.actions ?? [], ms };
  } catch {
    return { status: 'aborted', granted: undefined, ms: performance.now() - started };
  }
}

/** A grant that is neither the healthy one nor nothing at all is wrong; so is more than healthy. */
export function wrongGrant(outcome: Outcome, caller: Caller, stale: boolean): boolean {
  if (outcome.status !== 200) return false;
  const granted = outcome.granted ?? [];
  if (granted.some((a) => !caller.healthy.includes(a))) return true;
  // With staleIfError the stale answer must be the healthy one, not a narrowed guess.
  return stale && JSON.stringify(granted) !== JSON.stringify(caller.healthy);
}

export function fakeOf(env: FaultEnv, caller: Caller): FakeGitLab | FakeGitHub {
  return caller.forge === 'gitlab' ? env.gl : env.gh;
}

/** forgegate with a GitLab and a Redis of its own, for Redis faults. */
export interface RedisFaultEnv {
  redis: RunningRedis;
  fg: TestForgegate;
  /** A Developer of team/app with a token never seen before: a cold request that reads and writes Redis. */
  freshCaller(): Caller;
  stop(): Promise<void>;
}

export async function startRedisFaultEnv(): Promise<RedisFaultEnv> {
  const redis = await startRedis();
  const gitlab = new FakeGitLab();
  const dev = gitlab.addUser({ username: 'dev' });
  gitlab.addProject({ path_with_namespace: 'team/app' });
  gitlab.addMember('team', dev.id, ACCESS.developer);
  await gitlab.start();
  const fg = await startForgegate({
    token: { service: SERVICE },
    forges: [{ type: 'gitlab', url: gitlab.url, timeout: FORGE_TIMEOUT_S }],
    cache: { redisUrl: redis.url, identityTtl: 60, decisionTtl: 60, negativeTtl: 10 },
  });
  let minted = 0;
  return {
    redis,
    fg,
    freshCaller: () => {
      const token = `glpat-redis-dev-${++minted}x`;
      gitlab.addToken({ token, user_id: dev.id, scopes: ['api'] });
      return {
        forge: 'gitlab',
        authorization: basic('dev', token),
        image: 'team/app',
        scope: 'repository:team/app:pull,push,delete',
        healthy: ['pull', 'push'],
      };
    },
    stop: async () => {
      await redis.resume().catch(() => {});
      await fg.stop();
      await gitlab.stop();
      await redis.stop();
    },
  };
}
