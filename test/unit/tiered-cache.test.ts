import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisLevel } from '../../src/cache/redis.js';
import { TieredCache } from '../../src/cache/tiered.js';
import { silentLogger } from '../../src/log.js';
import { eventually } from '../support/eventually.js';
import { startRedis } from '../support/redis.js';

// The in-process level alone (no Redis): an index outlives the first entry filed under it,
// so a webhook still reaches entries stored later with longer lifetimes. Then two replicas on
// a real Redis: what one invalidates, the other hears of in one message.

test('an index lives as long as its longest-lived entry', async () => {
  const cache = new TieredCache(null);
  try {
    cache.set('dec:short', { v: 1 }, 1, 0, ['idx:p:gitlab:group/proj']);
    cache.set('dec:long', { v: 2 }, 60, 0, ['idx:p:gitlab:group/proj']);
    await sleep(1100); // the first entry, and its lifetime, are over
    assert.equal((await cache.get('dec:long'))?.fresh, true, 'the long entry is still fresh');
    await cache.invalidate('idx:p:gitlab:group/proj');
    assert.equal(await cache.get('dec:long'), undefined, 'the webhook found and dropped the long entry');
  } finally {
    cache.close();
  }
});

test('an index holds only what the local level holds: an account filing many decisions stays bounded', async () => {
  const cache = new TieredCache(null);
  try {
    // Decisions filed under one account's index, as a credential asking for ever new images
    // files them, half of them gone meanwhile: the index must not keep every name it ever saw.
    for (let i = 0; i < 20_000; i++) {
      cache.set(`dec:gitlab:x:img-${i}`, { v: i }, 60, 0, ['idx:a:gitlab:user:1']);
      if (i % 2 === 0) cache.delete(`dec:gitlab:x:img-${i}`); // as if evicted or expired
    }
    const held = cache.indexSize('idx:a:gitlab:user:1');
    assert.ok(held <= 10_000 + 2048, `index members: ${held}`);
    assert.equal(await cache.invalidate('idx:a:gitlab:user:1'), held, 'the live ones are all still found');
    assert.equal(await cache.get('dec:gitlab:x:img-19999'), undefined, 'and dropped');
  } finally {
    cache.close();
  }
});

test('an entry leaves its indexes when it goes, and a replacement files itself again', async () => {
  const cache = new TieredCache(null);
  try {
    cache.set('dec:a', { v: 1 }, 60, 0, ['idx:a:gitlab:user:1', 'idx:p:gitlab:group/proj']);
    cache.set('dec:a', { v: 2 }, 60, 0, ['idx:a:gitlab:user:1', 'idx:p:gitlab:group/proj']);
    assert.equal(cache.indexSize('idx:a:gitlab:user:1'), 1, 'replaced, still filed');
    cache.set('dec:short', { v: 3 }, 1, 0, ['idx:a:gitlab:user:2']);
    cache.delete('dec:a');
    assert.equal(cache.indexSize('idx:a:gitlab:user:1'), 0, 'deleted: gone from the account index');
    assert.equal(cache.indexSize('idx:p:gitlab:group/proj'), 0, 'and from the project index');
    await sleep(1100);
    assert.equal(await cache.get('dec:short'), undefined, 'expired');
    assert.equal(cache.indexSize('idx:a:gitlab:user:2'), 0, 'expired: gone from its index');
  } finally {
    cache.close();
  }
});

test('in front of Redis the in-process level keeps a bounded hot set, and what it let go Redis still answers', async () => {
  const redis = await startRedis();
  const level = new RedisLevel(redis.url, `tiered-bound-${process.pid}:`, silentLogger);
  const cache = new TieredCache(level);
  const alone = new TieredCache(null);
  try {
    await eventually('connected', () => level.status === 'up');
    const value = { reason: 'x'.repeat(300) };
    for (let i = 0; i < 20_000; i++) {
      cache.set(`dec:gitlab:x:img-${i}`, value, 60, 0, [`idx:a:gitlab:user:${i}`]);
      alone.set(`dec:gitlab:x:img-${i}`, value, 60);
    }
    assert.ok(cache.localBytes() <= 8 * 1024 * 1024, `in process: ${cache.localBytes()} bytes`);
    assert.ok(alone.localBytes() > 8 * 1024 * 1024, 'alone, the only copy, it holds more');
    assert.equal(cache.indexSize('idx:a:gitlab:user:0'), 0, 'an evicted entry left its index here');
    assert.equal(cache.indexSize('idx:a:gitlab:user:19999'), 1);
    await eventually('the first entry answered from Redis, fresh', async () => {
      const first = await cache.get<typeof value>('dec:gitlab:x:img-0');
      return first?.fresh === true && first.value.reason === value.reason;
    });
  } finally {
    cache.close();
    alone.close();
    await level.close();
    await redis.stop();
  }
});

test('one invalidation of several indexes reaches another replica as one message: never half of it', async () => {
  const redis = await startRedis();
  const prefix = `tiered-${process.pid}:`;
  const levels = [0, 1, 2].map(() => new RedisLevel(redis.url, prefix, silentLogger));
  const [a, b] = [new TieredCache(levels[0]!), new TieredCache(levels[1]!)];
  const messages: string[][] = [];
  levels[2]!.subscribe('invalidate', (message) => messages.push(JSON.parse(message) as string[]));
  try {
    await eventually('all three connected', () => levels.every((level) => level.status === 'up'));
    // Subscriptions go out once connected: probe (an empty message drops nothing) until one arrives.
    await eventually('the listener subscribed', () => {
      levels[0]!.publish('invalidate', '[]');
      return messages.length > 0;
    });
    await sleep(100); // probes still on their way
    messages.length = 0;
    // B verified a credential (filed under the account) and judged an image (project and account).
    b.set('id:gitlab:rex', { v: 'identity' }, 60, 0, ['idx:a:gitlab:user:7']);
    b.set('dec:gitlab:rex:r/shared', { v: 'decision' }, 60, 0, ['idx:p:gitlab:r/shared', 'idx:a:gitlab:user:7']);
    await eventually('B wrote both to Redis', async () => (await a.get('dec:gitlab:rex:r/shared')) !== undefined);
    assert.equal(await a.invalidate('idx:p:gitlab:r/shared', 'idx:a:gitlab:user:7'), 2, 'two entries, each once');
    await eventually('B hears of it', () => messages.length > 0);
    await sleep(100);
    assert.deepEqual(
      messages.map((keys) => keys.sort()),
      [['dec:gitlab:rex:r/shared', 'id:gitlab:rex']],
      'one message names both entries',
    );
    await eventually('B dropped both', async () => (await b.get('id:gitlab:rex')) === undefined);
    assert.equal(await b.get('dec:gitlab:rex:r/shared'), undefined);
  } finally {
    a.close();
    b.close();
    await Promise.all(levels.map((level) => level.close()));
    await redis.stop();
  }
});
