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
