import assert from 'node:assert/strict';
import { createSecretKey } from 'node:crypto';
import { test } from 'node:test';
import { CachedForge } from '../../src/forges/cached-forge.js';
import { TieredCache } from '../../src/cache/tiered.js';
import { chargeForgeCall, ForgeCallsSpent, withForgeCallBudget } from '../../src/forges/budget.js';
import type { ForgeCallBudget } from '../../src/forges/budget.js';
import type { CacheableForge, ForgeJudgement, ForgeSession } from '../../src/forges/forge.js';
import { allowing, judgeAll } from '../../src/policy/grant.js';
import { networkOf } from '../../src/http/guard/anonymous.js';
import { createLogger } from '../../src/log.js';

// The forge call budget travels with the request's async context and is charged right before
// each call the forge client makes: a cache hit costs nothing, and a request that joined a
// lookup another request started (identical concurrent lookups are collapsed) is not refused
// because that other request's budget ran out.

const PUBLIC: ForgeJudgement = {
  judgements: judgeAll(allowing({ actions: ['pull'], rule: 'public', because: 'public' })),
  project: 'acme/lib',
};

/** A forge whose one lookup charges the budget, and waits for `release` before answering. */
function slowForge(): { forge: CacheableForge; release: () => void; calls: () => number } {
  let calls = 0;
  let release!: () => void;
  let gate = new Promise<void>((resolve) => (release = resolve));
  const forge = {
    name: 'stub',
    type: 'github',
    prefix: '',
    recognises: () => false,
    credentialKey: ({ password }) => [password],
    authenticate: () => Promise.reject(new Error('unused')),
    judgeCatalog: () => PUBLIC.judgements,
    persist: (s: ForgeSession) => s,
    restore: (d: unknown) => d as ForgeSession,
    judge: async () => {
      await gate;
      await chargeForgeCall();
      calls++;
      return PUBLIC;
    },
  } satisfies CacheableForge;
  return {
    forge,
    release: () => {
      release();
      gate = Promise.resolve();
    },
    calls: () => calls,
  };
}

function budget(left: number): ForgeCallBudget & { spent: () => number } {
  let spent = 0;
  const b = {
    spend: async () => {
      if (spent >= left) throw new ForgeCallsSpent(30, b);
      spent++;
    },
    spent: () => spent,
  };
  return b;
}

function cached(forge: CacheableForge): { cached: CachedForge; close: () => void } {
  const cache = new TieredCache(null);
  const policy = { identityTtl: 60, decisionTtl: 60, negativeTtl: 10, staleIfError: 0 };
  const cached = new CachedForge(forge, cache, createSecretKey(new Uint8Array(32)), policy, createLogger('silent'));
  return { cached, close: () => cache.close() };
}

test('a request that joined a lookup whose starter ran out of calls is judged on its own budget', async () => {
  const stub = slowForge();
  const { cached: forge, close } = cached(stub.forge);
  try {
    const spent = budget(0);
    const fresh = budget(5);
    const first = withForgeCallBudget(spent, () => forge.judge(null, 'acme/lib'));
    const second = withForgeCallBudget(fresh, () => forge.judge(null, 'acme/lib')); // joins the first's flight
    stub.release();
    await assert.rejects(first, ForgeCallsSpent, 'the spent budget is refused');
    const judged = await second;
    assert.equal(judged.project, 'acme/lib', 'the joiner got its answer');
    assert.equal(fresh.spent(), 1, 'paid from its own budget');
    assert.equal(stub.calls(), 1, 'with one forge call');
  } finally {
    close();
  }
});

test('cache hits and unmetered requests cost no budget', async () => {
  const stub = slowForge();
  stub.release();
  const { cached: forge, close } = cached(stub.forge);
  try {
    await forge.judge(null, 'acme/lib'); // no budget: unmetered
    const spent = budget(0);
    const judged = await withForgeCallBudget(spent, () => forge.judge(null, 'acme/lib'));
    assert.equal(judged.cacheOutcome, 'hit', 'answered from cache, though the budget is spent');
    assert.equal(stub.calls(), 1);
  } finally {
    close();
  }
});

test('budgets are per IPv4 address and per IPv6 /64', () => {
  assert.equal(networkOf('203.0.113.5'), '203.0.113.5');
  assert.equal(networkOf('::ffff:192.0.2.1'), '192.0.2.1', 'an IPv4-mapped address is its IPv4 address');
  for (const ip of ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::9', '2001:DB8:0001:0002::', '2001:db8:1:2:3:4:1.2.3.4']) {
    assert.equal(networkOf(ip), '2001:db8:1:2::/64', ip);
  }
  assert.equal(networkOf('fe80::1%eth0'), 'fe80:0:0:0::/64', 'a zone index is dropped');
  assert.notEqual(networkOf('2001:db8:1:3::1'), networkOf('2001:db8:1:2::1'));
});
