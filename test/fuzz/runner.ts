import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { forgeries, generateCase, Rng, type FuzzCase, type FuzzTargets } from './generators.js';

// Sends generated cases to a live server and tallies what came back. Used by the short fuzz
// run in the test suite and by bench/fuzz.ts. A "violation" is a 5xx, a request that got no
// answer within the deadline (hung), or a 200 for a request carrying only forged credentials.

export interface FuzzTally {
  requests: number;
  statuses: Record<string, number>;
  byLabel: Record<string, Record<string, number>>;
  /** Per label: the slowest answer and the total time, in ms. */
  timing: Record<string, { maxMs: number; totalMs: number }>;
  serverErrors: number;
  hung: number;
  forgedAccepted: number;
  /** The first few violations, with the case that caused them, for replay. */
  examples: { label: string; status: string; detail: string }[];
}

export interface FuzzOptions {
  url: string;
  count: number;
  concurrency: number;
  seed: number;
  targets: FuzzTargets;
  /** No answer within this is a hang (the server's own timeouts are 15 s headers, 30 s request). */
  deadlineMs?: number;
  onProgress?: (done: number, tally: FuzzTally) => void;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzTally> {
  const { url, count, concurrency, seed, targets, deadlineMs = 20_000 } = options;
  const { hostname, port } = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const forged = await forgeries(targets);
  const rng = new Rng(seed);
  const tally: FuzzTally = {
    requests: 0,
    statuses: {},
    byLabel: {},
    timing: {},
    serverErrors: 0,
    hung: 0,
    forgedAccepted: 0,
    examples: [],
  };
  let issued = 0;

  const worker = async () => {
    while (issued < count) {
      issued++;
      const fuzzCase = generateCase(rng, targets, forged);
      const started = performance.now();
      const status =
        fuzzCase.kind === 'raw'
          ? await sendRaw(hostname, Number(port), fuzzCase.bytes, deadlineMs)
          : await sendHttp(agent, hostname, Number(port), fuzzCase, deadlineMs);
      record(tally, fuzzCase, status);
      const ms = performance.now() - started;
      const timing = (tally.timing[fuzzCase.label] ??= { maxMs: 0, totalMs: 0 });
      timing.maxMs = Math.max(timing.maxMs, Math.round(ms));
      timing.totalMs += ms;
      if (options.onProgress && tally.requests % 5000 === 0) options.onProgress(tally.requests, tally);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return tally;
}

function record(tally: FuzzTally, fuzzCase: FuzzCase, status: string): void {
  tally.requests++;
  tally.statuses[status] = (tally.statuses[status] ?? 0) + 1;
  const label = (tally.byLabel[fuzzCase.label] ??= {});
  label[status] = (label[status] ?? 0) + 1;
  const serverError = /^5\d\d$/.test(status);
  const forgedOk = fuzzCase.kind === 'http' && fuzzCase.forged && status === '200';
  if (serverError) tally.serverErrors++;
  if (status === 'hung') tally.hung++;
  if (forgedOk) tally.forgedAccepted++;
  if ((serverError || forgedOk || status === 'hung') && tally.examples.length < 10) {
    const detail =
      fuzzCase.kind === 'raw'
        ? fuzzCase.bytes.subarray(0, 200).toString('latin1')
        : `${fuzzCase.method} ${fuzzCase.path.slice(0, 300)} ${JSON.stringify(fuzzCase.headers).slice(0, 300)} ${fuzzCase.body?.subarray(0, 300).toString('latin1') ?? ''}`;
    tally.examples.push({ label: fuzzCase.label, status, detail });
  }
}

/** The status as text; "no-response" when the server closed without one (allowed for junk), "hung" past the deadline. */
function sendHttp(
  agent: Agent,
  host: string,
  port: number,
  c: Extract<FuzzCase, { kind: 'http' }>,
  deadlineMs: number,
  retry = true,
): Promise<string> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (status: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(status);
    };
    let req: ReturnType<typeof request>;
    try {
      req = request(
        {
          agent,
          host,
          port,
          method: c.method,
          path: c.path,
          headers: { ...c.headers, ...(c.body ? { 'content-length': String(c.body.length) } : {}) },
        },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => done(String(res.statusCode)));
          res.on('error', () => done(String(res.statusCode)));
        },
      );
    } catch {
      resolve('client-refused'); // Node's client would not send it (invalid header bytes): raw cases cover those
      return;
    }
    const timer = setTimeout(() => {
      req.destroy();
      done('hung');
    }, deadlineMs);
    req.on('error', () => {
      // A keep-alive connection the server closed after its last answer (it may, e.g. after
      // refusing a body it did not read) fails the next request sent on it before the server
      // saw it: as Node's documentation advises, send that one again on a new connection.
      if (req.reusedSocket && !settled && retry) {
        settled = true;
        clearTimeout(timer);
        resolve(sendHttp(agent, host, port, c, deadlineMs, false));
        return;
      }
      // A head far past the server's 16 KiB limit: the server answers 431 and closes while the
      // client is still writing megabytes, so the client sees its write fail, not the answer.
      done(c.path.length + JSON.stringify(c.headers).length > 16 * 1024 ? 'closed-oversized' : 'no-response');
    });
    req.end(c.body);
  });
}

function sendRaw(host: string, port: number, bytes: Buffer, deadlineMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let head = '';
    let settled = false;
    const done = (status: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(status);
    };
    const timer = setTimeout(() => done(head === '' ? 'hung' : statusOf(head)), deadlineMs);
    socket.on('connect', () => socket.end(bytes));
    socket.on('data', (chunk: Buffer) => {
      if (head.length < 64) head += chunk.toString('latin1', 0, Math.min(chunk.length, 64));
    });
    socket.on('error', () => done(head === '' ? 'no-response' : statusOf(head)));
    socket.on('close', () => done(head === '' ? 'no-response' : statusOf(head)));
  });
}

function statusOf(head: string): string {
  return /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 'garbled';
}
