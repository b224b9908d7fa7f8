import type { ForgeCallObserver } from './forge.js';

// The last API call each forge answered (or failed to), for the status page: a forge that
// last answered 503 or timed out is worth a look before anyone reads the metrics.

export interface LastForgeCall {
  at: Date;
  endpoint: string;
  /** The HTTP status, or "timeout"/"error" when none came. */
  status: string;
  seconds: number;
  /** Whether the forge answered as a working forge does: any status below 500 but 429. */
  healthy: boolean;
}

export class ForgeHealth implements ForgeCallObserver {
  private readonly last = new Map<string, LastForgeCall>();

  call(forge: string, endpoint: string, status: string, seconds: number): void {
    const code = Number(status);
    // 401/403/404 are the forge's deliberate answers to a caller: the forge works.
    const healthy = Number.isInteger(code) && code < 500 && code !== 429;
    this.last.set(forge, { at: new Date(), endpoint, status, seconds, healthy });
  }

  rateLimitRemaining(): void {}

  lastCall(forge: string): LastForgeCall | undefined {
    return this.last.get(forge);
  }
}

/** One observer that tells several. */
export function observeAll(...observers: (ForgeCallObserver | undefined)[]): ForgeCallObserver {
  const all = observers.filter((o): o is ForgeCallObserver => o !== undefined);
  return {
    call: (forge, endpoint, status, seconds) => all.forEach((o) => o.call(forge, endpoint, status, seconds)),
    rateLimitRemaining: (forge, remaining) => all.forEach((o) => o.rateLimitRemaining(forge, remaining)),
  };
}
