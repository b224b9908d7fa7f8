import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeGitHub } from '../fakes/github.js';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import { FakeOidcIssuer, githubClaims } from '../fakes/oidc-issuer.js';
import { forgegateCli as runCli } from '../support/cli.js';
import { startForgegateProcess, type ForgegateProcess } from '../support/forgegate-process.js';
import { buildOciImage, buildOciImages, type OciImage } from '../support/oci-image.js';
import { makeTempDir } from '../support/processes.js';
import { startRegistryFor, type RunningRegistry } from '../support/registry.js';
import { copy, inspect, type SkopeoResult } from '../support/skopeo.js';

// CI ID tokens (OIDC) end to end: the built forgegate in front of the real docker-registry 2.8.2, a fake
// GitHub for the repositories and a GitHub-Actions-like issuer on loopback (found through
// OIDC discovery). skopeo logs in with a CI ID token as the password, as a job would with
// `docker login -u oidc --password-stdin <<< "$ID_TOKEN"`. Tests build on each other's pushes.

const ISSUER = 'forgegate-oidc-e2e';
const SERVICE = 'registry-oidc-e2e';

/** The built CLI, with `stdin` piped in as `echo "$TOKEN" |` would. */
const cli = (args: string[], stdin = '') => runCli(args, { stdin, timeoutMs: 30_000 });

