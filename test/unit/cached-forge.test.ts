import assert from 'node:assert/strict';
import { createSecretKey } from 'node:crypto';
import { describe, test } from 'node:test';
import { CachedForge, type CachePolicy } from '../../src/forges/cached-forge.js';
import { TieredCache } from '../../src/cache/tiered.js';
import type { PasswordCredential } from '../../src/credentials/credential.js';
import { AuthenticationFailed, Unavailable } from '../../src/errors.js';
import type { CacheableForge, ForgeJudgement, ForgeSession } from '../../src/forges/forge.js';
import { allowing, judgeAll } from '../../src/policy/grant.js';
import { createLogger } from '../../src/log.js';

// CachedForge in memory, in front of a stub forge that counts what it is asked: which answers
// come from cache and say so, what a rejection leaves behind, what stands in while the forge
// is down, and what a webhook drops. No HTTP: the forges' own behaviour is test/http's.

/** Keys the credential fingerprints. */
const SECRET = createSecretKey(new Uint8Array(32));

interface StubSession extends ForgeSession {
  token: string;
}

const PULL: ForgeJudgement = {
  judgements: judgeAll(allowing({ actions: ['pull'], rule: 'stub', because: 'stub' })),
  project: 'acme/app',
};

/** A forge that knows one token, `good`, and answers pull on every image; `down` makes it Unavailable. */
function stubForge() {
  const seen = { authenticate: 0, judge: 0, abandoned: [] as PasswordCredential[], forgotten: [] as string[] };
  const state = { down: false };
  const forge: CacheableForge<StubSession> = {
    name: 'stub',
    type: 'gitlab',
    prefix: '',
    recognises: () => true,
    credentialKey: ({ password }) => ['token', password],
    authenticate: async ({ password }) => {
      seen.authenticate++;
      if (state.down) throw new Unavailable('stub is down', 'stub');
      if (password !== 'good') throw new AuthenticationFailed('invalid username or token', 'stub rejected it');
      const identity = { subject: 'alice', kind: 'stub', source: 'stub' };
      return { identity, admin: false, account: 'alice', token: password };
    },
    judge: async () => {
      seen.judge++;
      if (state.down) throw new Unavailable('stub is down', 'stub');
      return PULL;
    },
    judgeCatalog: () => PULL.judgements,
    persist: ({ token: _secret, ...rest }) => rest,
    restore: (data, { password }) => ({ ...(data as Omit<StubSession, 'token'>), token: password }),
    abandon: (credential) => void seen.abandoned.push(credential),
    forget: (project) => void seen.forgotten.push(project),
  };
  return { forge, seen, state };
}

function cachedForge(policy: Partial<CachePolicy> = {}) {
  const stub = stubForge();
  const cache = new TieredCache(null);
  const full = { identityTtl: 60, decisionTtl: 60, negativeTtl: 60, staleIfError: 0, ...policy };
  const forge = new CachedForge(stub.forge, cache, SECRET, full, createLogger('silent'));
  return { ...stub, cached: forge, close: () => cache.close() };
}

const credential = (username: string, password: string): PasswordCredential => {
  return { kind: 'password', username, password };
};

