import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt } from 'jose';
import { FakeGitHub } from '../fakes/github.js';
import { basic, startForgegate, type TestForgegate } from '../support/forgegate.js';

// Refreshing a cached GitHub decision revalidates with If-None-Match: GitHub answers 304,
// which costs no rate limit. With a quota of three calls, round after round of refreshes
// keeps working only because they are free.

let github: FakeGitHub;
let fg: TestForgegate;

before(async () => {
  github = new FakeGitHub({ limit: 3 });
  const url = await github.start();
  github.addUser({ login: 'wanda' });
  github.addOrg({ login: 'acme' });
  github.addRepo({ full_name: 'acme/app', visibility: 'private', collaborators: { wanda: 'write' } });
  github.addToken({ token: 'ghp_wandaetag', kind: 'classic', user: 'wanda', scopes: ['repo'] });
  fg = await startForgegate({ forges: [{ type: 'github', url }], cache: { identityTtl: 1, decisionTtl: 1 } });
});
after(async () => {
  await fg.stop();
  await github.stop();
});

async function pushToken(): Promise<{ status: number; access: unknown }> {
  const response = await fetch(`${fg.url}/token?scope=repository:acme/app/web:pull,push`, {
    headers: { Authorization: basic('wanda', 'ghp_wandaetag') },
  });
  const body = (await response.json()) as { token?: string };
  return { status: response.status, access: body.token ? decodeJwt(body.token).access : undefined };
}

test('refreshes after the TTL are conditional requests that cost no rate limit', async () => {
  const expected = [{ type: 'repository', name: 'acme/app/web', actions: ['pull', 'push'] }];
  assert.deepEqual(await pushToken(), { status: 200, access: expected });
  for (let round = 0; round < 3; round++) {
    await sleep(1100); // past identityTtl and decisionTtl
    assert.deepEqual(await pushToken(), { status: 200, access: expected }, `round ${round + 2}`);
  }
  const revalidated = github.requests().filter((r) => r.headers['if-none-match'] !== undefined);
  assert.ok(
    revalidated.length >= 6,
    `${revalidated.length} conditional requests (3 rounds x GET /user and GET /repos)`,
  );
});
