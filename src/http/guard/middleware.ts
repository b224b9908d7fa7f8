import type { Context, Next } from 'koa';
import type { Credential } from '../../credentials/credential.js';
import { AuthenticationFailed } from '../../errors.js';
import { askerIn } from '../asker.js';
import type { BruteForceGuard } from './brute-force.js';

// The guard on Koa routes. The token endpoint calls `admit` and `settle` itself, so that its
// audit line covers refused requests too; any other route that checks a password (such as
// POST /explain) mounts `guardRoute` in front of its handler.

/**
 * Koa middleware: refuses banned callers before `next` runs (so nothing reaches a forge),
 * then counts an AuthenticationFailed thrown by the handler, or forgives on success.
 * `credentialOf` reads the caller's credential; returning undefined (unreadable input) skips the guard.
 */
export function guardRoute(guard: BruteForceGuard, credentialOf: (ctx: Context) => Credential | undefined) {
  return async (ctx: Context, next: Next): Promise<void> => {
    // Admits the request or throws TooManyAttempts (429; http/errors.ts sets its Retry-After).
    const admission = await guard.admit(askerIn(ctx).ip, credentialOf(ctx));
    try {
      await next();
    } catch (error) {
      await guard.settle(admission, error);
      throw error;
    }
    // A handler that answers a failed login itself (POST /explain: 200, authenticated false)
    // says so in ctx.state.outcome; it counts like a 401.
    const failed =
      ctx.state.outcome === 'unauthorized' ? new AuthenticationFailed('invalid username or token') : undefined;
    await guard.settle(admission, failed);
  };
}