describe('CI ID tokens with registry 2.8, skopeo, a fake GitHub and a fake issuer', () => {
  const github = new FakeGitHub();
  const actions = new FakeOidcIssuer();
  let fg: ForgegateProcess;
  let registry: RunningRegistry;
  let images: Record<'v1' | 'v2' | 'v3', OciImage>;

  const ref = (name: string) => `docker://${registry.host}/${name}`;
  const creds = (token: string) => ({ creds: `oidc:${token}` });
  const explain = (result: SkopeoResult) =>
    `skopeo (${result.code}): ${result.stderr}\nregistry:\n${registry.logs().slice(-2000)}\nforgegate:\n${fg.logs().slice(-3000)}`;
  const idToken = (repository: string, overrides: Record<string, unknown> = {}) =>
    actions.sign(githubClaims(repository, { aud: SERVICE, ...overrides }));

  before(async () => {
    await Promise.all([github.start(), actions.start()]);
    github.addOrg({ login: 'acme' });
    github.addRepo({ full_name: 'acme/app', visibility: 'private' });
    github.addRepo({ full_name: 'acme/other', visibility: 'private' });
    fg = await startForgegateProcess(`
server: { listen: "127.0.0.1:{{PORT}}" }
token: { issuer: ${ISSUER}, service: ${SERVICE}, keyDir: "{{DIR}}/keys" }
forges:
  - { type: github, url: ${JSON.stringify(github.url)} }
oidc:
  - issuer: ${JSON.stringify(actions.url)}
    audience: ${SERVICE}
    preset: github-actions
    forge: github
`);
    registry = await startRegistryFor(fg, { service: SERVICE, issuer: ISSUER });
    images = await buildOciImages(['v1', 'v2', 'v3'], 'oidc');
  });

  after(async () => {
    await registry?.stop();
    await fg?.stop();
    await Promise.all([github.stop(), actions.stop()]);
  });

  test("a job on a protected ref pushes its own repository's image and pulls it back", async () => {
    const token = await idToken('acme/app');
    const push = await copy(images.v1.ref, ref('acme/app/web:v1'), creds(token));
    assert.equal(push.code, 0, explain(push));
    const line = await fg.waitForAudit((l) => (l.requested as string[]).includes('repository:acme/app/web:pull,push'));
    assert.deepEqual(line.granted, ['repository:acme/app/web:pull,push']);
    assert.equal(line.identityKind, 'oidc');
    assert.deepEqual(line.oidc, {
      issuer: actions.url,
      repository: 'acme/app',
      repositoryId: '4242',
      ref: 'refs/heads/main',
      workflow: 'acme/app/.github/workflows/build.yml@refs/heads/main',
      rule: 'rules[0]',
    });

    const dir = join(await makeTempDir('pull'), 'layout');
    const pulled = await copy(ref('acme/app/web:v1'), `oci:${dir}:pulled`, creds(token));
    assert.equal(pulled.code, 0, explain(pulled));
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]?.digest, images.v1.manifestDigest);
  });

  test('a feature-branch job and a pull-request job pull but cannot push', async () => {
    for (const overrides of [
      { ref: 'refs/heads/feature', ref_protected: 'false' },
      { event_name: 'pull_request', ref: 'refs/pull/3/merge', ref_protected: 'false' },
    ]) {
      const token = await idToken('acme/app', overrides);
      const info = await inspect(ref('acme/app/web:v1'), creds(token));
      assert.equal(info.code, 0, explain(info));
      const push = await copy(images.v2.ref, ref('acme/app/web:v2'), creds(token));
      assert.notEqual(push.code, 0, `push must fail for ${JSON.stringify(overrides)}`);
      assert.match(push.stderr, /denied|unauthorized/i);
    }
    const v2 = await inspect(ref('acme/app/web:v2'), creds(await idToken('acme/app')));
    assert.notEqual(v2.code, 0, 'v2 must not exist');
  });

  test("another repository's job sees nothing of a private repository", async () => {
    const token = await idToken('acme/other', { repository_id: '5151' });
    const info = await inspect(ref('acme/app/web:v1'), creds(token));
    assert.notEqual(info.code, 0, 'acme/other must not read acme/app');
    const own = await copy(images.v3.ref, ref('acme/other/tool:v3'), creds(token));
    assert.equal(own.code, 0, explain(own));
  });

  test('a token for another audience, or expired, is refused as bad credentials', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const [name, token] of [
      ['audience', await idToken('acme/app', { aud: 'sts.amazonaws.com' })],
      ['expired', await idToken('acme/app', { iat: now - 900, nbf: now - 900, exp: now - 300 })],
    ] as const) {
      const info = await inspect(ref('acme/app/web:v1'), creds(token));
      assert.notEqual(info.code, 0, name);
      assert.match(info.stderr, /unauthorized|invalid username\/password/i, name);
    }
    const line = await fg.waitForAudit((l) => l.outcome === 'unauthorized' && /expired/.test(String(l.reason)));
    assert.match(String(line.reason), /OIDC issuer github-actions: token has expired/);
  });

  test('explain reads an ID token on stdin and says why', async () => {
    const token = await idToken('acme/app', { ref: 'refs/heads/feature', ref_protected: 'false' });
    const run = await cli(
      [
        'explain',
        '--config',
        join(fg.dir, 'forgegate.yaml'),
        '--user',
        'oidc',
        '--scope',
        'repository:acme/app/web:pull,push',
      ],
      `${token}\n`,
    );
    assert.equal(run.code, 0, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
    assert.match(run.stdout, /pull granted: ID token of acme\/app/);
    assert.match(run.stdout, /push denied: ref_protected is "false"/);
  });

  test("check fetches each issuer's keys, and fails on an issuer it cannot reach", async () => {
    const good = await cli(['check', '--config', join(fg.dir, 'forgegate.yaml')]);
    assert.equal(good.code, 0, `stdout:\n${good.stdout}\nstderr:\n${good.stderr}`);
    assert.match(
      good.stdout,
      new RegExp(
        `ok: oidc github-actions \\(${actions.url.replaceAll('.', '\\.')}\\): 1 key at ${actions.url.replaceAll('.', '\\.')}/jwks`,
      ),
    );
    const gone = new FakeOidcIssuer();
    const goneUrl = await gone.start();
    await gone.stop();
    const file = join(await makeTempDir('check'), 'forgegate.yaml');
    await writeFile(file, `forges: []\noidc:\n  - { issuer: "${goneUrl}", audience: r, preset: gitlab, timeout: 2 }\n`);
    const bad = await cli(['check', '--config', file]);
    assert.equal(bad.code, 1, `stdout:\n${bad.stdout}\nstderr:\n${bad.stderr}`);
    assert.match(bad.stderr, /OIDC issuer gitlab: discovery at .*openid-configuration failed: ECONNREFUSED/);
  });

  test('no ID token reaches the logs', () => {
    assert.ok(
      !/eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}/.test(fg.logs()),
      'a JWT-looking string is in the forgegate log',
    );
  });
});

