import autocannon from 'autocannon';

// One warm-path measurement: a warm-up whose figures are thrown away, then the measured run.

export const CONNECTIONS = 50;
export const WARMUP_SECONDS = 3;
export const MEASURE_SECONDS = 10;

export interface Figures {
  rps: number;
  p50: number;
  p99: number;
  /** Responses other than 2xx, plus socket errors and timeouts: any of these spoils the run. */
  failures: number;
  /** Responses of the measured run, all statuses. */
  requests: number;
}

/** `beforeMeasured` runs between the warm-up and the measured run (to read counters). */
export async function measure(url: string, headers: Record<string, string> = {}, beforeMeasured?: () => Promise<void>): Promise<Figures> {
  await run(url, headers, WARMUP_SECONDS);
  await beforeMeasured?.();
  return run(url, headers, MEASURE_SECONDS);
}

function run(url: string, headers: Record<string, string>, duration: number): Promise<Figures> {
  // autocannon's own histogram keeps whole milliseconds; sub-millisecond p50s need the raw times.
  const times: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url, headers, connections: CONNECTIONS, duration }, (error, result) => {
      if (error) return reject(error);
      times.sort((a, b) => a - b);
      const at = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)] ?? NaN;
      resolve({ rps: result['2xx'] / result.duration, p50: at(0.5), p99: at(0.99), failures: result.non2xx + result.errors + result.timeouts, requests: result['2xx'] + result.non2xx });
    });
    // The response time is the last argument (@types/autocannon leaves out the leading client).
    instance.on('response', (...args: unknown[]) => void times.push(args.at(-1) as number));
  });
}
