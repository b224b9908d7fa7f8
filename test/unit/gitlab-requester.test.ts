import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Unavailable } from '../../src/errors.js';
import { GitLabApi } from '../../src/forges/gitlab/api.js';
import { FakeGitLab } from '../fakes/gitlab.js';

// gitbeaker's own requester answers a 429 or a 502 by asking again, ten times in all within
// about 250 ms, reading no Retry-After (test/fakes-smoke shows it). forgegate's requester asks
// once: a GitLab that is limiting forgegate gets one call per forgegate call, and the answer is
// a 503 naming the status GitLab gave.

describe('GitLab answering 429 or 502 to every call', () => {
  let gitlab: FakeGitLab;
  before(async () => {
    gitlab = new FakeGitLab();
    await gitlab.start();
    gitlab.addToken({ token: 'glpat-limited', user_id: gitlab.addUser({ username: 'dev' }).id, scopes: ['api'] });
  });
  after(() => gitlab.stop());

  async function failing(status: number): Promise<{ error: unknown; calls: number }> {
    const before = gitlab.calls('GET /user');
    gitlab.inject({ kind: 'status', status, headers: { 'retry-after': '60' } });
    try {
      // A GitLabApi of its own: one that saw the 429 would not ask again before its Retry-After.
      const api = new GitLabApi('gitlab', gitlab.url, 5);
      const error = await api.currentUser('glpat-limited').then(
        () => undefined,
        (error: unknown) => error,
      );
      return { error, calls: gitlab.calls('GET /user') - before };
    } finally {
      gitlab.clearInjections();
    }
  }

  for (const status of [429, 502]) {
    test(`${status}: one call to GitLab, Unavailable naming HTTP ${status}`, async () => {
      const { error, calls } = await failing(status);
      assert.ok(error instanceof Unavailable, String(error));
      assert.match(error.message, new RegExp(`could not answer GET /user: HTTP ${status}$`));
      assert.equal(calls, 1);
    });
  }
});
