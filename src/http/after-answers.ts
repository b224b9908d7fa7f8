import { loopIsBusy } from '../token/per-turn.js';

// Work that no answer waits for: a token request's audit line and metrics. Done after the
// answers, together with the work of the answers written meanwhile, instead of before each write.
//
// Requests come in bursts (a pull asks for several repositories at once, CI jobs start
// together), and a burst's requests arrive over a millisecond or two, each read as it comes.
// Work done between two of them made every later answer of the burst wait for it: at a steady
// 1,000 requests a second in bursts of 10, the audit line and the metrics cost about 45 of a
// request's 250-300 µs of CPU, every step with cold caches. Done a few milliseconds later,
// after the burst, it holds up no answer, and finds its code warm.
//
// Under load (`loopIsBusy`) it runs after the turn that answered, not a few milliseconds later:
// each waiting piece holds its request's facts, and at full load the young generation is
// collected every 3 ms or so. Facts kept past two of those collections are promoted to the old
// generation, and the memory mode collects that generation every time it grows by a few MB:
// waiting 5 ms at 50 connections made a full collection (5-12 ms, every request in flight
// waiting) every 300 ms, against two in 5 s after the turn (a cached GitLab token, Node.js 24).

/** How long the first of the waiting work waits while the loop has time: about the length of a burst. */
const WAIT_MS = 5;
/** At this many, the waiting work runs after this turn's answers, busy or not (a burst on an idle loop). */
const MAX_WAITING = 64;

const waiting: (() => void)[] = [];
let timer: NodeJS.Timeout | undefined;
// A process ended by process.exit() runs no more timers. First of the exit hooks: the log's
// own (log-blocks.ts) passes on what these write.
process.prependListener('exit', runAfterAnswers);

/**
 * Runs `work` after the answers of the next few milliseconds, or of this turn while the loop is
 * busy; work queued meanwhile runs with it, in order. A throw is reported as a process warning
 * and does not stop the rest: an answer has gone out already.
 */
export function afterAnswers(work: () => void): void {
  waiting.push(work);
  if (waiting.length === 1 && !loopIsBusy()) timer = setTimeout(runAfterAnswers, WAIT_MS);
  else if (waiting.length === 1 || waiting.length === MAX_WAITING) setImmediate(runAfterAnswers);
}

/**
 * Runs what waits now: at exit, before a scrape of the metrics, and for readers that must see it
 * at once (tests reading the log).
 */
export function runAfterAnswers(): void {
  clearTimeout(timer);
  timer = undefined;
  for (const work of waiting.splice(0)) {
    try {
      work();
    } catch (error) {
      process.emitWarning(`deferred work failed: ${(error as Error).message}`, 'ForgegateWarning');
    }
  }
}
