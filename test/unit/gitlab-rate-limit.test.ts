import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Unavailable } from '../../src/errors.js';
import { GitLabApi, resetOf } from '../../src/forges/gitlab/api.js';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import { assertUnavailable } from '../support/assertions.js';
import { startForgegate, type TestForgegate } from '../support/forgegate.js';
import { granted, repo, tokenClient } from '../support/token-client.js';

// GitLab throttles its API per user (per address without a valid token) and answers 429 with
// Retry-After until the window ends. forgegate remembers the 429 for the credential that drew
// it: until then, that credential's calls answer 503 without reaching GitLab, and every other
// credential's are asked as usual.

describe('when a throttled credential may ask GitLab again', () => {
  const now = Date.parse('2026-12-01T10:00:00Z');
  const headers = (init: Record<string, string>) => new Headers(init);

  test('Retry-After in seconds, or as an HTTP date', () => {
    assert.equal(resetOf(headers({ 'retry-after': '42' }), now), now + 42_000);
    assert.equal(resetOf(headers({ 'retry-after': 'Tue, 01 Dec 2026 10:01:00 GMT' }), now), now + 60_000);
  });

  test("without Retry-After, GitLab's RateLimit-Reset (Unix seconds)", () => {
    assert.equal(resetOf(headers({ 'ratelimit-reset': String(now / 1000 + 30) }), now), now + 30_000);
    assert.equal(
      resetOf(headers({ 'retry-after': 'soon', 'ratelimit-reset': String(now / 1000 + 5) }), now),
      now + 5000,
    );
  });

  test('a 429 that says nothing (a proxy, an older GitLab), or a reset in the past: ten seconds', () => {
    assert.equal(resetOf(headers({}), now), now + 10_000);
    assert.equal(resetOf(headers({ 'ratelimit-reset': String(now / 1000 - 5) }), now), now + 10_000);
  });
});

describe('GitLabApi against a throttling GitLab (2 API requests per user and window)', () => {
  const gitlab = new FakeGitLab();
  let api: GitLabApi;
  const dev = gitlab.addUser({ username: 'dev' });
  const ops = gitlab.addUser({ username: 'ops' });
  gitlab.addToken({ token: 'glpat-dev', user_id: dev.id, scopes: ['api'] });
  gitlab.addToken({ token: 'glpat-ops', user_id: ops.id, scopes: ['api'] });
  before(() => gitlab.start());
  beforeEach(() => {
    api = new GitLabApi('gitlab', gitlab.url, 5); // remembers nothing of the test before
    gitlab.resetThrottle();
    gitlab.resetCalls();
  });
  after(() => gitlab.stop());

  const outcome = (token: string) =>
    api.currentUser(token).then(
      (user) => user.username,
      (error: unknown) => error,
    );

  test('the 429 is a 503 with its Retry-After; the next call for that token is not sent, another user is asked', async () => {
    gitlab.throttle = { requests: 2, periodSeconds: 60, headers: true };
    assert.equal(await outcome('glpat-dev'), 'dev');
    assert.equal(await outcome('glpat-dev'), 'dev');
    const limited = await outcome('glpat-dev');
    assert.ok(limited instanceof Unavailable, String(limited));
    assert.match(limited.message, /could not answer GET \/user: HTTP 429$/);
    assert.ok(limited.retryAfter! >= 1 && limited.retryAfter! <= 60, `retryAfter ${limited.retryAfter}`);
    assert.equal(gitlab.calls('GET /user'), 3);

    const again = await outcome('glpat-dev');
    assert.ok(again instanceof Unavailable, String(again));
    assert.match(again.message, /rate limit for this credential is spent until .* \(GET \/user not sent\)$/);
    assert.ok(again.retryAfter! >= 1 && again.retryAfter! <= 60);
    const other = await api.tokenSelf('glpat-dev').catch((error: unknown) => error);
    assert.ok(other instanceof Unavailable && /not sent/.test(other.message), String(other));
    assert.equal(gitlab.calls(), 3, 'nothing more reached GitLab for that token');

    assert.equal(await outcome('glpat-ops'), 'ops');
    assert.equal(gitlab.calls(), 4);
  });

  test('once the window has passed, the token is asked again', async () => {
    gitlab.throttle = { requests: 1, periodSeconds: 1, headers: true };
    // Start at the beginning of a window, so that the second call is still within it.
    await sleep(1000 - (Date.now() % 1000) + 20);
    assert.equal(await outcome('glpat-dev'), 'dev');
    assert.ok((await outcome('glpat-dev')) instanceof Unavailable);
    assert.equal(gitlab.calls('GET /user'), 2);
    await sleep(1000 - (Date.now() % 1000) + 50);
    assert.equal(await outcome('glpat-dev'), 'dev');
    assert.equal(gitlab.calls('GET /user'), 3);
  });

  test('a bare 429 (no Retry-After, no RateLimit-*) holds the token for ten seconds', async () => {
    gitlab.throttle = { requests: 0, periodSeconds: 60, headers: false };
    const limited = await outcome('glpat-ops');
    assert.ok(limited instanceof Unavailable, String(limited));
    assert.ok(limited.retryAfter! >= 9 && limited.retryAfter! <= 10, `retryAfter ${limited.retryAfter}`);
    assert.ok((await outcome('glpat-ops')) instanceof Unavailable);
    assert.equal(gitlab.calls(), 1);
  });
});

describe('forgegate in front of a throttling GitLab', () => {
  const SERVICE = 'registry.test';
  const gitlab = new FakeGitLab();
  const dev = gitlab.addUser({ username: 'dev' });
  for (const name of ['one', 'two', 'three']) gitlab.addProject({ path_with_namespace: `group/${name}` });
  gitlab.addMember('group', dev.id, ACCESS.developer);
  gitlab.addToken({ token: 'glpat-dev-throttled', user_id: dev.id, scopes: ['read_api'] });
  let fg: TestForgegate;
  const { token } = tokenClient(SERVICE, () => fg);
  before(async () => {
    const url = await gitlab.start();
    const cache = { identityTtl: 60, decisionTtl: 60 };
    fg = await startForgegate({ token: { service: SERVICE }, forges: [{ type: 'gitlab', url }], cache });
  });
  after(async () => {
    await fg?.stop();
    await gitlab.stop();
  });

  test('a 503 with Retry-After, and cold requests for that token stop reaching GitLab until it passes', async () => {
    const ask = (image: string) => token('dev', 'glpat-dev-throttled', repo(image, 'pull'));
    const first = await ask('group/one');
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(first.access, granted('group/one', 'pull'));

    gitlab.throttle = { requests: 0, periodSeconds: 60, headers: true };
    const limited = await ask('group/two');
    assertUnavailable(limited, /^GitLab "gitlab" could not answer GET \/projects\/:id: HTTP 429$/);
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${limited.headers.get('retry-after')}`);

    const calls = gitlab.calls();
    const next = await ask('group/three');
    assertUnavailable(next, /rate limit for this credential is spent until .*not sent/);
    assert.ok(Number(next.headers.get('retry-after')) >= 1);
    assert.equal(gitlab.calls(), calls, 'the throttled token made no call');

    const cached = await ask('group/one');
    assert.equal(cached.status, 200, 'what is cached still answers');
  });
});
