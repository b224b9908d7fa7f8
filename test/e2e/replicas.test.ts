import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, importX509, jwtVerify } from 'jose';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import { startForgegateProcess, type ForgegateProcess } from '../support/forgegate-process.js';
import { makeTempDir } from '../support/processes.js';
import { startRedis, type RunningRedis } from '../support/redis.js';

// Replicas that share the key directory and Redis are interchangeable. Two
// built forgegate processes (as two pods or two compose replicas would run) in front of one
// real redis-server and one fake GitLab, whose call counter shows who asks GitLab when.

const SERVICE = 'container-registry';
const SECRET = 'replica-hook-secret-Zp4Qx8';
const PASSWORD = 'glpat-rex-Replicas4Qx7Zk2Lm9';

const gitlab = new FakeGitLab();
let redis: RunningRedis;
let a: ForgegateProcess;
let b: ForgegateProcess;
let rexId: number;
let keyDir: string;

type Grant = { type: string; name: string; actions: string[] };
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** GET /token for rex on `image` (pull,push): the token and the actions it grants. */
async function login(
  on: ForgegateProcess,
  image: string,
  extra: Record<string, string> = {},
): Promise<{ body: any; actions: string[] }> {
  const query = new URLSearchParams({ service: SERVICE, scope: `repository:${image}:pull,push`, ...extra });
  const response = await fetch(`${on.url}/token?${query}`, { headers: { Authorization: basic('rex', PASSWORD) } });
  const body = (await response.json()) as any;
  assert.equal(response.status, 200, JSON.stringify(body));
  return { body, actions: granted(body.token, image) };
}

function granted(token: string, image: string): string[] {
  return (decodeJwt(token).access as Grant[]).find((grant) => grant.name === image)?.actions ?? [];
}

/** GitLab calls one step cost. */
async function gitlabCalls<T>(step: () => Promise<T>): Promise<{ result: T; calls: number }> {
  gitlab.resetCalls();
  const result = await step();
  return { result, calls: gitlab.calls() };
}

before(async () => {
  await gitlab.start();
  const rex = gitlab.addUser({ username: 'rex' });
  rexId = rex.id;
  gitlab.addToken({ token: PASSWORD, user_id: rex.id, scopes: ['api'] });
  gitlab.addProject({ path_with_namespace: 'team/shared' });
  gitlab.addProject({ path_with_namespace: 'team/other' });
  gitlab.addMember('team/shared', rex.id, ACCESS.developer);
  gitlab.addMember('team/other', rex.id, ACCESS.developer);

  redis = await startRedis();
  keyDir = join(await makeTempDir('replica-keys'), 'keys');
  // One configuration for both, as one ConfigMap or one compose file gives it; TTLs of an hour,
  // so only the webhook can make a replica ask GitLab again.
  const config = [
    'server: {listen: "127.0.0.1:{{PORT}}"}',
    `token: {keyDir: "${keyDir}", service: ${SERVICE}}`,
    `cache: {redisUrl: "${redis.url}", keyPrefix: "replicas:", identityTtl: 3600, decisionTtl: 3600}`,
    'forges:',
    `  - {type: gitlab, url: "${gitlab.url}", webhookSecret: "${SECRET}"}`,
  ].join('\n');
  a = await startForgegateProcess(config); // first: it generates the key B then loads
  b = await startForgegateProcess(config);
});

after(async () => {
  await a?.stop();
  await b?.stop();
  await redis?.stop();
  await gitlab.stop();
});

describe('two forgegate processes sharing keyDir and Redis', () => {
  test('tokens from either verify under the one certificate the registry trusts', async () => {
    const certificate = await readFile(join(keyDir, 'cert.pem'), 'utf8');
    const jwks = async (on: ForgegateProcess) => (await fetch(`${on.url}/.well-known/jwks.json`)).json();
    assert.deepEqual(await jwks(b), await jwks(a), 'B serves the key A generated');
    for (const on of [a, b]) {
      const { body } = await login(on, 'team/other');
      const header = JSON.parse(Buffer.from(body.token.split('.')[0], 'base64url').toString()) as { alg: string };
      const { payload } = await jwtVerify(body.token, await importX509(certificate, header.alg), {
        issuer: 'forgegate',
        audience: SERVICE,
      });
      assert.deepEqual((payload.access as Grant[])[0]!.actions, ['pull', 'push']);
    }
  });

  test('a refresh token from A works on B', async () => {
    const { body } = await login(a, 'team/other', { offline_token: 'true', client_id: 'docker' });
    assert.ok(typeof body.refresh_token === 'string', 'A returns a refresh token');
    const response = await fetch(`${b.url}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        service: SERVICE,
        grant_type: 'refresh_token',
        refresh_token: body.refresh_token,
        client_id: 'docker',
        scope: 'repository:team/other:pull',
      }).toString(),
    });
    const answer = (await response.json()) as any;
    assert.equal(response.status, 200, JSON.stringify(answer));
    assert.deepEqual(granted(answer.access_token ?? answer.token, 'team/other'), ['pull']);
    const line = await b.waitForAudit((l) => l.method === 'POST');
    assert.equal(line.credential, 'refresh', 'B saw a refresh-token request');
  });

  test('a GitLab webhook sent to A makes B ask GitLab again', async () => {
    const viaB = () => login(b, 'team/shared').then((r) => r.actions);
    const cold = await gitlabCalls(viaB);
    assert.deepEqual(cold.result, ['pull', 'push']);
    const warm = await gitlabCalls(viaB);
    assert.deepEqual(warm, { result: ['pull', 'push'], calls: 0 }, 'B answers the second request from its cache');

    gitlab.removeMember('team/shared', rexId);
    const hook = await fetch(`${a.url}/hooks/gitlab`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Gitlab-Event': 'System Hook', 'X-Gitlab-Token': SECRET },
      body: JSON.stringify({
        event_name: 'user_remove_from_team',
        project_path_with_namespace: 'team/shared',
        project_id: 1,
        user_username: 'rex',
        user_id: rexId,
        access_level: 'Developer',
      }),
    });
    assert.equal(hook.status, 200, await hook.text());

    // Redis relays A's message to B within moments; until then B may still answer from its copy.
    let after = await gitlabCalls(viaB);
    for (let tries = 0; after.calls === 0 && tries < 300; tries++) {
      assert.deepEqual(after.result, ['pull', 'push'], 'until the message arrives B answers from its copy');
      await sleep(10);
      after = await gitlabCalls(viaB);
    }
    assert.ok(after.calls > 0, 'B asked GitLab again after the webhook sent to A');
    assert.deepEqual(after.result, [], 'and follows the removal');
    assert.deepEqual(
      await gitlabCalls(() => login(a, 'team/shared').then((r) => r.actions)),
      { result: [], calls: 0 },
      "A reads B's new answer from Redis",
    );
  });
});
