import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Unavailable } from '../../src/errors.js';
import { GitLabApi } from '../../src/forges/gitlab/api.js';
import { FakeGitLab } from '../fakes/gitlab.js';

// gitbeaker answers a 429 or a 502 by asking again, ten times in all within about 250 ms, and
// reads no Retry-After. forgegate's answer names the status GitLab gave; the number of calls is
// an open end (README), kept here as a todo until forgegate asks once.

describe('GitLab answering 429 or 502 to every call', () => {
  let gitlab: FakeGitLab;
  let api: GitLabApi;
  before(async () => {
    gitlab = new FakeGitLab();
    api = new GitLabApi('gitlab', await gitlab.start(), 5);
    gitlab.addToken({ token: 'glpat-limited', user_id: gitlab.addUser({ username: 'dev' }).id, scopes: ['api'] });
  });
  after(() => gitlab.stop());

  async function failing(status: number): Promise<{ error: unknown; calls: number }> {
    const before = gitlab.calls('GET /user');
    gitlab.inject({ kind: 'status', status, headers: { 'retry-after': '60' } });
    try {
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
    test(`${status}: Unavailable naming HTTP ${status}, after at most ten calls`, async () => {
      const { error, calls } = await failing(status);
      assert.ok(error instanceof Unavailable, String(error));
      assert.match(error.message, new RegExp(`could not answer GET /user: HTTP ${status}\\b`));
      assert.ok(calls >= 1 && calls <= 10, `${calls} calls`);
    });

    test(`${status}: one call to GitLab, not ten`, { todo: "gitbeaker's retries; see README, Open ends" }, async () => {
      assert.equal((await failing(status)).calls, 1);
    });
  }
});
