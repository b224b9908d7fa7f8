import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FakeGitLab } from '../fakes/gitlab.js';
import {
  collectTargets,
  GITLAB_TOKEN,
  SERVICE,
  startFakeGitLab,
  startFuzzServer,
  tokenOwner,
  type FuzzServer,
} from './target.js';
import type { FuzzTargets } from './generators.js';

// The security review's fixes and promises (SECURITY.md), each shown over HTTP.

let gl: FakeGitLab;
let server: FuzzServer;
let targets: FuzzTargets;

before(async () => {
  gl = await startFakeGitLab();
  server = await startFuzzServer(gl.url);
  targets = await collectTargets(server, gl.url);
});
after(async () => {
  await server?.stop();
  await gl?.stop();
});

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function get(query: Record<string, string>, authorization?: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${server.url}/token?${new URLSearchParams({ service: SERVICE, ...query })}`, {
    headers: authorization ? { authorization } : {},
  });
  return { status: response.status, text: await response.text() };
}

async function refresh(refreshToken: string, service = SERVICE): Promise<{ status: number; text: string }> {
  const response = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      service,
      scope: 'repository:team/app:pull',
    }).toString(),
  });
  return { status: response.status, text: await response.text() };
}

test('a forge password outside printable ASCII is a 401, and no character of it is echoed (was a 503 quoting a char code)', async () => {
  const answer = await get({ scope: 'repository:team/app:pull' }, basic('us/6v/Xt', 'abc\u{d861}\u{de61}def'));
  assert.equal(answer.status, 401, answer.text);
  assert.doesNotMatch(answer.text, /ByteString|value of \d+/, 'no client library text about the secret');
  assert.equal(gl.calls(), 0, 'the forge was never asked');
});

test('a refresh token is bound to its subject: once its credential names another account it stops working', async () => {
  const login = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'password',
      username: 'maya',
      password: GITLAB_TOKEN,
      service: SERVICE,
      access_type: 'offline',
      scope: 'repository:team/app:pull',
    }).toString(),
  });
  const { refresh_token: token } = (await login.json()) as { refresh_token: string };
  assert.equal((await refresh(token)).status, 200, 'the refresh token works');
  const user = tokenOwner(gl);
  user.username = 'maya-renamed';
  // What a user_rename webhook does: forget what is cached about the account.
  await Promise.all(server.runtime.forges.map((f) => f.invalidate({ accounts: [`user:${user.id}`] })));
  try {
    const answer = await refresh(token);
    assert.equal(answer.status, 401, answer.text);
  } finally {
    user.username = 'maya';
  }
});

test('a refresh token works only for the service it was issued for', async () => {
  assert.equal((await refresh(targets.otherServiceRefresh)).status, 401, "another service's refresh token");
  const elsewhere = await refresh(targets.refreshToken, 'another-service');
  assert.equal(elsewhere.status, 400, `our token asked for another service: ${elsewhere.text}`);
});

test('tokens are issued only for the configured service', async () => {
  const answer = await get(
    { service: 'another-service', scope: 'repository:alice/app:pull' },
    basic('alice', 'alice-pass'),
  );
  assert.equal(answer.status, 400, answer.text);
});

test('a username shaped like a token (docker login -u $TOKEN) is not written to the audit log; an ordinary one is', async () => {
  const pasted = [
    'glpat-PastedAsUsername-9f8e7d',
    'ghp_PastedAsUsername0123456789abcdefABCD',
    'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln',
  ];
  const ordinary = 'glenn-smith'; // starts like a GitLab prefix, is none
  for (const name of [...pasted, ordinary]) server.secrets.add(name);
  try {
    for (const name of [...pasted, ordinary]) {
      const answer = await get({ scope: 'repository:team/app:pull' }, basic(name, 'not-a-token'));
      assert.equal(answer.status, 401, answer.text);
    }
    assert.deepEqual(server.logStats().leaked, [ordinary.slice(0, 6)], 'only the ordinary username reaches the log');
  } finally {
    server.secrets.delete(ordinary);
  }
});