describe('CI ID tokens never cross forges (registry 2.8, a fake GitLab beside a fake GitHub)', () => {
  const github = new FakeGitHub();
  const gitlab = new FakeGitLab();
  const actions = new FakeOidcIssuer();
  let fg: ForgegateProcess;
  let registry: RunningRegistry;
  let image: OciImage;
  const ownerToken = 'glpat-owner-crossforge-e2e';

  const ref = (name: string) => `docker://${registry.host}/${name}`;
  const explain = (result: SkopeoResult) =>
    `skopeo (${result.code}): ${result.stderr}\nforgegate:\n${fg.logs().slice(-3000)}`;
  const config = (forgeLine: string) => `
server: { listen: "127.0.0.1:{{PORT}}" }
token: { issuer: ${ISSUER}, service: ${SERVICE}, keyDir: "{{DIR}}/keys" }
forges:
  - { type: gitlab, url: ${JSON.stringify(gitlab.url)} }
  - { type: github, url: ${JSON.stringify(github.url)}, prefix: gh/ }
oidc:
  - issuer: ${JSON.stringify(actions.url)}
    audience: ${SERVICE}
    preset: github-actions
${forgeLine}`;

  before(async () => {
    await Promise.all([github.start(), gitlab.start(), actions.start()]);
    // acme/priv exists on both forges, owned by different people.
    github.addOrg({ login: 'acme' });
    github.addRepo({ full_name: 'acme/priv', visibility: 'private' });
    const owner = gitlab.addUser({ username: 'gl-owner' });
    gitlab.addProject({ path_with_namespace: 'acme/priv', visibility: 'private' });
    gitlab.addMember('acme/priv', owner.id, ACCESS.owner);
    gitlab.addToken({ token: ownerToken, user_id: owner.id, scopes: ['api'] });
    fg = await startForgegateProcess(config('    forge: github'));
    registry = await startRegistryFor(fg, { service: SERVICE, issuer: ISSUER });
    image = await buildOciImage(undefined, { marker: 'oidc-cross-forge' });
  });

  after(async () => {
    await registry?.stop();
    await fg?.stop();
    await Promise.all([github.stop(), gitlab.stop(), actions.stop()]);
  });

  test('an issuer without forge: the server does not start, and says which key in one line', async () => {
    const dir = await makeTempDir('cross-forge');
    const file = join(dir, 'forgegate.yaml');
    await writeFile(file, config('').replaceAll('{{PORT}}', '0').replaceAll('{{DIR}}', dir));
    const run = await cli(['serve', '--config', file]);
    assert.equal(run.code, 1, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
    assert.equal(run.stderr.trim().split('\n').length, 1, `one line: ${run.stderr}`);
    assert.match(run.stderr, /^forgegate: config .*forgegate\.yaml: oidc\[0\]\.forge: required when forges are/);
  });

  test("a GitHub job of acme/priv cannot reach GitLab's acme/priv; it pushes its own under gh/", async () => {
    const seeded = await copy(image.ref, ref('acme/priv/app:v1'), { creds: `gl-owner:${ownerToken}` });
    assert.equal(seeded.code, 0, explain(seeded));

    const token = await actions.sign(githubClaims('acme/priv', { aud: SERVICE }));
    const push = await copy(image.ref, ref('acme/priv/app:evil'), { creds: `oidc:${token}` });
    assert.notEqual(push.code, 0, 'the registry must refuse the push');
    assert.match(push.stderr, /denied|unauthorized/i);
    const pull = await inspect(ref('acme/priv/app:v1'), { creds: `oidc:${token}` });
    assert.notEqual(pull.code, 0, 'nor may it read the GitLab project');
    // The job's own line (the owner's seeding push asked for the same scope before it).
    const line = await fg.waitForAudit(
      (l) => l.oidc !== undefined && (l.requested as string[]).includes('repository:acme/priv/app:pull,push'),
    );
    assert.deepEqual(line.granted, []);

    const own = await copy(image.ref, ref('gh/acme/priv/app:v1'), { creds: `oidc:${token}` });
    assert.equal(own.code, 0, explain(own));
    const evil = await inspect(ref('acme/priv/app:evil'), { creds: `gl-owner:${ownerToken}` });
    assert.notEqual(evil.code, 0, 'no image was pushed into the GitLab project');
  });
});
