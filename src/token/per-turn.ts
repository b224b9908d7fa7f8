import { performance } from 'node:perf_hooks';

// Grouping work by turns of the event loop, when the loop is busy.
//
// Under load, one turn of the event loop reads many token requests, one per ready socket. Made
// one at a time, each request's signature runs between that request's other steps (parsing,
// the audit line, the write), and finds the CPU's caches holding those instead of OpenSSL's
// code and the key: measured alone, an ES256 signature costs 2.7 times as much right after a
// sweep of the caches as back to back. Made together, the signatures of a group find them
// warm, and the requests' other steps group too, as each request's continuation runs after
// the group. The price is latency within a burst: its first requests are written only after
// the whole group is signed (a group's limit bounds that too). So work is grouped only while
// the event loop is busy (`loopIsBusy`); with time to spare, each request is made as it comes,
// and a burst's first answers leave first.

/** Something asked for now and made later, with the rest of its group. */
export type PerTurn<I, O> = (input: I) => Promise<O>;

interface Asked<I, O> {
  input: I;
  resolve: (output: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Makes `work(input)` for the inputs asked for during one turn of the event loop, one after
 * another, in that turn's check phase (setImmediate), or at once when `limit` of them are
 * waiting; settles each caller with its own result: a throw rejects only the input that caused
 * it. While `grouping()` says no, each input is made at once, when asked.
 */
export function perTurn<I, O>(
  work: (input: I) => O,
  limit: number,
  grouping: () => boolean = loopIsBusy,
): PerTurn<I, O> {
  let group: Asked<I, O>[] = [];
  let scheduled = false;
  const run = (): void => {
    const now = group;
    group = []; // what is asked from here on is the next group's
    for (const asked of now) {
      try {
        asked.resolve(work(asked.input));
      } catch (error) {
        asked.reject(error);
      }
    }
  };
  const runScheduled = (): void => {
    scheduled = false;
    run();
  };
  return (input) =>
    new Promise<O>((resolve, reject) => {
      group.push({ input, resolve, reject });
      if (group.length >= limit || (!scheduled && !grouping())) run();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(runScheduled);
      }
    });
}

/** How long a reading of the event loop's load holds. */
const WINDOW_MS = 100;
/** The share of a window the loop spent working, at and above which it counts as busy. */
const BUSY_UTILIZATION = 0.5;

let windowStart = performance.now();
let windowUtilization = performance.eventLoopUtilization();
let busy = false;

/**
 * Whether the event loop spent at least half of its last window of about 100 ms working
 * rather than waiting for events (performance.eventLoopUtilization). Read at most once a window,
 * when asked: at full load it is busy throughout; at a steady 1,000 token requests a second,
 * about a third of the time.
 */
export function loopIsBusy(): boolean {
  const now = performance.now();
  if (now - windowStart >= WINDOW_MS) {
    busy = performance.eventLoopUtilization(windowUtilization).utilization >= BUSY_UTILIZATION;
    windowStart = now;
    windowUtilization = performance.eventLoopUtilization();
  }
  return busy;
}
