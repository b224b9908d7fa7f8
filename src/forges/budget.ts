import { AsyncLocalStorage } from 'node:async_hooks';

// A budget of forge API calls. Judging a scope as for anyone (the caller holds no credential of
// the image's forge) spends the service token's quota (or forgegate's own address's,
// unauthenticated), so such judgements run under one per client address
// (http/guard/anonymous.ts). It travels with the async context: the API clients charge it
// right before each call they actually make, so cache hits and lookups shared with a flight
// already under way cost nothing. Work outside a budget is not metered.

export interface ForgeCallBudget {
  /** Takes one call from the budget, or throws ForgeCallsSpent: the call must not be made. */
  spend(): Promise<void>;
}

/** 429 with Retry-After (http/errors.ts maps it). */
export class ForgeCallsSpent extends Error {
  override name = 'ForgeCallsSpent';
  constructor(
    /** Whole seconds until the budget allows a call again. */
    readonly retryAfter: number,
    /** Whose budget it was: a request that joined another's lookup may still have its own. */
    readonly budget: ForgeCallBudget,
  ) {
    super(
      'too many forge lookups without credentials of the forge from this address; ' +
        `log in, or retry in ${retryAfter} seconds`,
    );
  }
}

const current = new AsyncLocalStorage<ForgeCallBudget | undefined>();

/** Runs `work` with `budget` charged for every forge call it causes; undefined: unmetered. */
export function withForgeCallBudget<T>(budget: ForgeCallBudget | undefined, work: () => Promise<T>): Promise<T> {
  return budget === undefined && current.getStore() === undefined ? work() : current.run(budget, work);
}

/** The budget of the request being served, if it has one. */
export function currentForgeCallBudget(): ForgeCallBudget | undefined {
  return current.getStore();
}

/** Called by the API clients before each forge call: throws ForgeCallsSpent when the budget is spent. */
export async function chargeForgeCall(): Promise<void> {
  await current.getStore()?.spend();
}
