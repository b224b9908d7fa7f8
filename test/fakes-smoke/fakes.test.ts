import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Gitlab, GitbeakerRequestError, GitbeakerRetryError, GitbeakerTimeoutError } from '@gitbeaker/rest';
import { Octokit } from '@octokit/rest';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import { FakeGitHub } from '../fakes/github.js';
import { UNMATCHED } from '../fakes/server.js';

// Drives both fakes through the real clients, so a fake that drifts from what the clients
// expect fails here rather than in the server's tests.

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

async function gitlabError(
  promise: Promise<unknown>,
): Promise<{ status: number; message: string; response: Response }> {
  const err = await caught(promise);
  assert.ok(err instanceof GitbeakerRequestError, `not a GitbeakerRequestError: ${String(err)}`);
  assert.ok(err.cause);
  return { status: err.cause.response.status, message: err.message, response: err.cause.response };
}

interface OctokitError {
  name: string;
  status: number;
  message: string;
  cause?: { name?: string; cause?: { code?: string } };
  response?: { headers: Record<string, string | undefined>; data: unknown };
}

async function githubError(promise: Promise<unknown>): Promise<OctokitError> {
  const err = (await caught(promise)) as OctokitError;
  assert.equal(typeof err.status, 'number', `not an octokit error: ${String(err)}`);
  return err;
}

