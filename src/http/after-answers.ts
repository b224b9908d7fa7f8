// Work that no answer waits for: a token request's audit line and metrics. Done a few
// milliseconds after the answer, together with the work of the answers written meanwhile,
// instead of before each write.
//
// Requests come in bursts (a pull asks for several repositories at once, CI jobs start
// together), and a burst's requests arrive over a millisecond or two, each read as it comes.
// Work done between two of them made every later answer of the burst wait for it: at a steady
// 1,000 requests a second in bursts of 10, the audit line and the metrics cost about 45 of a
// request's 250-300 µs of CPU, every step with cold caches. Done after the burst, it holds up
// no answer, and finds its code warm. Under load, when every turn of the event loop answers
// many requests, a long queue runs after the turn that filled it, so that what it holds (each
// request's facts) does not outlive the young generation.

/** How long the first of the waiting work waits: about the length of a burst. */
const WAIT_MS = 5;
/** At this many, the waiting work runs after this turn's answers instead. */
const MAX_WAITING = 64;

const waiting: (() => void)[] = [];
let timer: NodeJS.Timeout | undefined;
// A process ended by process.exit() runs no more timers. First of the exit hooks: the log's
// own (log-blocks.ts) passes on what these write.
process.prependListener('exit', runAfterAnswers);

/**
 * Runs `work` after the answers of the next few milliseconds; work queued meanwhile runs with
 * it, in order. A throw is reported as a process warning and does not stop the rest: an answer
 * has gone out already.
 */
export function afterAnswers(work: () => void): void {
  waiting.push(work);
  if (waiting.length === 1) timer = setTimeout(runAfterAnswers, WAIT_MS);
  else if (waiting.length === MAX_WAITING) setImmediate(runAfterAnswers);
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
