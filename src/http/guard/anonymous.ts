import { isIPv6 } from 'node:net';
import type { Cluster, Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ForgeCallsSpent, type ForgeCallBudget } from '../../forges/budget.js';
import type { Logger } from '../../log.js';

// Forge calls that scopes judged as for anyone may cause, per client address and minute
// (limits.anonymousForgeCalls): every scope of a request without credentials, and the scopes a
// caller holds no credential of the image's forge for (a GitHub login looking at a GitLab
// image, a CI job outside its project). Those lookups run on the service token (or, on GitHub
// without one, on forgegate's own address), whose quota everyone shares: nobody may spend it
// without a credential of that forge. Counted are the calls actually made, charged one by one
// right before each (forges/budget.ts); past the budget the call is not made and the request
// is answered 429 with Retry-After. In Redis when configured, so replicas share the count.
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
    const redis = options.redis;
    const shared = { ...base, storeClient: redis, rejectIfRedisNotReady: true, insuranceLimiter: memory };
    this.limiter = redis ? new RateLimiterRedis(shared) : memory;
  }

  /** The budget of one request from `clientIp`, for what it has judged as for anyone. */
  budget(clientIp: string): ForgeCallBudget {
    let key: string | undefined; // worked out at the first call: nearly every request spends none
    const budget: ForgeCallBudget = {
      spend: async () => {
        key ??= `net:${networkOf(clientIp)}`;
        try {
          await this.limiter.consume(key);
        } catch (res) {
          if (res instanceof RateLimiterRes) {
            throw new ForgeCallsSpent(Math.max(1, Math.ceil(res.msBeforeNext / 1000)), budget);
          }
          this.logger?.warn({ err: (res as Error).message }, 'forge call budget unavailable: call allowed');
        }
      },
    };
    return budget;
  }
}

/**
 * Whose budget an address draws on: an IPv4 address itself, an IPv6 address its /64. A host
 * is given a whole /64 and may pick any address in it, so counting IPv6 addresses one by one
 * would count nothing.
 */
export function networkOf(ip: string): string {
  const address = ip.split('%')[0]!; // a zone index (fe80::1%eth0) names no other network
  if (!isIPv6(address)) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  const [head = '', tail] = address.split('::');
  // An embedded IPv4 address (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) takes two groups.
  const groups = (text: string): string[] =>
    text === '' ? [] : text.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const [first, last] = [groups(head), tail === undefined ? [] : groups(tail)];
  const zeros = Array<string>(8 - first.length - last.length).fill('0');
  const full = tail === undefined ? first : [...first, ...zeros, ...last];
  return `${full
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}
