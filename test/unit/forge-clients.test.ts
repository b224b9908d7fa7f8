import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GitHubApi } from '../../src/forges/github/api.js';
import { GitLabApi } from '../../src/forges/gitlab/api.js';
import { FakeGitHub } from '../fakes/github.js';
import { FakeGitLab } from '../fakes/gitlab.js';

// Each forge has one HTTP client for all its calls, and every call carries its caller's own
// credential: concurrent calls with different tokens, and calls with none, must not borrow
// one another's. (A client per call made that hold by construction; a shared one must too.)

const CALLERS = 24;

describe('GitHub: one client, a credential per call', () => {
  let github: FakeGitHub;
  let api: GitHubApi;
  before(async () => {
    github = new FakeGitHub();
    const url = await github.start();
    github.addOrg({ login: 'acme' });
    github.addRepo({ full_name: 'acme/public', visibility: 'public' });
    for (let i = 0; i < CALLERS; i++) {
      github.addUser({ login: `user${i}` });
      github.addToken({ token: `ghp_token${i}`, kind: 'classic', user: `user${i}`, scopes: ['repo'] });
    }
    api = new GitHubApi('github', url, 5);
  });
  after(() => github.stop());

  test('concurrent calls each answer for their own token; anonymous calls send none', async () => {
    const [users, anonymous] = await Promise.all([
      Promise.all(Array.from({ length: CALLERS }, (_, i) => api.authenticatedUser(`ghp_token${i}`))),
      Promise.all(Array.from({ length: CALLERS }, () => api.repository('acme', 'public', null))),
    ]);
    assert.deepEqual(
      users.map((u) => u.user.login),
      Array.from({ length: CALLERS }, (_, i) => `user${i}`),
    );
    assert.ok(anonymous.every((repo) => repo?.full_name === 'acme/public'));
    const repoCalls = github.requests().filter((r) => r.url.startsWith('/repos/'));
    assert.equal(repoCalls.length, CALLERS);
    assert.ok(
      repoCalls.every((r) => r.headers.authorization === undefined),
      'an anonymous call carried a credential',
    );
    const userCalls = github.requests().filter((r) => r.url === '/user');
    assert.deepEqual(
      userCalls.map((r) => r.headers.authorization).sort(),
      Array.from({ length: CALLERS }, (_, i) => `token ghp_token${i}`).sort(),
    );
  });
});

describe('GitLab: one client, a credential per call', () => {
  let gitlab: FakeGitLab;
  let api: GitLabApi;
  before(async () => {
    gitlab = new FakeGitLab();
    const url = await gitlab.start();
    for (let i = 0; i < CALLERS; i++) {
      const user = gitlab.addUser({ username: `user${i}` });
      gitlab.addToken({ token: `glpat-token${i}`, user_id: user.id, scopes: ['api'] });
    }
    api = new GitLabApi('gitlab', url, 5);
  });
  after(() => gitlab.stop());

  test('concurrent calls each answer for their own token; anonymous calls send none', async () => {
    const [users, anonymous] = await Promise.all([
      Promise.all(Array.from({ length: CALLERS }, (_, i) => api.currentUser(`glpat-token${i}`))),
      // Anonymous callers see a project's basic fields only: a missing one (404, null) tells enough.
      Promise.all(Array.from({ length: CALLERS }, () => api.project('group/missing', null))),
    ]);
    assert.deepEqual(
      users.map((u) => u.username),
      Array.from({ length: CALLERS }, (_, i) => `user${i}`),
    );
    assert.ok(anonymous.every((project) => project === null));
    const projectCalls = gitlab.requests().filter((r) => r.endpoint === 'GET /projects/:id');
    assert.equal(projectCalls.length, CALLERS);
    assert.ok(
      projectCalls.every((r) => r.headers.authorization === undefined && r.headers['private-token'] === undefined),
      'an anonymous call carried a credential',
    );
    const userCalls = gitlab.requests().filter((r) => r.endpoint === 'GET /user');
    assert.deepEqual(
      userCalls.map((r) => r.headers.authorization).sort(),
      Array.from({ length: CALLERS }, (_, i) => `Bearer glpat-token${i}`).sort(),
    );
  });
});
