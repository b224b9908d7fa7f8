import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { passwordCredential } from '../../src/credentials/credential.js';
import { AuthenticationFailed } from '../../src/errors.js';
import { BruteForceGuard, TooManyAttempts } from '../../src/http/guard/brute-force.js';
import { startRedis } from '../support/redis.js';

// The guard on its own, with the in-process limiter: what HTTP cannot line up on demand, such as
// many requests of one caller admitted before any of them is settled.

const LIMITS = { enabled: true, failures: 3, window: 60, ban: 120, anonymousForgeCalls: 60 };
const IP = '198.51.100.77';
const failed = new AuthenticationFailed('invalid username or token');

function guardOwning(...accounts: string[]): BruteForceGuard {
  return new BruteForceGuard(LIMITS, { ownsAccount: (name) => accounts.includes(name) });
}

async function fail(guard: BruteForceGuard, username: string, ip = IP): Promise<void> {
  await guard.settle(await guard.admit(ip, passwordCredential(username, 'wrong')), failed);
}

test('concurrent successes forgive their failures on the IP once, not once each (a spray hidden behind them)', async () => {
  const guard = guardOwning('alice', 'victim-1', 'victim-2', 'victim-3');
  const alice = passwordCredential('alice', 'right');
  for (let i = 0; i < LIMITS.failures - 1; i++) await fail(guard, 'alice');
  const admissions = await Promise.all(Array.from({ length: 20 }, () => guard.admit(IP, alice)));
  await Promise.all(admissions.map((admission) => guard.settle(admission, undefined)));
  for (const victim of ['victim-1', 'victim-2', 'victim-3']) await fail(guard, victim);
  await assert.rejects(guard.admit(IP, alice), TooManyAttempts, 'the third failure from the IP bans it');
});

test('a success forgives its own failures, and the next success has nothing left to forgive', async () => {
  const guard = guardOwning('alice', 'victim-1', 'victim-2', 'victim-3');
  const alice = passwordCredential('alice', 'right');
  for (let i = 0; i < LIMITS.failures - 1; i++) await fail(guard, 'alice');
  await guard.settle(await guard.admit(IP, alice), undefined);
  await guard.settle(await guard.admit(IP, alice), undefined);
  await fail(guard, 'victim-1');
  await fail(guard, 'victim-2');
  await guard.admit(IP, alice); // two failures on the IP since: not banned yet
  await fail(guard, 'victim-3');
  await assert.rejects(guard.admit(IP, alice), TooManyAttempts, 'the third failure from the IP bans it');
});

test('expired clean marks of callers who never come back are swept as new callers are marked', async () => {
  const guard = guardOwning();
  const admitCallers = (name: string, count: number) =>
    Promise.all(Array.from({ length: count }, (_, i) => guard.admit(IP, passwordCredential(name, `${name}-${i}`))));
  await admitCallers('first', 200);
  assert.equal(guard.cleanMarks(), 200, 'all of them marked, none expired yet');
  await new Promise((resolve) => setTimeout(resolve, 1300)); // past every mark's second and its quarter
  await admitCallers('second', 100);
  assert.equal(guard.cleanMarks(), 100, "the first callers' expired marks are gone");
});

/** A guard owning the account alice, on a Redis of its own that the test stops; its URL, for probes. */
async function guardOnRedis(t: TestContext): Promise<{ guard: BruteForceGuard; url: string }> {
  const redis = await startRedis();
  const client = new Redis(redis.url, { keyPrefix: `guard-${process.pid}:` });
  t.after(async () => {
    client.disconnect();
    await redis.stop();
  });
  await client.ping(); // the limiter refuses a client not ready yet
  return {
    guard: new BruteForceGuard(LIMITS, { redis: client, ownsAccount: (name) => name === 'alice' }),
    url: redis.url,
  };
}

test('concurrent requests of a caller not yet known clean share one reading of the counters in Redis', async (t) => {
  const { guard, url } = await guardOnRedis(t);
  const probe = new Redis(url);
  t.after(() => probe.disconnect());
  const processed = async () => Number(/total_commands_processed:(\d+)/.exec(await probe.info('stats'))![1]);
  const before = await processed();
  await Promise.all(Array.from({ length: 20 }, () => guard.admit(IP, passwordCredential('alice', 'right'))));
  const commands = (await processed()) - before - 1; // -1: the INFO itself
  assert.ok(commands <= 12, `Redis commands for 20 concurrent admissions: ${commands} (one reading is at most 12)`);
});

test('a reading begun before a ban is neither shared after it nor marks anyone clean', async (t) => {
  const { guard } = await guardOnRedis(t);
  const alice = passwordCredential('alice', 'right');
  const ip = '198.51.100.12';
  // The limiter is the guard's own: hold back the answers of alice's reading until the ban is made.
  const limiter = (guard as unknown as { limiter: { get(key: string): Promise<unknown> } }).limiter;
  const get = limiter.get.bind(limiter);
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
    setTimeout(resolve, 500).unref(); // a request that waits for it fails its assertion instead of hanging
  });
  limiter.get = async (key) => {
    const answer = await get(key);
    await held;
    return answer;
  };
  const before = guard.admit(ip, alice); // its reading sees no failure yet, and waits
  await new Promise(setImmediate); // the reading has asked the limiter
  limiter.get = get;
  for (let i = 1; i <= LIMITS.failures; i++) await fail(guard, `victim-${i}`, ip);
  await assert.rejects(guard.admit(ip, alice), TooManyAttempts, 'read afresh, not by the reading begun before');
  release();
  await before; // begun before the ban: admitted, as any request a moment earlier
  await assert.rejects(guard.admit(ip, alice), TooManyAttempts, 'the reading begun before marked no one clean');
});

test('a caller back just after its clean second is admitted at once, and a ban from another replica reaches it with that reading', async (t) => {
  const { guard, url } = await guardOnRedis(t);
  const client = new Redis(url, { keyPrefix: `guard-${process.pid}:` });
  t.after(() => client.disconnect());
  await client.ping(); // the limiter refuses a client not ready yet
  const replica = new BruteForceGuard(LIMITS, { redis: client, ownsAccount: (name) => name === 'alice' });
  const alice = passwordCredential('alice', 'right');
  await guard.admit(IP, alice); // read: no failures, marked clean for a second
  for (let i = 1; i <= LIMITS.failures; i++) await fail(replica, `victim-${i}`); // the other replica bans the IP
  await guard.admit(IP, alice); // within the second: not read again
  await new Promise((resolve) => setTimeout(resolve, 1050));
  // The limiter answers this reading only after a pause: the admission must not wait for it.
  const limiter = (guard as unknown as { limiter: { get(key: string): Promise<unknown> } }).limiter;
  const get = limiter.get.bind(limiter);
  limiter.get = async (key) => {
    await new Promise((resolve) => setTimeout(resolve, 100));
    return get(key);
  };
  const started = performance.now();
  await guard.admit(IP, alice);
  assert.ok(performance.now() - started < 50, 'admitted without waiting for the reading');
  limiter.get = get;
  await new Promise((resolve) => setTimeout(resolve, 150)); // the reading has landed
  await assert.rejects(guard.admit(IP, alice), TooManyAttempts, 'the ban, found by that reading');
});
