import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { ask, startRedisFaultEnv, type Caller, type RedisFaultEnv } from './scenarios.js';

// Redis is an accelerator, never a dependency of correctness: killed, paused (SIGSTOP) or
// restarted empty, forgegate keeps granting exactly what GitLab allows, answers within its
// timeouts, and goes back to using Redis by itself once it is back.

let env: RedisFaultEnv;
let redis: RedisFaultEnv['redis'];
let fg: RedisFaultEnv['fg'];
const freshCaller = () => env.freshCaller();

before(async () => {
  env = await startRedisFaultEnv();
  ({ redis, fg } = env);
});
after(async () => {
  await env?.stop();
});

async function grants(caller: Caller, what: string): Promise<void> {
  const outcome = await ask(fg, caller);
  assert.notEqual(outcome.status, 'aborted', `${what}: request hung`);
  assert.deepEqual(
    [outcome.status, outcome.granted],
    [200, caller.healthy],
    `${what}: ${outcome.status} ${outcome.message ?? ''}`,
  );
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${ms} ms`);
    await sleep(100);
  }
}

async function keysInRedis(): Promise<number> {
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    return await client.dbsize();
  } catch {
    return -1;
  } finally {
    client.disconnect();
  }
}

test('Redis killed, restarted empty, paused and resumed: the same grants throughout, Redis used again after', async () => {
  // Healthy means connected: a command sent while the first connection is still being made
  // fails at once (no offline queue), and the entries of that request would stay in process.
  await until('forgegate connects to Redis', () => fg.runtime.redis?.status === 'up');
  const warm = freshCaller();
  await grants(warm, 'healthy, cold');
  await grants(warm, 'healthy, warm');
  await until('entries written to Redis', async () => (await keysInRedis()) > 0);

  await redis.kill();
  await grants(warm, 'Redis killed, warm credential');
  await grants(freshCaller(), 'Redis killed, cold credential');
  await until('forgegate notices Redis is down', () => fg.runtime.redis?.status === 'down');

  await redis.restart();
  await until('forgegate reconnects by itself', () => fg.runtime.redis?.status === 'up');
  await grants(warm, 'Redis restarted empty, warm credential');
  await sleep(1100); // a failed command makes forgegate skip Redis for a second
  const afterRestart = freshCaller();
  await grants(afterRestart, 'Redis restarted empty, cold credential');
  await until('entries written to the new Redis', async () => (await keysInRedis()) > 0);

  await redis.pause();
  await grants(warm, 'Redis paused, warm credential');
  await grants(freshCaller(), 'Redis paused, cold credential');
  await grants(freshCaller(), 'Redis paused, another cold credential');
  await redis.resume();
  await sleep(1100);
  await until('Redis answers again', async () => (await fg.runtime.redis?.ping()) === true);
  await grants(freshCaller(), 'Redis resumed, cold credential');
  await grants(afterRestart, 'Redis resumed, credential cached before the pause');
});
