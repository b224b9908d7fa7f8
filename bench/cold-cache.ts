import { createHmac, createSecretKey, generateKeyPairSync, sign } from 'node:crypto';

// What a few of the warm path's steps cost when the CPU caches hold something else. In a tight
// loop a step finds its code and data in the caches; in a server each request runs through
// Node's HTTP code, V8, OpenSSL and the kernel before the same step comes round again. Each
// step is timed alone, once with nothing in between, once right after a sweep through memory
// larger than the caches.

export interface ColdCost {
  step: string;
  /** µs per call, calls back to back. */
  hotUs: number;
  /** µs per call, each right after the sweep (the sweep not timed). */
  sweptUs: number;
}

export const SWEEP_MIB = 16;
export const COLD_CALLS = 2000;
const CACHE_LINE = 64;

export function coldCacheCosts(): ColdCost[] {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const secret = createSecretKey(new Uint8Array(32).fill(7)); // a KeyObject, as cache/fingerprint.ts keys it
  const input = Buffer.alloc(900, 'e');
  const line = { reqId: 'f1c2', clientIp: '10.0.0.1', requested: ['repository:bench/app:pull,push'], latencyMs: 0.2 };
  const steps: Record<string, () => unknown> = {
    'ES256 signature (crypto.sign)': () => sign('sha256', input, privateKey),
    'HMAC-SHA256 of a credential (createHmac)': () =>
      createHmac('sha256', secret).update('ci-bench\u0000password\u0000').digest('base64url'),
    'JSON.stringify of a short audit line': () => JSON.stringify(line),
  };
  const memory = new Uint8Array(SWEEP_MIB * 1024 * 1024);
  const sweep = () => {
    for (let i = 0; i < memory.length; i += CACHE_LINE) memory[i]!++;
  };
  const time = (step: () => unknown, swept: boolean) => {
    let total = 0n;
    for (let i = 0; i < COLD_CALLS; i++) {
      if (swept) sweep();
      const started = process.hrtime.bigint();
      step();
      total += process.hrtime.bigint() - started;
    }
    return Number(total) / COLD_CALLS / 1000;
  };
  return Object.entries(steps).map(([step, run]) => {
    time(run, false); // compiled and warm before either figure
    return { step, hotUs: time(run, false), sweptUs: time(run, true) };
  });
}
