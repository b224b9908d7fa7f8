import { setTimeout as sleep } from 'node:timers/promises';

// Waiting for something another process or a background task brings about, by polling: the
// timeout only bounds a failing test, no assertion depends on how long it took.

/** Resolves once `check` holds; throws naming `what` if it still does not after `timeoutMs`. */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what} (${timeoutMs} ms)`);
    await sleep(25);
  }
}