describe('CachedForge', () => {
  test('a verified credential is answered from cache the second time, whatever username comes with it', async () => {
    const { cached, seen, close } = cachedForge();
    try {
      const first = await cached.authenticate(credential('alice', 'good'));
      assert.equal(first.cacheOutcome, 'miss');
      const again = await cached.authenticate(credential('someone-else', 'good'));
      assert.equal(again.cacheOutcome, 'hit');
      assert.equal(again.identity.subject, 'alice');
      assert.equal(seen.authenticate, 1, 'the forge was asked once');
    } finally {
      close();
    }
  });

  test('the secret is not kept: a restored session holds the credential presented now', async () => {
    const { cached, close } = cachedForge();
    try {
      await cached.authenticate(credential('alice', 'good'));
      const again = (await cached.authenticate(credential('alice', 'good'))) as StubSession;
      assert.equal(again.token, 'good');
    } finally {
      close();
    }
  });

  test('warm requests share one frozen session per entry and credential, never one made for another credential', async () => {
    const { cached, close } = cachedForge();
    try {
      await cached.authenticate(credential('alice', 'good'));
      const first = (await cached.authenticate(credential('alice', 'good'))) as StubSession;
      const second = (await cached.authenticate(credential('alice', 'good'))) as StubSession;
      assert.equal(second, first, 'the same object: no session made per warm request');
      assert.ok(Object.isFrozen(first) && Object.isFrozen(first.identity), 'shared, so frozen throughout');
      assert.throws(() => {
        (first as { token: string }).token = 'forged';
      }, TypeError);
      // The same entry reached with another username: restored for that credential, not shared.
      const other = (await cached.authenticate(credential('bob', 'good'))) as StubSession;
      assert.notEqual(other, first);
      assert.equal(other.token, 'good');
      assert.equal(other.cacheOutcome, 'hit');
    } finally {
      close();
    }
  });

  test('a new entry for the credential (after a webhook) revives a new session', async () => {
    const { cached, seen, close } = cachedForge();
    try {
      await cached.authenticate(credential('alice', 'good'));
      const before = await cached.authenticate(credential('alice', 'good'));
      await cached.invalidate({ accounts: ['alice'] });
      await cached.authenticate(credential('alice', 'good'));
      const after = await cached.authenticate(credential('alice', 'good'));
      assert.equal(seen.authenticate, 2, 'verified again after the webhook');
      assert.notEqual(after, before);
    } finally {
      close();
    }
  });

  test('a cached judgement comes back as one frozen hit, its cached value untouched', async () => {
    const { cached, close } = cachedForge();
    try {
      const session = await cached.authenticate(credential('alice', 'good'));
      const miss = await cached.judge(session, 'acme/app');
      const hit = await cached.judge(session, 'acme/app');
      assert.equal(await cached.judge(session, 'acme/app'), hit);
      assert.ok(Object.isFrozen(hit) && Object.isFrozen(hit.judgements.pull));
      assert.equal(miss.cacheOutcome, 'miss');
      assert.deepEqual({ ...hit, cacheOutcome: undefined }, { ...PULL, cacheOutcome: undefined });
    } finally {
      close();
    }
  });

  test('a rejected credential is remembered, and what was started for it is abandoned', async () => {
    const { cached, seen, close } = cachedForge();
    try {
      await assert.rejects(cached.authenticate(credential('alice', 'bad')), AuthenticationFailed);
      assert.deepEqual(seen.abandoned, [credential('alice', 'bad')]);
      await assert.rejects(cached.authenticate(credential('alice', 'bad')), (e: Error) => {
        return e instanceof AuthenticationFailed && /remembered for cache.negativeTtl/.test(e.reason);
      });
      assert.equal(seen.authenticate, 1, 'the rejection was not asked again');
    } finally {
      close();
    }
  });

  test('judgements say how they were found', async () => {
    const { cached, seen, close } = cachedForge();
    try {
      const session = await cached.authenticate(credential('alice', 'good'));
      assert.equal((await cached.judge(session, 'acme/app')).cacheOutcome, 'miss');
      assert.equal((await cached.judge(session, 'acme/app')).cacheOutcome, 'hit');
      assert.equal((await cached.judge(null, 'acme/app')).cacheOutcome, 'miss', 'anonymous answers are kept apart');
      assert.equal(seen.judge, 2);
    } finally {
      close();
    }
  });

  test('while the forge is down, an answer within cache.staleIfError stands in, marked stale', async (t) => {
    // The clock is moved by hand past freshness, well within cache.staleIfError: nothing is timed.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const { cached, state, close } = cachedForge({ identityTtl: 1, decisionTtl: 1, staleIfError: 60 });
    try {
      const session = await cached.authenticate(credential('alice', 'good'));
      await cached.judge(session, 'acme/app');
      t.mock.timers.tick(2000);
      state.down = true;
      const stale = await cached.authenticate(credential('alice', 'good'));
      assert.equal(stale.cacheOutcome, 'stale');
      const judged = await cached.judge(stale, 'acme/app');
      assert.equal(judged.cacheOutcome, 'stale');
      assert.deepEqual(judged.judgements, PULL.judgements);
    } finally {
      close();
    }
  });

  test('without cache.staleIfError, a forge outage fails closed', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const { cached, state, close } = cachedForge({ identityTtl: 1, decisionTtl: 1 });
    try {
      const session = await cached.authenticate(credential('alice', 'good'));
      await cached.judge(session, 'acme/app');
      t.mock.timers.tick(2000);
      state.down = true;
      await assert.rejects(cached.authenticate(credential('alice', 'good')), Unavailable);
      await assert.rejects(cached.judge(session, 'acme/app'), Unavailable);
    } finally {
      close();
    }
  });

  test('a webhook naming the project drops its judgements and tells the forge to forget it', async () => {
    const { cached, seen, close } = cachedForge();
    try {
      await cached.judge(null, 'acme/app');
      await cached.invalidate({ projects: ['acme/app'] });
      assert.deepEqual(seen.forgotten, ['acme/app']);
      assert.equal((await cached.judge(null, 'acme/app')).cacheOutcome, 'miss');
      assert.equal(seen.judge, 2);
    } finally {
      close();
    }
  });

  test('a webhook naming the account drops its verified credentials', async () => {
    const { cached, seen, close } = cachedForge();
    try {
      await cached.authenticate(credential('alice', 'good'));
      await cached.invalidate({ accounts: ['alice'] });
      assert.equal((await cached.authenticate(credential('alice', 'good'))).cacheOutcome, 'miss');
      assert.equal(seen.authenticate, 2);
    } finally {
      close();
    }
  });

  test('a look-ahead whose cache check answers after the verification starts no forge call', async () => {
    const stub = stubForge();
    const speculated: string[][] = [];
    stub.forge.speculate = (_credential, paths) => void speculated.push([...paths]);
    // A busy Redis: the look-ahead's check of the decision cache answers only when released.
    let release!: () => void;
    const late = new Promise<void>((resolve) => (release = resolve));
    const cache = new (class extends TieredCache {
      override async get<T>(key: string) {
        if (key.startsWith('dec:')) await late;
        return super.get<T>(key);
      }
    })(null);
    const policy = { identityTtl: 60, decisionTtl: 60, negativeTtl: 60, staleIfError: 0 };
    const cached = new CachedForge(stub.forge, cache, SECRET, policy, createLogger('silent'));
    try {
      await cached.authenticate(credential('alice', 'good'), ['acme/app']);
      release();
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(
        speculated,
        [],
        'the request judges the image itself: a lookup started now would be a second call',
      );
    } finally {
      cache.close();
    }
  });

  test('a look-ahead whose cache check answers during the verification starts its lookups', async () => {
    const stub = stubForge();
    const speculated: string[][] = [];
    stub.forge.speculate = (_credential, paths) => void speculated.push([...paths]);
    const authenticate = stub.forge.authenticate;
    stub.forge.authenticate = async (presented) => {
      await new Promise((resolve) => setImmediate(resolve)); // the forge's round trip
      return authenticate(presented);
    };
    const cache = new TieredCache(null);
    const policy = { identityTtl: 60, decisionTtl: 60, negativeTtl: 60, staleIfError: 0 };
    const cached = new CachedForge(stub.forge, cache, SECRET, policy, createLogger('silent'));
    try {
      await cached.authenticate(credential('alice', 'good'), ['acme/app']);
      assert.deepEqual(speculated, [['acme/app']]);
    } finally {
      cache.close();
    }
  });
});