describe('FakeGitLab through @gitbeaker/rest', () => {
  const gl = new FakeGitLab();
  let host = '';
  const client = (auth: { token: string } | { oauthToken: string } | { jobToken: string } | object = {}) =>
    new Gitlab({ host, queryTimeout: 2000, ...auth });

  before(async () => {
    host = await gl.start();
    const alice = gl.addUser({ id: 10, username: 'alice' });
    const admin = gl.addUser({ id: 11, username: 'root', is_admin: true });
    const carol = gl.addUser({ id: 12, username: 'carol', external: true });
    const dave = gl.addUser({ id: 13, username: 'dave', state: 'blocked' });
    const erin = gl.addUser({ id: 14, username: 'erin', state: 'deactivated' });
    gl.addUser({ id: 15, username: 'nobody' });

    gl.addToken({ token: 'alice-api', user_id: alice.id, scopes: ['api'], name: 'ci', expires_at: '2999-01-01' });
    gl.addToken({ token: 'alice-read-user', user_id: alice.id, scopes: ['read_user'] });
    gl.addToken({ token: 'alice-registry', user_id: alice.id, scopes: ['read_registry', 'write_registry'] });
    gl.addToken({ token: 'alice-revoked', user_id: alice.id, revoked: true });
    gl.addToken({ token: 'alice-expired', user_id: alice.id, expires_at: '2020-01-01' });
    gl.addToken({
      token: 'alice-oauth',
      user_id: alice.id,
      kind: 'oauth',
      scopes: ['api'],
      expires_at: new Date(Date.now() + 7200e3).toISOString(),
    });
    gl.addToken({ token: 'alice-oauth-old', user_id: alice.id, kind: 'oauth', expires_at: '2020-01-01T00:00:00Z' });
    gl.addToken({ token: 'root-api', user_id: admin.id, scopes: ['read_api'] });
    gl.addToken({ token: 'carol-api', user_id: carol.id });
    gl.addToken({ token: 'dave-api', user_id: dave.id });
    gl.addToken({ token: 'erin-api', user_id: erin.id });

    gl.addProject({ id: 100, path_with_namespace: 'acme/app', visibility: 'private' });
    gl.addProject({
      id: 101,
      path_with_namespace: 'acme/sub/Deep',
      visibility: 'private',
      container_registry_access_level: 'private',
    });
    gl.addProject({ id: 102, path_with_namespace: 'acme/shared', visibility: 'internal' });
    gl.addProject({ id: 103, path_with_namespace: 'acme/site', visibility: 'public', archived: true });
    gl.addProject({ id: 104, path_with_namespace: 'other/secret', visibility: 'private' });
    gl.addMember('acme', alice.id, ACCESS.developer);
    gl.addMember('acme/sub/deep', alice.id, ACCESS.maintainer);
    gl.allowJobTokenAccess('acme/sub/deep', 'other/secret');

    gl.addJob({ id: 500, token: 'job-running', project: 'acme/app', user_id: alice.id, ref: 'feature' });
    gl.addJob({ id: 501, token: 'job-done', project: 'acme/app', user_id: alice.id, status: 'success' });
  });
  after(() => gl.stop());
  beforeEach(() => {
    gl.clearInjections();
    gl.latencyMs = 0;
    gl.resetCalls();
  });

  describe('GET /personal_access_tokens/self -> PersonalAccessTokens.show()', () => {
    it('describes the token for any scope, by PRIVATE-TOKEN or Bearer', async () => {
      const self = await client({ token: 'alice-api' }).PersonalAccessTokens.show();
      assert.equal(self.user_id, 10);
      assert.deepEqual(self.scopes, ['api']);
      assert.equal(self.active, true);
      assert.equal(self.revoked, false);
      assert.equal(self.expires_at, '2999-01-01');
      assert.equal((await client({ token: 'alice-registry' }).PersonalAccessTokens.show()).user_id, 10);
      assert.equal((await client({ oauthToken: 'alice-api' }).PersonalAccessTokens.show()).name, 'ci');
      assert.equal(gl.requests('GET /personal_access_tokens/self')[0]?.headers['private-token'], 'alice-api');
    });

    const failures: Array<[string, object, number, string]> = [
      ['unknown token', { token: 'nope' }, 401, '401 Unauthorized'],
      ['revoked token', { token: 'alice-revoked' }, 401, 'invalid_token'],
      ['expired token', { token: 'alice-expired' }, 401, 'invalid_token'],
      ['no token', {}, 401, '401 Unauthorized'],
      [
        'OAuth token',
        { oauthToken: 'alice-oauth' },
        400,
        '400 Bad request - This endpoint requires token type to be a personal access token',
      ],
      ['blocked user', { token: 'dave-api' }, 403, '403 Forbidden - Your account has been blocked.'],
    ];
    for (const [label, auth, status, message] of failures) {
      it(`answers ${status} for ${label}`, async () => {
        const err = await gitlabError(client(auth).PersonalAccessTokens.show());
        assert.equal(err.status, status);
        assert.equal(err.message, message);
      });
    }

    it('tells revoked from expired only in WWW-Authenticate (gitbeaker keeps just body.error)', async () => {
      const revoked = await gitlabError(client({ token: 'alice-revoked' }).PersonalAccessTokens.show());
      assert.match(revoked.response.headers.get('www-authenticate') ?? '', /revoked/);
      const expired = await gitlabError(client({ token: 'alice-expired' }).PersonalAccessTokens.show());
      assert.match(expired.response.headers.get('www-authenticate') ?? '', /expired/);
    });
  });

  describe('GET /user -> Users.showCurrentUser()', () => {
    it('returns the user for api, read_api and read_user scopes; is_admin only for admins', async () => {
      const alice = (await client({ token: 'alice-api' }).Users.showCurrentUser()) as Record<string, unknown>;
      assert.equal(alice.username, 'alice');
      assert.equal(alice.state, 'active');
      assert.equal(alice.external, false);
      assert.equal('is_admin' in alice, false);
      assert.equal((await client({ token: 'alice-read-user' }).Users.showCurrentUser()).id, 10);
      assert.equal((await client({ oauthToken: 'alice-oauth' }).Users.showCurrentUser()).id, 10);
      const root = (await client({ token: 'root-api' }).Users.showCurrentUser()) as Record<string, unknown>;
      assert.equal(root.is_admin, true);
      assert.equal((await client({ token: 'carol-api' }).Users.showCurrentUser()).external, true);
    });

    it('exposes status and headers with showExpanded', async () => {
      const res = await client({ token: 'alice-api' }).Users.showCurrentUser({ showExpanded: true });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.data.username, 'alice');
    });

    const failures: Array<[string, object, number, string]> = [
      ['a registry-only token', { token: 'alice-registry' }, 403, 'insufficient_scope'],
      ['an unknown token', { token: 'nope' }, 401, '401 Unauthorized'],
      ['a blocked user', { token: 'dave-api' }, 403, '403 Forbidden - Your account has been blocked.'],
      [
        'a deactivated user',
        { token: 'erin-api' },
        403,
        `403 Forbidden - Your account has been deactivated by your administrator. Please log back in from a web browser to reactivate your account at ${'HOST'}`,
      ],
      ['an expired OAuth token', { oauthToken: 'alice-oauth-old' }, 401, 'invalid_token'],
    ];
    for (const [label, auth, status, message] of failures) {
      it(`answers ${status} for ${label}`, async () => {
        const err = await gitlabError(client(auth).Users.showCurrentUser());
        assert.equal(err.status, status);
        assert.equal(err.message, message.replace('HOST', host));
      });
    }
  });

  describe('GET /oauth/token/info (instance root; gitbeaker has no method)', () => {
    it('describes a live OAuth token from the Bearer header or ?access_token=', async () => {
      for (const res of [
        await fetch(`${host}/oauth/token/info`, { headers: { authorization: 'Bearer alice-oauth' } }),
        await fetch(`${host}/oauth/token/info?access_token=alice-oauth`),
      ]) {
        assert.equal(res.status, 200);
        const info = (await res.json()) as Record<string, unknown>;
        assert.equal(info.resource_owner_id, 10);
        assert.deepEqual(info.scope, ['api']);
        assert.ok(typeof info.expires_in_seconds === 'number' && info.expires_in_seconds > 7000);
        assert.equal(typeof info.created_at, 'number');
      }
      assert.equal(gl.calls('GET /oauth/token/info'), 2);
    });

    for (const token of ['alice-oauth-old', 'alice-api', 'nope']) {
      it(`answers 401 invalid_request for ${token}`, async () => {
        const res = await fetch(`${host}/oauth/token/info`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 401);
        assert.equal(((await res.json()) as { error: string }).error, 'invalid_request');
      });
    }
  });

  describe('GET /job with JOB-TOKEN', () => {
    it('Jobs.showConnectedJob() throws synchronously when built with jobToken (gitbeaker 43 bug)', () => {
      assert.throws(
        () => client({ jobToken: 'job-running' }).Jobs.showConnectedJob(),
        /Missing required header "job-token"/,
      );
    });

    it('answers the running job through the raw requester or the header workaround', async () => {
      const api = client({ jobToken: 'job-running' });
      const raw = await api.requester.get<Record<string, unknown>>('job');
      assert.equal(raw.status, 200);
      api.Jobs.headers['job-token'] = 'job-running';
      const job = await api.Jobs.showConnectedJob();
      assert.equal(job.id, 500);
      assert.equal(job.status, 'running');
      assert.equal(job.ref, 'feature');
      assert.equal(job.user.username, 'alice');
      assert.equal(job.pipeline.project_id, 100);
      assert.equal(gl.requests('GET /job')[0]?.headers['job-token'], 'job-running');
    });

    it('answers 401 once the job is over, and 404 to a token that is not a job token', async () => {
      const done = await gitlabError(client({ jobToken: 'job-done' }).requester.get('job'));
      assert.equal(done.status, 401);
      const pat = await gitlabError(client({ token: 'alice-api' }).requester.get('job'));
      assert.deepEqual([pat.status, pat.message], [404, '404 Job Not Found']);
    });
  });

  describe('GET /projects/:id -> Projects.show()', () => {
    it('returns visibility, registry level and both access levels, by path (any case) or id', async () => {
      const api = client({ token: 'alice-api' });
      for (const id of ['acme/sub/deep', 'ACME/Sub/Deep', 101]) {
        const project = (await api.Projects.show(id)) as Record<string, unknown>;
        assert.equal(project.path_with_namespace, 'acme/sub/Deep');
        assert.equal(project.visibility, 'private');
        assert.equal(project.container_registry_access_level, 'private');
        assert.deepEqual(project.permissions, {
          project_access: { access_level: 40, notification_level: 3 },
          group_access: { access_level: 30, notification_level: 3 },
        });
      }
      assert.equal(gl.requests('GET /projects/:id')[0]?.url, '/api/v4/projects/acme%2Fsub%2Fdeep');
    });

    it('shows internal projects to non-members with null access, and everything to admins', async () => {
      const shared = (await client({ token: 'alice-api' }).Projects.show('acme/shared')) as Record<string, unknown>;
      assert.deepEqual(shared.permissions, {
        project_access: null,
        group_access: { access_level: 30, notification_level: 3 },
      });
      const secret = (await client({ token: 'root-api' }).Projects.show('other/secret')) as Record<string, unknown>;
      assert.deepEqual(secret.permissions, { project_access: null, group_access: null });
    });

    it('answers anonymous callers for public projects without visibility, archived or permissions', async () => {
      const site = (await client().Projects.show('acme/site')) as Record<string, unknown>;
      assert.equal(site.id, 103);
      for (const field of ['visibility', 'archived', 'container_registry_access_level', 'permissions']) {
        assert.equal(field in site, false, field);
      }
      const authed = (await client({ token: 'alice-api' }).Projects.show('acme/site')) as Record<string, unknown>;
      assert.equal(authed.archived, true);
    });

    const failures: Array<[string, object, string, number, string]> = [
      ['a private project of others', { token: 'alice-api' }, 'other/secret', 404, '404 Project Not Found'],
      ['a missing project', { token: 'alice-api' }, 'acme/nope', 404, '404 Project Not Found'],
      ['an anonymous caller on an internal project', {}, 'acme/shared', 404, '404 Project Not Found'],
      ['an external user on an internal project', { token: 'carol-api' }, 'acme/shared', 404, '404 Project Not Found'],
      ['a read_user token', { token: 'alice-read-user' }, 'acme/app', 403, 'insufficient_scope'],
      [
        'a job token (not accepted here: anonymous)',
        { jobToken: 'job-running' },
        'acme/app',
        404,
        '404 Project Not Found',
      ],
    ];
    for (const [label, auth, path, status, message] of failures) {
      it(`answers ${status} for ${label}`, async () => {
        const err = await gitlabError(client(auth).Projects.show(path));
        assert.deepEqual([err.status, err.message], [status, message]);
      });
    }
  });

  describe('GET /projects/:id/members/all/:user_id -> ProjectMembers.show(..., { includeInherited: true })', () => {
    it('returns the effective (highest, inherited included) access level', async () => {
      const api = client({ token: 'root-api' });
      assert.equal((await api.ProjectMembers.show('acme/sub/deep', 10, { includeInherited: true })).access_level, 40);
      assert.equal((await api.ProjectMembers.show('acme/app', 10, { includeInherited: true })).access_level, 30);
      assert.equal(gl.calls('GET /projects/:id/members/all/:user_id'), 2);
    });

    it('answers 404 for non-members and for projects the caller cannot see', async () => {
      const nobody = await gitlabError(
        client({ token: 'root-api' }).ProjectMembers.show('acme/app', 15, { includeInherited: true }),
      );
      assert.deepEqual([nobody.status, nobody.message], [404, '404 Not found']);
      const hidden = await gitlabError(
        client({ token: 'alice-api' }).ProjectMembers.show('other/secret', 10, { includeInherited: true }),
      );
      assert.deepEqual([hidden.status, hidden.message], [404, '404 Project Not Found']);
    });
  });

  describe('GET /projects/:id/job_token_scope/allowlist -> ProjectJobTokenScopes.showInboundAllowList()', () => {
    it('lists the project itself and the allowed source projects to a Maintainer', async () => {
      const list = await client({ token: 'alice-api' }).ProjectJobTokenScopes.showInboundAllowList('acme/sub/deep');
      assert.deepEqual(
        list.map((p) => p.path_with_namespace),
        ['acme/sub/Deep', 'other/secret'],
      );
    });

    it('answers 403 below Maintainer and 401 without a token', async () => {
      const dev = await gitlabError(
        client({ token: 'alice-api' }).ProjectJobTokenScopes.showInboundAllowList('acme/app'),
      );
      assert.deepEqual([dev.status, dev.message], [403, '403 Forbidden']);
      const anon = await gitlabError(client().ProjectJobTokenScopes.showInboundAllowList('acme/site'));
      assert.equal(anon.status, 401);
    });
  });

  describe('call counting and failure injection', () => {
    it('counts per endpoint and in total, unknown paths included', async () => {
      const api = client({ token: 'alice-api' });
      await api.Users.showCurrentUser();
      await api.Users.showCurrentUser();
      await api.Projects.show(100);
      await caught(api.requester.get('no/such/thing'));
      assert.equal(gl.calls('GET /user'), 2);
      assert.equal(gl.calls('GET /projects/:id'), 1);
      assert.equal(gl.calls(UNMATCHED), 1);
      assert.equal(gl.calls(), 4);
      gl.resetCalls();
      assert.equal(gl.calls(), 0);
    });

    it('delay and latencyMs slow the answer down', async () => {
      gl.latencyMs = 30;
      gl.inject({ endpoint: 'GET /user', kind: 'delay', ms: 100, times: 1 });
      const started = Date.now();
      await client({ token: 'alice-api' }).Users.showCurrentUser();
      assert.ok(Date.now() - started >= 120);
    });

    it('status: a plain error becomes GitbeakerRequestError; 429/502 are retried up to 10 times', async () => {
      gl.inject({ endpoint: 'GET /user', kind: 'status', status: 503, times: 1 });
      const err = await gitlabError(client({ token: 'alice-api' }).Users.showCurrentUser());
      assert.deepEqual([err.status, err.message], [503, '503 Service Unavailable']);

      gl.inject({ kind: 'status', status: 502, times: 2 });
      await client({ token: 'alice-api' }).Users.showCurrentUser();
      assert.equal(gl.calls('GET /user'), 4);

      gl.inject({ kind: 'status', status: 429 });
      assert.ok((await caught(client({ token: 'alice-api' }).Users.showCurrentUser())) instanceof GitbeakerRetryError);
      assert.equal(gl.calls('GET /user'), 14);
    });

    it('injects only into the named endpoint, only `times` times', async () => {
      gl.inject({ endpoint: 'GET /projects/:id', kind: 'status', status: 500, times: 1 });
      const api = client({ token: 'alice-api' });
      await api.Users.showCurrentUser();
      assert.equal((await gitlabError(api.Projects.show(100))).status, 500);
      assert.equal((await api.Projects.show(100)).id, 100);
    });

    const breakdowns: Array<[string, Parameters<FakeGitLab['inject']>[0], (err: unknown) => void]> = [
      [
        'timeout -> GitbeakerTimeoutError',
        { kind: 'timeout' },
        (err) => assert.ok(err instanceof GitbeakerTimeoutError),
      ],
      [
        'reset -> raw TypeError "fetch failed" (cause ECONNRESET)',
        { kind: 'reset' },
        (err) => {
          assert.ok(err instanceof TypeError);
          assert.equal((err.cause as { code?: string }).code, 'ECONNRESET');
        },
      ],
      [
        'malformed -> raw SyntaxError from response.json()',
        { kind: 'malformed' },
        (err) => assert.ok(err instanceof SyntaxError),
      ],
      [
        'truncated -> raw TypeError "terminated"',
        { kind: 'truncated' },
        (err) => {
          assert.ok(err instanceof TypeError);
          assert.equal(err.message, 'terminated');
        },
      ],
    ];
    for (const [label, injection, check] of breakdowns) {
      it(label, async () => {
        gl.inject({ ...injection, times: 1 });
        const started = Date.now();
        check(await caught(new Gitlab({ host, token: 'alice-api', queryTimeout: 300 }).Users.showCurrentUser()));
        assert.ok(Date.now() - started < 2000);
        assert.equal(gl.calls('GET /user'), 1);
      });
    }

    // gitbeaker's own requester hands fetch a Request copied from another, whose abort undici
    // follows through weak references: a garbage collection during the call can cut them, and
    // the call then runs to the end of the drip (why forgegate has its own requester and a
    // deadline of its own: test/unit/forge-deadline.test.ts forces that case).
    it('drip past queryTimeout -> raw DOMException TimeoutError (not GitbeakerTimeoutError), unless undici lost the abort', async (t) => {
      gl.inject({ kind: 'drip', ms: 40, times: 1 });
      const api = new Gitlab({ host, token: 'alice-api', queryTimeout: 300 });
      const outcome = await api.Users.showCurrentUser().then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.equal(gl.calls('GET /user'), 1);
      if (outcome === undefined) {
        t.diagnostic('the abort was lost after a garbage collection: the call lasted as long as the drip');
        return;
      }
      assert.ok(outcome instanceof DOMException);
      assert.equal(outcome.name, 'TimeoutError');
    });
  });
});

