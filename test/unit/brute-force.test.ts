import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { passwordCredential } from '../../src/credentials/credential.js';
import { AuthenticationFailed } from '../../src/errors.js';
import { BruteForceGuard, TooManyAttempts } from '../../src/http/guard/brute-force.js';
import { startRedis, type RunningRedis } from '../support/redis.js';

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

test('concurrent requests of a caller not yet known clean share one reading of the counters in Redis', async (t) => {
  const redis = await startRedis();
  const { Redis } = await import('ioredis');
  const client = new Redis(redis.url, { keyPrefix: `guard-${process.pid}:` });
  const probe = new Redis(redis.url);
  t.after(async () => {
    client.disconnect();
    probe.disconnect();
    await redis.stop();
  });
  const processed = async () => Number(/total_commands_processed:(\d+)/.exec(await probe.info('stats'))![1]);
  const guard = new BruteForceGuard(LIMITS, { redis: client, ownsAccount: (name) => name === 'alice' });
  await client.ping();
  const before = await processed();
  await Promise.all(Array.from({ length: 20 }, () => guard.admit(IP, passwordCredential('alice', 'right'))));
  const commands = (await processed()) - before - 1; // -1: the INFO itself
  assert.ok(commands <= 12, `Redis commands for 20 concurrent admissions: ${commands} (one reading is at most 12)`);
});

// The clean mark over time: a clock the tests move, and Redis so that readings take real round trips.
describe('a clean caller read again in the background', () => {
  let redis: RunningRedis;
  let clients: Redis[] = [];
  let processed: () => Promise<number>;
  const alice = passwordCredential('alice', 'right');

  before(async () => {
    redis = await startRedis();
    const probe = connect();
    processed = async () => Number(/total_commands_processed:(\d+)/.exec(await probe.info('stats'))![1]);
  });
  after(async () => {
    for (const client of clients) client.disconnect();
    clients = [];
    await redis.stop();
  });

  function connect(): Redis {
    const client = new Redis(redis.url, { keyPrefix: `guard-${process.pid}:` });
    clients.push(client);
    return client;
  }
  /** A replica's guard on the shared Redis (connected: the limiter refuses a client not ready yet), and its clock. */
  async function replica(): Promise<{ guard: BruteForceGuard; clock: { now: number } }> {
    const clock = { now: 0 };
    const client = connect();
    await client.ping();
    const guard = new BruteForceGuard(LIMITS, {
      redis: client,
      ownsAccount: (name) => name === 'alice' || name.startsWith('victim'),
      clock: () => clock.now,
    });
    return { guard, clock };
  }
  /** A busy caller: asks `times` more at the clock's time. */
  async function asks(guard: BruteForceGuard, ip: string, times: number): Promise<void> {
    for (let i = 0; i < times; i++) await guard.admit(ip, alice);
  }
  // Long enough for a background reading (three Redis round trips) to end, on a busy machine too.
  const settled = () => new Promise((resolve) => setTimeout(resolve, 100));

  test('a busy caller keeps its mark: late in its second a request starts the reading, and none waits for one', async () => {
    const { guard, clock } = await replica();
    const ip = '198.51.100.10';
    await asks(guard, ip, 10);
    clock.now = 800;
    await guard.admit(ip, alice);
    await settled();
    const before = await processed();
    clock.now = 1500;
    await guard.admit(ip, alice);
    assert.equal((await processed()) - before - 1, 0, 'read again at 800 ms: no Redis call at 1,500'); // -1: INFO
  });

  test('a caller asking now and then is not read early: it waits for its reading as before, and costs no more', async () => {
    const { guard, clock } = await replica();
    const ip = '198.51.100.13';
    await asks(guard, ip, 2);
    const before = await processed();
    clock.now = 800;
    await guard.admit(ip, alice);
    await settled();
    assert.equal((await processed()) - before - 1, 0, 'no reading at 800 ms'); // -1: INFO
  });

  test("a ban from another replica reaches a busy caller's requests sooner, never later", async () => {
    const a = await replica();
    const b = await replica();
    const ip = '198.51.100.11';
    await asks(a.guard, ip, 10);
    for (let i = 1; i <= LIMITS.failures; i++) await fail(b.guard, `victim-${i}`, ip);
    a.clock.now = 800;
    await a.guard.admit(ip, alice); // within its second: admitted, and the reading begins
    await settled();
    a.clock.now = 850;
    await assert.rejects(a.guard.admit(ip, alice), TooManyAttempts, 'the reading took the mark back');
  });

  test('a reading begun before a ban is neither shared after it nor marks anyone clean', async () => {
    const { guard, clock } = await replica();
    const ip = '198.51.100.12';
    await asks(guard, ip, 10);
    // The limiter is the guard's own: hold back alice's readings' answers until the ban is made.
    const limiter = (guard as unknown as { limiter: { get(key: string): Promise<unknown> } }).limiter;
    const get = limiter.get.bind(limiter);
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
      setTimeout(resolve, 500).unref(); // a request that waits for it fails its assertion instead of hanging
    });
    limiter.get = async (key) => {
      const answer = await get(key);
      if (key.includes('alice') || key === `ip:${ip}`) await held;
      return answer;
    };
    clock.now = 800;
    await guard.admit(ip, alice); // its reading sees no failure yet, and waits
    limiter.get = get;
    for (let i = 1; i <= LIMITS.failures; i++) await fail(guard, `victim-${i}`, ip);
    clock.now = 1100;
    await assert.rejects(guard.admit(ip, alice), TooManyAttempts, 'read afresh, not by the reading begun before');
    release();
    await settled();
    clock.now = 1150;
    await assert.rejects(guard.admit(ip, alice), TooManyAttempts, 'the reading begun before marked no one clean');
  });
});
