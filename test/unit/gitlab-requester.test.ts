import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Unavailable } from '../../src/errors.js';
import { GitLabApi } from '../../src/forges/gitlab/api.js';
import { MAX_ANSWER_BYTES } from '../../src/forges/transport.js';
import { FakeGitLab } from '../fakes/gitlab.js';
import { runCommand } from '../support/command.js';

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

// The transport under the client (src/forges/transport.ts): node:http, no redirects followed,
// answers bounded, and a kept-alive connection GitLab closed as it was reused asked again once.
describe("GitLab's transport", () => {
  const user = JSON.stringify({ id: 1, username: 'dev', state: 'active' });

  /** A GitLab stand-in over raw node:http: `answer` sees each request and its number on its connection. */
  async function rawGitLab(answer: (res: ServerResponse, nthOnConnection: number) => void) {
    const seen = new WeakMap<object, number>();
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      const nth = (seen.get(req.socket) ?? 0) + 1;
      seen.set(req.socket, nth);
      answer(res, nth);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      requests: () => requests,
      stop: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
    };
  }

  const json = (res: ServerResponse, body: string) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);

  test('a redirect is not followed: Unavailable naming its status, and no token goes anywhere else', async () => {
    const gitlab = new FakeGitLab();
    const elsewhere = new FakeGitLab();
    await Promise.all([gitlab.start(), elsewhere.start()]);
    try {
      for (const fake of [gitlab, elsewhere])
        fake.addToken({ token: 'glpat-moved', user_id: fake.addUser({ username: 'dev' }).id, scopes: ['api'] });
      gitlab.inject({ kind: 'status', status: 301, headers: { location: `${elsewhere.url}/api/v4/user` }, times: 1 });
      const error = await new GitLabApi('gitlab', gitlab.url, 5).currentUser('glpat-moved').catch((e: unknown) => e);
      assert.ok(error instanceof Unavailable, String(error));
      assert.match(error.message, /could not answer GET \/user: HTTP 301$/);
      assert.equal(elsewhere.calls('GET /user'), 0);
      // fetch dropped Authorization at another origin, but sent a CI job token's own header on.
      gitlab.inject({ kind: 'status', status: 302, headers: { location: `${elsewhere.url}/api/v4/job` } });
      const job = await new GitLabApi('gitlab', gitlab.url, 5).job('glcbt-64_moved').catch((e: unknown) => e);
      assert.ok(job instanceof Unavailable, String(job));
      assert.match(job.message, /could not answer GET \/job: HTTP 302$/);
      assert.equal(elsewhere.calls('GET /job'), 0);
    } finally {
      await Promise.all([gitlab.stop(), elsewhere.stop()]);
    }
  });

  test('a kept-alive connection closed as it is reused is asked again on a new one, once', async () => {
    let closing = false;
    const gitlab = await rawGitLab((res, nth) => (nth > 1 || closing ? res.socket!.destroy() : json(res, user)));
    try {
      const api = new GitLabApi('gitlab', gitlab.url, 5);
      assert.equal((await api.currentUser('glpat-a')).username, 'dev');
      // The second call finds the first's connection, which closes: sent again on a new one.
      assert.equal((await api.currentUser('glpat-a')).username, 'dev');
      assert.equal(gitlab.requests(), 3);
      // A new connection that closes too is an answer: no third try.
      closing = true;
      const error = await api.currentUser('glpat-a').catch((e: unknown) => e);
      assert.ok(error instanceof Unavailable, String(error));
      assert.equal(gitlab.requests(), 5);
    } finally {
      await gitlab.stop();
    }
  });

  // Node.js 24.5 and later: node's own agents and fetch follow these variables when told to.
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const envProxy = major > 24 || (major === 24 && minor >= 5);
  test(
    'with NODE_USE_ENV_PROXY=1, calls go through HTTP_PROXY',
    { skip: !envProxy && 'Node.js before 24.5' },
    async () => {
      const proxied: string[] = [];
      const proxy = createServer((req, res) => (proxied.push(req.url ?? ''), json(res, user)));
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      try {
        const call = `import { GitLabApi } from './src/forges/gitlab/api.ts';
        const found = await new GitLabApi('gitlab', 'http://gitlab.invalid', 5).currentUser('glpat-a');
        console.log(found.username);`;
        const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
        const env = { ...process.env, NODE_USE_ENV_PROXY: '1', HTTP_PROXY: proxyUrl, NO_PROXY: '' };
        const run = await runCommand(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', call], { env });
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stdout.trim(), 'dev');
        assert.deepEqual(proxied, ['http://gitlab.invalid/api/v4/user']);
      } finally {
        proxy.close();
      }
    },
  );

  test(`an answer over ${MAX_ANSWER_BYTES} bytes is refused unread: Unavailable`, async () => {
    const huge = JSON.stringify({ id: 1, username: 'dev', state: 'active', bio: 'x'.repeat(MAX_ANSWER_BYTES) });
    const gitlab = await rawGitLab((res) => json(res, huge));
    try {
      const error = await new GitLabApi('gitlab', gitlab.url, 5).currentUser('glpat-a').catch((e: unknown) => e);
      assert.ok(error instanceof Unavailable, String(error));
      assert.match(error.message, /could not answer GET \/user: answer larger than/);
    } finally {
      await gitlab.stop();
    }
  });
});
