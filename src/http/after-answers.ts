// Work that no answer waits for: a token request's audit line and metrics. Done after the
// answers of this turn of the event loop are written, all of it in one setImmediate, instead
// of before each write.
//
// Requests come in bursts (a pull asks for several repositories at once, CI jobs start
// together), and a burst's answers are written one after another: an answer that waited for
// the audit lines of the requests before it was late by all of them. At a steady 1,000
// requests a second in bursts of 10, the audit line and the metrics cost about 45 of a
// request's 250-300 µs of CPU, every step with cold caches; written together, they find
// their code warm.

const waiting: (() => void)[] = [];
// A process ended by process.exit() runs no more immediates. First of the exit hooks: the log's
// own (log-blocks.ts) passes on what these write.
process.prependListener('exit', runAfterAnswers);

/**
 * Runs `work` after this turn's answers; work queued meanwhile runs with it, in order. A throw
 * is reported as a process warning and does not stop the rest: an answer has gone out already.
 */
export function afterAnswers(work: () => void): void {
  if (waiting.length === 0) setImmediate(runAfterAnswers);
  waiting.push(work);
}

/** Runs what waits now: at exit, and for readers that must see it at once (tests reading the log). */
export function runAfterAnswers(): void {
  for (const work of waiting.splice(0)) {
    try {
      work();
    } catch (error) {
      process.emitWarning(`deferred work failed: ${(error as Error).message}`, 'ForgegateWarning');
    }
  }
}
