import type { Logger } from '../../log.js';
import type { BanObserver } from '../../metrics.js';
import type { Runtime } from '../../runtime.js';
import { BruteForceGuard } from './brute-force.js';

/** The brute-force guard of a running forgegate, and how to release its Redis connection. */
export interface RuntimeGuard {
  guard: BruteForceGuard;
  close(): void;
}

export function guardFor(runtime: Runtime, logger: Logger, observer?: BanObserver): RuntimeGuard {
  const { limits } = runtime.config;
  // Its own connection: the cache level's skip-after-failure must not hide bans, and the
  // limiter falls back to a per-process one by itself when this one is down.
  const redis = limits.enabled ? runtime.redis?.separateConnection() : undefined;
  const guard = new BruteForceGuard(limits, {
    redis,
    logger,
    observer,
    // Only names forgegate owns are counted as accounts; forge logins per credential.
    ownsAccount: (username) => runtime.staticAccounts.has(username),
    secret: runtime.credentialSecret,
  });
  return { guard, close: () => redis?.disconnect() };
}
