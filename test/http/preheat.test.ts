import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import { basic, startForgegate, type TestForgegate } from '../support/forgegate.js';

// The project lookup a token request needs starts beside the verification of its
// credential, not after it: a cold token costs about one forge round trip. A credential
// never seen speculates on what the credential alone allows (a personal access token reads
// its project with itself); a credential seen before (re-verified when its cache entry
// expires) starts what its remembered session says it will need.

let gitlab: FakeGitLab;
let fg: TestForgegate;

before(async () => {
  gitlab = new FakeGitLab();
  const url = await gitlab.start();
  const dev = gitlab.addUser({ username: 'dev' });
  gitlab.addToken({ token: 'glpat-preheat', user_id: dev.id, scopes: ['api'] });
  gitlab.addToken({ token: 'glpat-registryonly', user_id: dev.id, scopes: ['read_registry'] });
  gitlab.addProject({ path_with_namespace: 'group/proj' });
  gitlab.addMember('group/proj', dev.id, ACCESS.developer);
  fg = await startForgegate({
    forges: [{ type: 'gitlab', url }],
    cache: { identityTtl: 1, decisionTtl: 1, negativeTtl: 10 },
  });
});
after(async () => {
  await fg.stop();
  await gitlab.stop();
});

const ask = (password: string) =>
  fetch(`${fg.url}/token?scope=repository:group/proj:pull,push`, { headers: { Authorization: basic('x', password) } });

/** Whether GET /projects/:id arrives while the identity calls are held back for 1.5 s. */
async function projectLookupBeatsIdentity(password: string): Promise<boolean> {
  gitlab.resetCalls();
  gitlab.inject({ endpoint: 'GET /personal_access_tokens/self', kind: 'delay', ms: 1500, times: 1 });
  gitlab.inject({ endpoint: 'GET /user', kind: 'delay', ms: 1500, times: 1 });
  const answer = ask(password);
  const deadline = Date.now() + 1000;
  while (Date.now() < deadline && gitlab.calls('GET /projects/:id') === 0) await sleep(10);
  const early = gitlab.calls('GET /projects/:id') > 0;
  assert.equal((await answer).status, 200);
  gitlab.clearInjections();
  return early;
}

test('a first-ever credential starts its project lookup beside the verification', async () => {
  assert.equal(await projectLookupBeatsIdentity('glpat-preheat'), true);
  assert.equal(gitlab.calls('GET /projects/:id'), 1, 'the early lookup is the one used: no second call');
});

test('a bad first-ever token wastes one speculative lookup, then is remembered as rejected', async () => {
  gitlab.resetCalls();
  assert.equal((await ask('glpat-never-issued')).status, 401);
  assert.ok(
    gitlab.calls('GET /projects/:id') <= 1,
    `${gitlab.calls('GET /projects/:id')} project lookups for a bad token`,
  );
  const spent = gitlab.calls();
  assert.equal((await ask('glpat-never-issued')).status, 401);
  assert.equal(gitlab.calls(), spent, 'the rejection is remembered for cache.negativeTtl: GitLab is not asked again');
});

test('a job token speculates nothing: its own project needs no lookup', async () => {
  gitlab.resetCalls();
  const answer = await fetch(`${fg.url}/token?scope=repository:group/proj:pull`, {
    headers: { Authorization: basic('gitlab-ci-token', 'not-a-job-token') },
  });
  assert.equal(answer.status, 401);
  assert.equal(gitlab.calls('GET /projects/:id'), 0);
});

test('a refresh starts the project lookup beside the re-verification', async () => {
  await sleep(1100); // past both TTLs; the identity entry is still held
  assert.equal(await projectLookupBeatsIdentity('glpat-preheat'), true);
  assert.equal(gitlab.calls('GET /projects/:id'), 1, 'the early lookup is the one used: no second call');
});

test('a token that cannot read projects never looks ahead', async () => {
  assert.equal((await ask('glpat-registryonly')).status, 200);
  await sleep(1100);
  gitlab.resetCalls();
  assert.equal((await ask('glpat-registryonly')).status, 200);
  assert.equal(gitlab.calls('GET /projects/:id'), 0);
});
