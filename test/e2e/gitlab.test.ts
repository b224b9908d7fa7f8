import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ACCESS, FakeGitLab, type GitLabToken } from '../fakes/gitlab.js';
import { forgegateCli as runCli } from '../support/cli.js';
import { startForgegateProcess, type ForgegateProcess } from '../support/forgegate-process.js';
import { buildOciImages, type OciImage } from '../support/oci-image.js';
import { makeTempDir } from '../support/processes.js';
import { startRegistryFor, type RunningRegistry } from '../support/registry.js';
import { copy, deleteImage, inspect, type SkopeoResult } from '../support/skopeo.js';

// forgegate in front of the real docker-registry 2.8.2, mirroring the permissions of a fake
// GitLab (docs/forges.md): skopeo pushes, pulls and deletes with personal access tokens,
// a CI job token and no credentials at all, and `forgegate explain` says why a push is refused.
// The tests build on each other's pushes and run in order.

const ISSUER = 'forgegate-gitlab-e2e';
const SERVICE = 'registry-gitlab-e2e';

// GitLab-shaped secrets: forgegate recognises GitLab tokens by their prefixes.
const TOKENS = {
  service: 'glpat-servicebot0000000000',
  dev: 'glpat-developer000000000000',
  rep: 'glpat-reporter0000000000000',
  maint: 'glpat-maintainer00000000000',
  revoked: 'glpat-revokedreporter000000',
  registryOnly: 'glpat-registryonlydev000000',
  job: 'glcbt-64_jobtokenofgroupproj000',
  mallory: 'glpat-mallorymaintainer0000',
  acme: 'glpat-acmedeveloper00000000',
} as const;

// Where each secret may legitimately travel, and in which header (docs/forges.md, GitLab, plus
// GET /users/:id: the service token names a user whose own token cannot read /user).
const USER_TOKEN_ENDPOINTS = ['GET /personal_access_tokens/self', 'GET /user', 'GET /projects/:id'];
// Listing a project's protected container repository rules needs Maintainer: the service
// token, or a Maintainer's own token.
const RULES = 'GET /projects/:id/registry/protection/repository/rules';
const EXPECTED: Record<keyof typeof TOKENS, { endpoints: string[]; headers: string[] }> = {
  service: {
    endpoints: [
      'GET /projects/:id',
      'GET /projects/:id/members/all/:user_id',
      'GET /projects/:id/job_token_scope/allowlist',
      'GET /users/:id',
      RULES,
    ],
    headers: ['authorization', 'private-token'],
  },
  dev: { endpoints: USER_TOKEN_ENDPOINTS, headers: ['authorization', 'private-token'] },
  rep: { endpoints: USER_TOKEN_ENDPOINTS, headers: ['authorization', 'private-token'] },
  maint: { endpoints: [...USER_TOKEN_ENDPOINTS, RULES], headers: ['authorization', 'private-token'] },
  revoked: { endpoints: USER_TOKEN_ENDPOINTS, headers: ['authorization', 'private-token'] },
  job: { endpoints: ['GET /job'], headers: ['job-token'] },
  // Used only by the last test, which checks its own requests.
  registryOnly: {
    endpoints: ['GET /personal_access_tokens/self', 'GET /user'],
    headers: ['authorization', 'private-token'],
  },
  // Used only after the secrets were checked, by the moved-project test.
  mallory: { endpoints: USER_TOKEN_ENDPOINTS, headers: ['authorization', 'private-token'] },
  acme: { endpoints: USER_TOKEN_ENDPOINTS, headers: ['authorization', 'private-token'] },
};

/** The built CLI as a user types it, with `stdin` piped in as `echo "$TOKEN" |` would. */
const forgegateCli = (args: string[], stdin: string, cwd: string) => runCli(args, { stdin, cwd, timeoutMs: 30_000 });

/** Every secret a request carried, by header. */
function presented(headers: IncomingHttpHeaders): { header: string; value: string }[] {
  const out: { header: string; value: string }[] = [];
  const auth = headers.authorization;
  if (typeof auth === 'string') out.push({ header: 'authorization', value: auth.replace(/^Bearer\s+/i, '') });
  for (const header of ['private-token', 'job-token']) {
    const value = headers[header];
    if (typeof value === 'string') out.push({ header, value });
  }
  return out;
}

