import type { Cluster, Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ForgeCallsSpent, type ForgeCallBudget } from '../../forges/budget.js';
import type { Logger } from '../../log.js';

// Forge calls that requests without credentials may cause, per client address and minute
// (limits.anonymousForgeCalls). Their lookups run on the service token (or, on GitHub without
// one, on forgegate's own address), whose quota everyone shares: nobody who never
// authenticated may spend it. Counted are the calls actually made, charged one by one right
// before each (forges/budget.ts); past the budget the call is not made and the request is
// answered 429 with Retry-After. In Redis when configured, so replicas share the count.
//
// Fail open like the bans: Redis down falls back to a per-process count, and any other
// limiter error lets the call through.

const WINDOW_SECONDS = 60;

export class AnonymousForgeCalls {
  private readonly limiter: RateLimiterAbstract;
  private readonly logger: Logger | undefined;

  constructor(calls: number, options: { redis?: Redis | Cluster; logger?: Logger } = {}) {
    this.logger = options.logger;
    const base = { points: calls, duration: WINDOW_SECONDS, keyPrefix: 'anonymous-calls' };
    const memory = new RateLimiterMemory(base);
    this.limiter = options.redis ? new RateLimiterRedis({ ...base, storeClient: options.redis, rejectIfRedisNotReady: true, insuranceLimiter: memory }) : memory;
  }

  /** The budget of one request without credentials from `clientIp`. */
  budget(clientIp: string): ForgeCallBudget {
    const budget: ForgeCallBudget = {
      spend: async () => {
        try {
          await this.limiter.consume(`ip:${clientIp}`);
        } catch (res) {
          if (res instanceof RateLimiterRes) throw new ForgeCallsSpent(Math.max(1, Math.ceil(res.msBeforeNext / 1000)), budget);
          this.logger?.warn({ err: (res as Error).message }, 'forge call budget unavailable: call allowed');
        }
      },
    };
    return budget;
  }
}
