import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Unavailable } from '../../src/errors.js';
import { GitHubApi } from '../../src/forges/github/api.js';
import { FakeGitHub } from '../fakes/github.js';

// GitHub's secondary rate limits: too many requests in a short time answer 403 (or 429) with
// `retry-after`, while the hourly quota still shows requests left. That 403 is no answer about
// the repository: it is a 503 with the Retry-After, and the token makes no call until then.

describe('GitHubApi against a secondary rate limit (1 request per token and minute)', () => {
  const github = new FakeGitHub();
  let api: GitHubApi;
  before(async () => {
    await github.start();
    github.addUser({ id: 1, login: 'alice' });
    github.addUser({ id: 2, login: 'bob' });
    github.addRepo({ id: 100, full_name: 'alice/app', collaborators: { bob: 'read' } });
    github.addToken({ token: 'ghp_alice', user: 'alice', kind: 'classic', scopes: ['repo'] });
    github.addToken({ token: 'ghp_bob', user: 'bob', kind: 'classic', scopes: ['repo'] });
  });
  beforeEach(() => {
    api = new GitHubApi('github', github.url, 5);
    github.resetRateLimits();
    github.resetCalls();
    github.secondaryLimit = { requests: 1, periodSeconds: 60 };
  });
  after(() => github.stop());

  test('the 403 is a 503 with its Retry-After, not a refusal; the token is not used again until then', async () => {
    assert.equal((await api.repository('alice', 'app', 'ghp_alice'))?.full_name, 'alice/app');
    const limited = await api.repository('alice', 'app', 'ghp_alice').catch((error: unknown) => error);
    assert.ok(limited instanceof Unavailable, `not Unavailable: ${String(limited)}`);
    assert.match(limited.message, /secondary rate limit \(HTTP 403\)$/);
    assert.ok(limited.retryAfter! >= 1 && limited.retryAfter! <= 60, `retryAfter ${limited.retryAfter}`);
    assert.equal(github.calls(), 2);

    const next = await api.authenticatedUser('ghp_alice').catch((error: unknown) => error);
    assert.ok(next instanceof Unavailable && /not sent/.test(next.message), String(next));
    assert.equal(github.calls(), 2, 'not sent');
    assert.equal((await api.repository('alice', 'app', 'ghp_bob'))?.full_name, 'alice/app', 'another user is asked');
  });
});