describe('GitLab forge with registry 2.8, skopeo and a fake GitLab', () => {
  let gitlab: FakeGitLab;
  let fg: ForgegateProcess;
  let registry: RunningRegistry;
  let revokedToken: GitLabToken;
  let acmeDevId: number;
  // One image per use, by marker: deleting a manifest removes every tag that points at it.
  const IMAGE_NAMES = ['v1', 'v2', 'throwaway', 'ci', 'base', 'web', 'release', 'tool', 'stolen', 'acme'] as const;
  let images: Record<(typeof IMAGE_NAMES)[number], OciImage>;
  const ref = (name: string) => `docker://${registry.host}/${name}`;
  const creds = (token: string, user = 'anything') => `${user}:${token}`;
  const explain = (result: SkopeoResult) =>
    `skopeo (${result.code}): ${result.stderr}\nregistry:\n${registry.logs().slice(-3000)}\nforgegate:\n${fg.logs().slice(-3000)}`;
  const pullTo = async (name: string, auth: { creds?: string; noCreds?: boolean }) => {
    const dir = join(await makeTempDir('pull'), 'layout');
    return copy(ref(name), `oci:${dir}:pulled`, auth);
  };
  const digestOf = async (name: string, token: string) => {
    const info = await inspect(ref(name), { creds: creds(token) });
    assert.equal(info.code, 0, explain(info));
    return (JSON.parse(info.stdout) as { Digest: string }).Digest;
  };
  // Tokens of the same caller are told apart by what they asked for and by user agent.
  const auditFor = (subject: string, requested: string) =>
    fg.waitForAudit(
      (l) =>
        l.subject === subject &&
        String(l.userAgent).startsWith('skopeo') &&
        (l.requested as string[]).includes(requested),
    );

  before(async () => {
    gitlab = new FakeGitLab();
    await gitlab.start();

    const bot = gitlab.addUser({ username: 'registry-bot', is_admin: true, bot: true });
    const dev = gitlab.addUser({ username: 'dev' });
    const rep = gitlab.addUser({ username: 'rep' });
    const maint = gitlab.addUser({ username: 'maint' });
    const mallory = gitlab.addUser({ username: 'mallory' });
    acmeDevId = gitlab.addUser({ username: 'acme-dev' }).id;

    gitlab.addProject({ path_with_namespace: 'group/proj', visibility: 'private' });
    gitlab.addProject({ path_with_namespace: 'group/lib', visibility: 'private' });
    gitlab.addProject({ path_with_namespace: 'group/other', visibility: 'private' });
    gitlab.addProject({
      path_with_namespace: 'pub/site',
      visibility: 'public',
      container_registry_access_level: 'enabled',
    });
    gitlab.addProject({ path_with_namespace: 'group/shipped', visibility: 'private' });
    // A protected container repository (GitLab 17.9+): release images need Maintainer to push.
    gitlab.addProtectionRule('group/shipped', { pattern: 'group/shipped/release*', push: 'maintainer' });
    gitlab.addProject({ path_with_namespace: 'acme/tool', visibility: 'private' }); // Mallory moves it away

    gitlab.addMember('group/proj', dev.id, ACCESS.developer);
    gitlab.addMember('group/proj', rep.id, ACCESS.reporter);
    gitlab.addMember('group/proj', maint.id, ACCESS.maintainer);
    gitlab.addMember('group/lib', dev.id, ACCESS.reporter); // the job's user
    gitlab.addMember('group/lib', maint.id, ACCESS.maintainer); // seeds group/lib
    gitlab.addMember('pub/site', maint.id, ACCESS.maintainer); // seeds pub/site
    gitlab.addMember('group/shipped', dev.id, ACCESS.developer);
    gitlab.addMember('group/shipped', maint.id, ACCESS.maintainer);
    gitlab.allowJobTokenAccess('group/lib', 'group/proj');
    gitlab.addMember('acme/tool', mallory.id, ACCESS.maintainer);

    gitlab.addToken({ token: TOKENS.service, user_id: bot.id, scopes: ['read_api'], name: 'forgegate' });
    gitlab.addToken({ token: TOKENS.dev, user_id: dev.id, scopes: ['api'] });
    gitlab.addToken({ token: TOKENS.rep, user_id: rep.id, scopes: ['api'] });
    gitlab.addToken({ token: TOKENS.maint, user_id: maint.id, scopes: ['api'] });
    revokedToken = gitlab.addToken({ token: TOKENS.revoked, user_id: rep.id, scopes: ['api'] });
    // What GitLab's registry docs tell users to create for docker login.
    gitlab.addToken({ token: TOKENS.registryOnly, user_id: dev.id, scopes: ['read_registry', 'write_registry'] });
    gitlab.addToken({ token: TOKENS.mallory, user_id: mallory.id, scopes: ['api'] });
    gitlab.addToken({ token: TOKENS.acme, user_id: acmeDevId, scopes: ['api'] });
    gitlab.addJob({ token: TOKENS.job, project: 'group/proj', user_id: dev.id, status: 'running' });

    fg = await startForgegateProcess(`
server: { listen: "127.0.0.1:{{PORT}}" }
token: { issuer: ${ISSUER}, service: ${SERVICE}, keyDir: "{{DIR}}/keys" }
# A verified credential may be trusted for identityTtl seconds by design; 0 makes a revocation
# take effect at once, so the revocation test below does not depend on caching.
cache: { identityTtl: 0 }
forges:
  - { type: gitlab, url: ${JSON.stringify(gitlab.url)}, serviceToken: ${JSON.stringify(TOKENS.service)} }
`);
    registry = await startRegistryFor(fg, { service: SERVICE, issuer: ISSUER });
    images = await buildOciImages(IMAGE_NAMES, 'gitlab');
  });

  after(async () => {
    await registry?.stop();
    await fg?.stop();
    await gitlab?.stop();
  });

  test('a Developer pushes; a Reporter pulls it back but cannot push', async () => {
    const push = await copy(images.v1.ref, ref('group/proj/app:v1'), { creds: creds(TOKENS.dev) });
    assert.equal(push.code, 0, explain(push));
    const pushed = await auditFor('dev', 'repository:group/proj/app:pull,push');
    assert.equal(pushed.identityKind, 'gitlab-token');
    assert.deepEqual(pushed.granted, ['repository:group/proj/app:pull,push']);

    const pull = await pullTo('group/proj/app:v1', { creds: creds(TOKENS.rep) });
    assert.equal(pull.code, 0, explain(pull));
    assert.equal(await digestOf('group/proj/app:v1', TOKENS.rep), images.v1.manifestDigest);

    const refused = await copy(images.v2.ref, ref('group/proj/app:v2'), { creds: creds(TOKENS.rep) });
    assert.notEqual(refused.code, 0, 'a Reporter must not push');
    assert.match(refused.stderr, /denied|unauthorized/i);
    const line = await auditFor('rep', 'repository:group/proj/app:pull,push');
    assert.equal(line.outcome, 'partial', 'missing permissions are a 200 with less access, never an error');
    assert.deepEqual(line.granted, ['repository:group/proj/app:pull']);
    assert.ok(
      (line.denied as string[]).includes(
        'group/proj/app: push denied: role Reporter (20) < Developer (30) on group/proj',
      ),
      JSON.stringify(line.denied),
    );
    const v2 = await inspect(ref('group/proj/app:v2'), { creds: creds(TOKENS.dev) });
    assert.notEqual(v2.code, 0, 'v2 must not exist');
  });

  test('a Maintainer deletes a tag; a Reporter cannot', async () => {
    const push = await copy(images.throwaway.ref, ref('group/proj/app:throwaway'), { creds: creds(TOKENS.maint) });
    assert.equal(push.code, 0, explain(push));
    assert.equal(await digestOf('group/proj/app:throwaway', TOKENS.maint), images.throwaway.manifestDigest);

    const repDelete = await deleteImage(ref('group/proj/app:throwaway'), { creds: creds(TOKENS.rep) });
    assert.notEqual(repDelete.code, 0, 'a Reporter must not delete');
    const repLine = await auditFor('rep', 'repository:group/proj/app:*');
    assert.deepEqual(repLine.granted, ['repository:group/proj/app:pull']);
    assert.equal(
      await digestOf('group/proj/app:throwaway', TOKENS.maint),
      images.throwaway.manifestDigest,
      'still there',
    );

    const removed = await deleteImage(ref('group/proj/app:throwaway'), { creds: creds(TOKENS.maint) });
    assert.equal(removed.code, 0, explain(removed));
    const line = await auditFor('maint', 'repository:group/proj/app:*');
    assert.deepEqual(
      line.granted,
      ['repository:group/proj/app:pull,push,delete'],
      'skopeo asks for *, narrowed to what a Maintainer holds',
    );
    const gone = await inspect(ref('group/proj/app:throwaway'), { creds: creds(TOKENS.maint) });
    assert.notEqual(gone.code, 0, 'the deleted tag is gone');
    assert.match(gone.stderr, /manifest unknown|not found/i);
    assert.equal(await digestOf('group/proj/app:v1', TOKENS.rep), images.v1.manifestDigest, 'v1 is untouched');
  });

  test('a CI job token pushes to its project, pulls from an allowlisting project, and pushes nowhere else', async () => {
    const job = creds(TOKENS.job, 'gitlab-ci-token');
    const push = await copy(images.ci.ref, ref('group/proj/app:ci'), { creds: job });
    assert.equal(push.code, 0, explain(push));
    // The job's own line: dev's token asked for the same scope before it, and the log is written in blocks.
    const pushed = await fg.waitForAudit(
      (l) =>
        l.subject === 'dev' &&
        l.credential === 'password' &&
        l.identityKind === 'gitlab-job' &&
        (l.requested as string[]).includes('repository:group/proj/app:pull,push'),
    );
    assert.equal(pushed.identityKind, 'gitlab-job');

    const seed = await copy(images.base.ref, ref('group/lib/base:v1'), { creds: creds(TOKENS.maint) });
    assert.equal(seed.code, 0, explain(seed));

    const pull = await pullTo('group/lib/base:v1', { creds: job });
    assert.equal(pull.code, 0, explain(pull));
    const pulled = await fg.waitForAudit(
      (l) => l.identityKind === 'gitlab-job' && (l.requested as string[]).includes('repository:group/lib/base:pull'),
    );
    assert.deepEqual(pulled.granted, ['repository:group/lib/base:pull']);

    // The usual CI step: build FROM the library image into the job's own project.
    const promote = await copy(ref('group/lib/base:v1'), ref('group/proj/app:from-lib'), { creds: job });
    assert.equal(promote.code, 0, explain(promote));
    assert.equal(await digestOf('group/proj/app:from-lib', TOKENS.rep), images.base.manifestDigest);

    // group/other is private and nothing links the job to it: as GitLab, forgegate shows it as absent.
    const why = {
      'group/lib/base': 'push denied: job token of group/proj may only pull from other projects',
      'group/other/app': 'push denied: no GitLab project for image group/other/app visible to dev',
    };
    for (const [name, reason] of Object.entries(why)) {
      const target = `${name}:ci`;
      const refused = await copy(images.ci.ref, ref(target), { creds: job });
      assert.notEqual(refused.code, 0, `a job token must not push to ${target}`);
      assert.match(refused.stderr, /denied|unauthorized/i);
      const asked = (l: Record<string, unknown>) => (l.requested as string[]).includes(`repository:${name}:pull,push`);
      const line = await fg.waitForAudit((l) => l.identityKind === 'gitlab-job' && asked(l));
      assert.ok((line.denied as string[]).includes(`${name}: ${reason}`), JSON.stringify(line.denied));
    }
    const otherLine = await fg.waitForAudit(
      (l) =>
        l.identityKind === 'gitlab-job' && (l.requested as string[]).includes('repository:group/other/app:pull,push'),
    );
    assert.deepEqual(otherLine.granted, [], 'group/other does not allowlist group/proj: not even pull');
    const base = await inspect(ref('group/lib/base:ci'), { creds: creds(TOKENS.maint) });
    assert.notEqual(base.code, 0, 'nothing was pushed to group/lib');
  });

  test('a revoked token fails with 401', async () => {
    const before = await inspect(ref('group/proj/app:v1'), { creds: creds(TOKENS.revoked) });
    assert.equal(before.code, 0, explain(before));
    revokedToken.revoked = true;
    const pull = await inspect(ref('group/proj/app:v1'), { creds: creds(TOKENS.revoked) });
    assert.notEqual(pull.code, 0);
    assert.match(pull.stderr, /invalid username\/password/, 'skopeo reports a 401 this way');
    const line = await fg.waitForAudit(
      (l) => l.outcome === 'unauthorized' && (l.requested as string[]).includes('repository:group/proj/app:pull'),
    );
    assert.equal(line.subject, 'anything');
  });

  test('anonymous pulls a public project but not a private one', async () => {
    const seed = await copy(images.web.ref, ref('pub/site/web:v1'), { creds: creds(TOKENS.maint) });
    assert.equal(seed.code, 0, explain(seed));

    const pull = await pullTo('pub/site/web:v1', { noCreds: true });
    assert.equal(pull.code, 0, explain(pull));
    const info = await inspect(ref('pub/site/web:v1'), { noCreds: true });
    assert.equal(info.code, 0, explain(info));
    assert.equal((JSON.parse(info.stdout) as { Digest: string }).Digest, images.web.manifestDigest);

    const refused = await inspect(ref('group/proj/app:v1'), { noCreds: true });
    assert.notEqual(refused.code, 0, 'anonymous must not pull a private project');
    assert.match(refused.stderr, /unauthorized|denied|authentication required/i);
    const line = await fg.waitForAudit(
      (l) => l.credential === 'anonymous' && (l.requested as string[]).includes('repository:group/proj/app:pull'),
    );
    assert.deepEqual(line.granted, []);
    // GitLab answers 404 to outsiders: the reason must not confirm that the private project exists.
    assert.ok(!(line.denied as string[]).some((d) => /\bgroup\/proj(?!\/app)/.test(d)), JSON.stringify(line.denied));
  });

  test('forgegate explain says why a Reporter cannot push', async () => {
    const cwd = await makeTempDir('explain-user');
    const config = join(fg.dir, 'forgegate.yaml');
    const run = await forgegateCli(
      ['explain', '--config', config, '--user', 'rep', '--scope', 'repository:group/proj/app:push'],
      `${TOKENS.rep}\n`,
      cwd,
    );
    assert.equal(run.code, 0, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
    assert.match(run.stdout, /^caller: rep\b/m);
    assert.ok(run.stdout.includes('push denied: role Reporter (20) < Developer (30) on group/proj'), run.stdout);
    assert.ok(!run.stdout.includes(TOKENS.rep) && !run.stderr.includes(TOKENS.rep), 'the token is never echoed');
  });

  test("a protected repository: a Developer's push refused, a Maintainer's taken; explain says why", async () => {
    const denial = 'push denied: group/shipped/release* is protected: Maintainer required, you are Developer';
    const refused = await copy(images.release.ref, ref('group/shipped/release:v1'), { creds: creds(TOKENS.dev) });
    assert.notEqual(refused.code, 0, 'a Developer must not push a protected image');
    assert.match(refused.stderr, /denied|unauthorized/i);
    const line = await auditFor('dev', 'repository:group/shipped/release:pull,push');
    assert.deepEqual(line.granted, ['repository:group/shipped/release:pull']);
    assert.ok((line.denied as string[]).includes(`group/shipped/release: ${denial}`), JSON.stringify(line.denied));
    const missing = await inspect(ref('group/shipped/release:v1'), { creds: creds(TOKENS.maint) });
    assert.notEqual(missing.code, 0, 'nothing was pushed');

    const push = await copy(images.release.ref, ref('group/shipped/release:v1'), { creds: creds(TOKENS.maint) });
    assert.equal(push.code, 0, explain(push));
    const pushed = await auditFor('maint', 'repository:group/shipped/release:pull,push');
    assert.deepEqual(pushed.granted, ['repository:group/shipped/release:pull,push']);
    // Pulls are never affected; unprotected images of the project stay open to Developers.
    assert.equal(await digestOf('group/shipped/release:v1', TOKENS.dev), images.release.manifestDigest);
    const other = await copy(images.release.ref, ref('group/shipped/nightly:v1'), { creds: creds(TOKENS.dev) });
    assert.equal(other.code, 0, explain(other));

    const image = 'group/shipped/release';
    const scope = `repository:${image}:push`;
    const cli = await forgegateCli(
      ['explain', '--config', join(fg.dir, 'forgegate.yaml'), '--user', 'dev', '--scope', scope],
      `${TOKENS.dev}\n`,
      await makeTempDir('explain-protected'),
    );
    assert.equal(cli.code, 0, `stdout:\n${cli.stdout}\nstderr:\n${cli.stderr}`);
    assert.ok(cli.stdout.includes(denial), cli.stdout);
    const page = await fetch(`${fg.url}/explain`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'dev', password: TOKENS.dev, image: `${registry.host}/${image}:v1` }),
    });
    const body = (await page.json()) as { verdicts: { action: string; reason: string }[] };
    assert.equal(page.status, 200, JSON.stringify(body));
    assert.equal(body.verdicts.find((v) => v.action === 'push')?.reason, denial);
  });

  test('every secret went only to the GitLab endpoints meant for it, in headers', () => {
    const owner = new Map<string, keyof typeof TOKENS>(
      Object.entries(TOKENS).map(([k, v]) => [v, k as keyof typeof TOKENS]),
    );
    const requests = gitlab.requests();
    assert.ok(requests.length > 0);
    const problems: string[] = [];
    for (const request of requests) {
      for (const secret of Object.values(TOKENS)) {
        if (request.url.includes(secret)) problems.push(`${request.method} ${request.url}: a token in the URL`);
      }
      const secrets = presented(request.headers);
      if (secrets.length === 0) problems.push(`${request.endpoint} (${request.url}): no token at all`);
      for (const { header, value } of secrets) {
        const who = owner.get(value);
        if (who === undefined) {
          problems.push(`${request.endpoint} (${request.url}): an unknown credential in ${header}`);
          continue;
        }
        const expected = EXPECTED[who];
        if (!expected.endpoints.includes(request.endpoint))
          problems.push(`${request.endpoint} (${request.url}): the ${who} token, unexpected here`);
        if (!expected.headers.includes(header))
          problems.push(`${request.endpoint} (${request.url}): the ${who} token in ${header}`);
      }
    }
    assert.deepEqual(problems, [], [...new Set(problems)].join('\n'));
    // Every scenario reached GitLab the way docs/forges.md describes.
    const used = new Set(
      requests.flatMap((r) => presented(r.headers).map((s) => `${owner.get(s.value)} ${r.endpoint}`)),
    );
    const scenarios = [
      'job GET /job',
      'service GET /projects/:id/job_token_scope/allowlist',
      'service GET /projects/:id/members/all/:user_id',
      'revoked GET /personal_access_tokens/self',
      `maint ${RULES}`,
      `service ${RULES}`,
    ];
    for (const expected of scenarios) {
      assert.ok(used.has(expected), `expected ${expected}; saw ${[...used].join(', ')}`);
    }
  });

  test('a token with only read_registry and write_registry pushes and pulls as its Developer, and cannot delete', async () => {
    const seen = gitlab.requests().length;
    const registryOnly = creds(TOKENS.registryOnly);
    const push = await copy(images.v2.ref, ref('group/proj/registry-only:v1'), { creds: registryOnly });
    assert.equal(push.code, 0, explain(push));
    // The subject may be unknown without read_user: match the line by its image alone.
    const line = await fg.waitForAudit((l) =>
      (l.requested as string[]).includes('repository:group/proj/registry-only:pull,push'),
    );
    assert.deepEqual(line.granted, ['repository:group/proj/registry-only:pull,push']);
    assert.equal(await digestOf('group/proj/registry-only:v1', TOKENS.rep), images.v2.manifestDigest);
    const removed = await deleteImage(ref('group/proj/registry-only:v1'), { creds: registryOnly });
    assert.notEqual(removed.code, 0, 'GitLab never lets a write_registry token delete');
    const expected = [...USER_TOKEN_ENDPOINTS, 'GET /users/:id', 'GET /projects/:id/members/all/:user_id', RULES];
    const unexpected = gitlab
      .requests()
      .slice(seen)
      .filter((r) => !expected.includes(r.endpoint))
      .map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(unexpected, [], 'only the endpoints of docs/forges.md (GitLab), GET /users/:id and the rules');
  });

  test('a project moved away leaves its old path to nobody: the registry refuses a push there', async () => {
    const mallory = creds(TOKENS.mallory);
    const own = await copy(images.tool.ref, ref('acme/tool/app:v1'), { creds: mallory });
    assert.equal(own.code, 0, explain(own));

    // GitLab now answers GET /projects/acme%2Ftool with mallory/tool (a redirect route).
    gitlab.moveProject('acme/tool', 'mallory/tool');
    const stolen = await copy(images.stolen.ref, ref('acme/tool/cli:v1'), { creds: mallory });
    assert.notEqual(stolen.code, 0, 'a push under the old path of a moved project must be refused');
    assert.match(stolen.stderr, /denied|unauthorized/i);
    const line = await auditFor('mallory', 'repository:acme/tool/cli:pull,push');
    assert.deepEqual(line.granted, []);
    const denied = line.denied as string[];
    assert.ok(
      denied.some((d) => d.includes('no GitLab project for image acme/tool/cli')),
      JSON.stringify(denied),
    );
    // Her project at its new path is hers.
    const moved = await copy(images.stolen.ref, ref('mallory/tool/cli:v1'), { creds: mallory });
    assert.equal(moved.code, 0, explain(moved));

    // Acme re-creates acme/tool: the path is Acme's, and Mallory reaches nothing there.
    gitlab.addProject({ path_with_namespace: 'acme/tool', visibility: 'private' });
    gitlab.addMember('acme/tool', acmeDevId, ACCESS.developer);
    const acme = await copy(images.acme.ref, ref('acme/tool/site:v1'), { creds: creds(TOKENS.acme) });
    assert.equal(acme.code, 0, explain(acme));
    const refused = await copy(images.stolen.ref, ref('acme/tool/site:v2'), { creds: mallory });
    assert.notEqual(refused.code, 0, 'Mallory must not push into the new acme/tool');
    const site = await inspect(ref('acme/tool/site:v2'), { creds: creds(TOKENS.acme) });
    assert.notEqual(site.code, 0, "nothing of Mallory's arrived there");
  });

  test('/metrics counts GitLab calls by endpoint and status, and verdicts by rule', async () => {
    const text = await (await fetch(`${fg.url}/metrics`)).text();
    assert.match(
      text,
      /forgegate_forge_calls_total\{forge="gitlab",endpoint="GET \/projects\/:id",status="200"\} [1-9]/,
    );
    assert.match(text, /forgegate_forge_calls_total\{forge="gitlab",endpoint="GET \/job",status="200"\} [1-9]/);
    assert.match(
      text,
      /forgegate_forge_call_duration_seconds_bucket\{le="0.01",forge="gitlab",endpoint="GET \/user"\}/,
    );
    assert.match(text, /forgegate_verdicts_total\{action="push",verdict="denied",rule="role",source="gitlab"\} [1-9]/);
    assert.match(text, /forgegate_cache_total\{kind="[a-z]+",outcome="(hit|miss)"\}/);
    for (const secret of Object.values(TOKENS)) assert.ok(!text.includes(secret));
  });
});