describe('FakeGitHub through @octokit/rest', () => {
  const gh = new FakeGitHub();
  let baseUrl = '';
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const client = (auth?: string, url = baseUrl) => new Octokit({ auth, baseUrl: url, log: quiet });

  before(async () => {
    baseUrl = await gh.start();
    gh.addUser({ id: 1, login: 'alice' });
    gh.addUser({ id: 2, login: 'bob', site_admin: true });
    gh.addUser({ id: 3, login: 'carol' });
    gh.addUser({ id: 4, login: 'olga' });
    gh.addOrg({ id: 50, login: 'acme', base_permission: 'none' });
    gh.addOrgMember('acme', 'alice');
    gh.addOrgMember('acme', 'carol');
    gh.addOrgMember('acme', 'olga', 'admin');
    gh.addRepo({ id: 100, full_name: 'acme/app', collaborators: { alice: 'write' } });
    gh.addRepo({ id: 101, full_name: 'acme/site', visibility: 'public', archived: true });
    gh.addRepo({ id: 102, full_name: 'acme/inner', visibility: 'internal' });
    gh.addRepo({ id: 103, full_name: 'alice/dotfiles' });
    gh.addTeam({ org: 'acme', slug: 'ops', members: ['carol'], repos: { 'acme/app': 'maintain' } });

    gh.addToken({ token: 'ghp_alice', kind: 'classic', user: 'alice', scopes: ['repo', 'read:packages'] });
    gh.addToken({ token: 'ghp_alice_pkg', kind: 'classic', user: 'alice', scopes: ['read:packages'] });
    gh.addToken({ token: 'github_pat_alice', kind: 'fine_grained', user: 'alice', repositories: ['acme/app'] });
    gh.addToken({ token: 'gho_alice', kind: 'oauth', user: 'alice', scopes: ['repo'] });
    gh.addToken({ token: 'ghp_bob', kind: 'classic', user: 'bob', scopes: ['repo'] });
    gh.addToken({ token: 'ghp_carol', kind: 'classic', user: 'carol', scopes: ['repo'] });
    gh.addToken({ token: 'ghp_olga', kind: 'classic', user: 'olga', scopes: ['repo'] });
    gh.addToken({ token: 'ghs_app', kind: 'installation', repositories: ['acme/app'] });
    gh.addToken({ token: 'ghp_expired', kind: 'classic', user: 'alice', expired: true });
    gh.addToken({ token: 'ghp_revoked', kind: 'classic', user: 'alice', revoked: true });
  });
  after(() => gh.stop());
  beforeEach(() => {
    gh.clearInjections();
    gh.resetCalls();
    gh.resetRateLimits();
    gh.latencyMs = 0;
  });

  describe('GET /user -> users.getAuthenticated()', () => {
    it('sends X-OAuth-Scopes for classic and OAuth tokens, not for fine-grained ones', async () => {
      const classic = await client('ghp_alice').users.getAuthenticated();
      assert.deepEqual(
        [classic.data.login, classic.data.id, classic.data.type, classic.data.site_admin],
        ['alice', 1, 'User', false],
      );
      assert.equal(classic.headers['x-oauth-scopes'], 'repo, read:packages');
      assert.equal((await client('gho_alice').users.getAuthenticated()).headers['x-oauth-scopes'], 'repo');
      const fine = await client('github_pat_alice').users.getAuthenticated();
      assert.equal(fine.data.login, 'alice');
      assert.equal('x-oauth-scopes' in fine.headers, false);
      assert.equal((await client('ghp_bob').users.getAuthenticated()).data.site_admin, true);
      assert.equal(gh.requests('GET /user')[0]?.headers.authorization, 'token ghp_alice');
    });

    const failures: Array<[string, string | undefined, number, RegExp]> = [
      ['an unknown token', 'ghp_nope', 401, /^Bad credentials/],
      ['an expired token', 'ghp_expired', 401, /^Bad credentials/],
      ['a revoked token', 'ghp_revoked', 401, /^Bad credentials/],
      ['no token', undefined, 401, /^Requires authentication/],
      ['an installation token', 'ghs_app', 403, /^Resource not accessible by integration/],
    ];
    for (const [label, token, status, message] of failures) {
      it(`answers ${status} for ${label}`, async () => {
        const err = await githubError(client(token).users.getAuthenticated());
        assert.equal(err.status, status);
        assert.match(err.message, message);
      });
    }
  });

  describe('GET /repos/{owner}/{repo} -> repos.get()', () => {
    const permissions = (admin: boolean, maintain: boolean, push: boolean, triage: boolean, pull: boolean) => ({
      admin,
      maintain,
      push,
      triage,
      pull,
    });
    const visible: Array<[string, string | undefined, string, ReturnType<typeof permissions> | undefined]> = [
      ['a collaborator', 'ghp_alice', 'acme/app', permissions(false, false, true, true, true)],
      ['a team member', 'ghp_carol', 'acme/app', permissions(false, true, true, true, true)],
      ['an org owner', 'ghp_olga', 'acme/app', permissions(true, true, true, true, true)],
      ['a repository owner', 'ghp_alice', 'alice/dotfiles', permissions(true, true, true, true, true)],
      [
        'an org member on an internal repository',
        'ghp_carol',
        'acme/inner',
        permissions(false, false, false, false, true),
      ],
      ['a stranger on a public repository', 'ghp_bob', 'acme/site', permissions(false, false, false, false, true)],
      [
        'a fine-grained token on a selected repository',
        'github_pat_alice',
        'acme/app',
        permissions(false, false, true, true, true),
      ],
      [
        'a fine-grained token on a public repository',
        'github_pat_alice',
        'acme/site',
        permissions(false, false, false, false, true),
      ],
      [
        'a packages-only classic token on a public repository',
        'ghp_alice_pkg',
        'acme/site',
        permissions(false, false, false, false, true),
      ],
      ['an installation token on its repository', 'ghs_app', 'acme/app', permissions(false, false, true, true, true)],
      ['an anonymous caller on a public repository (no permissions)', undefined, 'acme/site', undefined],
    ];
    for (const [label, token, name, expected] of visible) {
      it(`shows ${name} to ${label}`, async () => {
        const [owner = '', repo = ''] = name.split('/');
        const { data } = await client(token).repos.get({ owner, repo });
        assert.equal(data.full_name, name);
        assert.equal(data.private, data.visibility !== 'public');
        assert.deepEqual(data.permissions, expected);
      });
    }

    const hidden: Array<[string, string | undefined, string]> = [
      ['a non-collaborator', 'ghp_bob', 'acme/app'],
      ['a packages-only classic token (private needs the repo scope)', 'ghp_alice_pkg', 'acme/app'],
      ['a fine-grained token without that repository', 'github_pat_alice', 'alice/dotfiles'],
      ['an anonymous caller', undefined, 'acme/app'],
      ['a non-member on an internal repository', 'ghp_bob', 'acme/inner'],
      ['an installation outside its repositories', 'ghs_app', 'acme/inner'],
      ['anyone, when it does not exist', 'ghp_olga', 'acme/nope'],
    ];
    for (const [label, token, name] of hidden) {
      it(`answers 404 for ${name} to ${label}`, async () => {
        const [owner = '', repo = ''] = name.split('/');
        const err = await githubError(client(token).repos.get({ owner, repo }));
        assert.equal(err.status, 404);
        assert.match(err.message, /^Not Found/);
      });
    }

    it('reports archived and serves GitHub Enterprise paths under /api/v3', async () => {
      const { data } = await client('ghp_alice', `${baseUrl}/api/v3`).repos.get({ owner: 'acme', repo: 'site' });
      assert.equal(data.archived, true);
      assert.equal(gh.requests('GET /repos/:owner/:repo')[0]?.url, '/api/v3/repos/acme/site');
    });

    it('answers If-None-Match with a free 304 that octokit throws as RequestError', async () => {
      const api = client('ghp_alice');
      const first = await api.repos.get({ owner: 'acme', repo: 'app' });
      const etag = first.headers.etag ?? '';
      assert.match(etag, /^W\/"/);
      const err = await githubError(api.repos.get({ owner: 'acme', repo: 'app', headers: { 'if-none-match': etag } }));
      assert.equal(err.status, 304);
      assert.equal(err.response?.headers.etag, etag);
      assert.equal(err.response?.headers['x-ratelimit-remaining'], first.headers['x-ratelimit-remaining']);
      assert.equal(gh.calls('GET /repos/:owner/:repo'), 2);
    });
  });

  describe('renamed and transferred repositories', () => {
    it('the old name answers 301 to /repositories/:id, octokit follows it and returns the repository under its new name', async () => {
      const moving = new FakeGitHub();
      const url = await moving.start();
      try {
        moving.addUser({ login: 'mallory' });
        moving.addOrg({ login: 'acme' });
        moving.addRepo({ id: 77, full_name: 'acme/tool', collaborators: { mallory: 'admin' } });
        moving.addToken({ token: 'ghp_mallory', kind: 'classic', user: 'mallory', scopes: ['repo'] });
        moving.moveRepo('acme/tool', 'mallory/tool');
        const { data, status } = await client('ghp_mallory', url).repos.get({ owner: 'acme', repo: 'tool' });
        assert.equal(status, 200);
        assert.equal(data.full_name, 'mallory/tool');
        assert.equal(data.id, 77);
        assert.deepEqual(
          moving.requests().map((r) => [r.endpoint, r.url]),
          [
            ['GET /repos/:owner/:repo', '/repos/acme/tool'],
            ['GET /repositories/:id', '/repositories/77'],
          ],
        );
        // Under GitHub Enterprise's mount, the redirect stays there.
        moving.resetCalls();
        const ghes = await client('ghp_mallory', `${url}/api/v3`).repos.get({ owner: 'acme', repo: 'tool' });
        assert.equal(ghes.data.full_name, 'mallory/tool');
        assert.equal(moving.requests('GET /repositories/:id')[0]?.url, '/api/v3/repositories/77');
        // Someone re-creates the old name: it is theirs, no redirect any more.
        moving.addRepo({ full_name: 'acme/tool', visibility: 'public' });
        const recreated = await client('ghp_mallory', url).repos.get({ owner: 'acme', repo: 'tool' });
        assert.equal(recreated.data.full_name, 'acme/tool');
        assert.notEqual(recreated.data.id, 77);
      } finally {
        await moving.stop();
      }
    });
  });

  describe('GET /user/installations -> apps.listInstallationsForAuthenticatedUser()', () => {
    it("lists a GitHub App user token's installations with the App's permissions; other tokens get 403", async () => {
      gh.addToken({
        token: 'ghu_alice',
        kind: 'app_user',
        user: 'alice',
        repositories: ['acme/app'],
        appPermissions: { metadata: 'read', contents: 'read' },
      });
      const { data } = await client('ghu_alice').apps.listInstallationsForAuthenticatedUser();
      assert.equal(data.total_count, 1);
      assert.equal(
        data.installations[0]?.account && 'login' in data.installations[0].account
          ? data.installations[0].account.login
          : '',
        'acme',
      );
      assert.deepEqual(data.installations[0]?.permissions, { metadata: 'read', contents: 'read' });
      // The repository itself still shows the user's role, not the App's read-only grant.
      assert.equal((await client('ghu_alice').repos.get({ owner: 'acme', repo: 'app' })).data.permissions?.push, true);
      const err = await githubError(client('ghp_alice').apps.listInstallationsForAuthenticatedUser());
      assert.equal(err.status, 403);
    });
  });

  describe('GET /installation/repositories -> apps.listReposAccessibleToInstallation()', () => {
    it("lists an installation token's repositories", async () => {
      const { data } = await client('ghs_app').apps.listReposAccessibleToInstallation();
      assert.equal(data.total_count, 1);
      assert.deepEqual(
        data.repositories.map((r) => r.full_name),
        ['acme/app'],
      );
    });

    it('lists and describes a read-only installation token exactly like a writing one', async () => {
      gh.addToken({ token: 'ghs_readonly', kind: 'installation', repositories: ['acme/app'], permission: 'read' });
      const ro = await client('ghs_readonly').apps.listReposAccessibleToInstallation();
      const rw = await client('ghs_app').apps.listReposAccessibleToInstallation();
      assert.deepEqual(ro.data, rw.data);
      const repoRo = await client('ghs_readonly').repos.get({ owner: 'acme', repo: 'app' });
      const repoRw = await client('ghs_app').repos.get({ owner: 'acme', repo: 'app' });
      assert.deepEqual(repoRo.data.permissions, repoRw.data.permissions);
    });

    it('answers 403 to user tokens', async () => {
      const err = await githubError(client('ghp_alice').apps.listReposAccessibleToInstallation());
      assert.equal(err.status, 403);
      assert.match(err.message, /^You must authenticate with an installation access token/);
    });
  });

  describe('rate limit', () => {
    it('counts per user across tokens, answers 403 with remaining 0 when spent; 304s are free', async () => {
      const limited = new FakeGitHub({ limit: 2 });
      const url = await limited.start();
      try {
        limited.addUser({ id: 7, login: 'alice' });
        limited.addToken({ token: 'a1', kind: 'classic', user: 'alice', scopes: ['repo'] });
        limited.addToken({ token: 'a2', kind: 'fine_grained', user: 'alice' });
        const first = await client('a1', url).users.getAuthenticated();
        assert.deepEqual(
          [
            first.headers['x-ratelimit-limit'],
            first.headers['x-ratelimit-remaining'],
            first.headers['x-ratelimit-used'],
            first.headers['x-ratelimit-resource'],
          ],
          ['2', '1', '1', 'core'],
        );
        assert.ok(Number(first.headers['x-ratelimit-reset']) > Date.now() / 1000);
        await githubError(
          client('a2', url).users.getAuthenticated({ headers: { 'if-none-match': first.headers.etag } }),
        );
        await client('a2', url).users.getAuthenticated();
        const err = await githubError(client('a1', url).users.getAuthenticated());
        assert.equal(err.status, 403);
        assert.match(err.message, /^API rate limit exceeded for user ID 7\./);
        assert.equal(err.response?.headers['x-ratelimit-remaining'], '0');
      } finally {
        await limited.stop();
      }
    });

    it('can answer 429 instead, and limits anonymous callers separately', async () => {
      const limited = new FakeGitHub({ anonymousLimit: 1, status: 429 });
      const url = await limited.start();
      try {
        limited.addUser({ login: 'alice' });
        limited.addRepo({ full_name: 'alice/pub', visibility: 'public' });
        await client(undefined, url).repos.get({ owner: 'alice', repo: 'pub' });
        const err = await githubError(client(undefined, url).repos.get({ owner: 'alice', repo: 'pub' }));
        assert.equal(err.status, 429);
        assert.match(err.message, /^API rate limit exceeded for 127\.0\.0\.1/);
      } finally {
        await limited.stop();
      }
    });
  });

  describe('call counting and failure injection', () => {
    it('counts per endpoint and does not retry a 502 (octokit/rest has no retry plugin)', async () => {
      gh.inject({ endpoint: 'GET /user', kind: 'status', status: 502 });
      const err = await githubError(client('ghp_alice').users.getAuthenticated());
      assert.equal(err.status, 502);
      await client('ghp_alice').repos.get({ owner: 'acme', repo: 'app' });
      assert.deepEqual([gh.calls('GET /user'), gh.calls('GET /repos/:owner/:repo'), gh.calls()], [1, 1, 2]);
    });

    it('delay and latencyMs slow the answer down', async () => {
      gh.latencyMs = 30;
      gh.inject({ kind: 'delay', ms: 100, times: 1 });
      const started = Date.now();
      await client('ghp_alice').users.getAuthenticated();
      assert.ok(Date.now() - started >= 120);
    });

    const timeout = () => ({ request: { signal: AbortSignal.timeout(300) } });
    it('timeout -> RequestError status 500, cause TimeoutError, no response', async () => {
      gh.inject({ kind: 'timeout', times: 1 });
      const err = await githubError(client('ghp_alice').users.getAuthenticated(timeout()));
      assert.deepEqual(
        [err.name, err.status, err.cause?.name, err.response],
        ['HttpError', 500, 'TimeoutError', undefined],
      );
    });

    it('an AbortController abort -> the raw AbortError, with status 500 stuck on it', async () => {
      gh.inject({ kind: 'timeout', times: 1 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const err = await githubError(
        client('ghp_alice').users.getAuthenticated({ request: { signal: controller.signal } }),
      );
      assert.deepEqual([err.name, err.status], ['AbortError', 500]);
    });

    it('reset -> RequestError status 500, message "read ECONNRESET"', async () => {
      gh.inject({ kind: 'reset', times: 1 });
      const err = await githubError(client('ghp_alice').users.getAuthenticated());
      assert.deepEqual([err.status, err.message, err.cause?.cause?.code], [500, 'read ECONNRESET', 'ECONNRESET']);
    });

    // octokit swallows body failures: the call "succeeds" and data is a string.
    const silent: Array<[string, Parameters<FakeGitHub['inject']>[0], (data: unknown) => void]> = [
      [
        'malformed -> 200 with data as the raw text',
        { kind: 'malformed' },
        (data) => assert.match(String(data), /^\{"login":"alice"/),
      ],
      ['truncated -> 200 with data ""', { kind: 'truncated' }, (data) => assert.equal(data, '')],
      [
        'drip past the signal\'s deadline -> 200 with data ""',
        { kind: 'drip', ms: 40 },
        (data) => assert.equal(data, ''),
      ],
    ];
    for (const [label, injection, check] of silent) {
      it(label, async () => {
        gh.inject({ ...injection, times: 1 });
        const res = await client('ghp_alice').users.getAuthenticated(timeout());
        assert.equal(res.status, 200);
        check(res.data);
      });
    }
  });
});
