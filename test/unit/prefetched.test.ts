import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { Prefetched } from '../../src/forges/forge.js';

// Lookups started ahead of need: one call per (credential, item) however many requests ask,
// taken once, and never answering a request after their credential failed.

function counter() {
  let calls = 0;
  return { start: () => (calls++, Promise.resolve(`answer ${calls}`)), calls: () => calls };
}

test('a lookup is started once while it is held, and taken once', async () => {
  const ahead = new Prefetched<string>();
  const lookup = counter();
  for (let i = 0; i < 5; i++) ahead.put('glpat-a', 'group/proj', lookup.start);
  assert.equal(lookup.calls(), 1, 'five puts, one call');
  assert.equal(await ahead.take('glpat-a', 'group/proj'), 'answer 1', 'the taker gets the answer');
  assert.equal(ahead.take('glpat-a', 'group/proj'), undefined, 'taken once');
  assert.equal(ahead.take('glpat-b', 'group/proj'), undefined, 'another credential gets nothing');
});

test('after a take, the same lookup is not started again for a second; then it is', () => {
  mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  try {
    const ahead = new Prefetched<string>();
    const lookup = counter();
    ahead.put('glpat-a', 'group/proj', lookup.start);
    void ahead.take('glpat-a', 'group/proj');
    ahead.put('glpat-a', 'group/proj', lookup.start);
    assert.equal(lookup.calls(), 1, 'a request right behind the taker starts nothing');
    mock.timers.tick(1001);
    ahead.put('glpat-a', 'group/proj', lookup.start);
    assert.equal(lookup.calls(), 2, 'a later cold request looks ahead again');
  } finally {
    mock.timers.reset();
  }
});

test('a stale lookup answers nobody', () => {
  mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  try {
    const ahead = new Prefetched<string>(5000);
    ahead.put('glpat-a', 'group/proj', counter().start);
    mock.timers.tick(5001);
    assert.equal(ahead.take('glpat-a', 'group/proj'), undefined);
  } finally {
    mock.timers.reset();
  }
});

test('when the credential fails, its lookups are discarded and the next request starts its own', async () => {
  const ahead = new Prefetched<string>();
  const lookup = counter();
  ahead.put('glpat-a', 'group/proj', lookup.start);
  ahead.discard('glpat-a');
  assert.equal(ahead.take('glpat-a', 'group/proj'), undefined, 'nothing to take');
  ahead.put('glpat-a', 'group/proj', lookup.start);
  assert.equal(lookup.calls(), 2, 'a new lookup');
  assert.equal(await ahead.take('glpat-a', 'group/proj'), 'answer 2');
});

test('bounded: the oldest credential gives way', () => {
  const ahead = new Prefetched<string>(5000, 2);
  for (const credential of ['a', 'b', 'c']) ahead.put(credential, 'p', counter().start);
  assert.equal(ahead.take('a', 'p'), undefined, 'the first credential was dropped');
  assert.notEqual(ahead.take('c', 'p'), undefined, 'the newest is kept');
});

test('bounded per credential: one credential naming 100,000 images holds a few dozen lookups, oldest out first', () => {
  const ahead = new Prefetched<string>();
  const lookup = counter();
  ahead.put('glpat-a', 'first/image', lookup.start);
  for (let i = 0; i < 100_000; i++) ahead.put('glpat-a', `group/p${i}`, lookup.start);
  assert.ok(ahead.size <= 32, `lookups held for one credential: ${ahead.size}`);
  assert.equal(ahead.take('glpat-a', 'first/image'), undefined, 'the oldest lookup gave way');
  assert.notEqual(ahead.take('glpat-a', 'group/p99999'), undefined, 'the newest is kept');
});
