import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TieredCache } from '../../src/cache/tiered.js';

// The in-process level alone (no Redis): an index outlives the first entry filed under it,
// so a webhook still reaches entries stored later with longer lifetimes.

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
