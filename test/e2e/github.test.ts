import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeGitHub } from '../fakes/github.js';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import type { RecordedRequest } from '../fakes/server.js';
import { forgegateCli as runCli } from '../support/cli.js';
import { startForgegateProcess, type ForgegateProcess } from '../support/forgegate-process.js';
import { buildOciImage, buildOciImages, type OciImage } from '../support/oci-image.js';
import { makeTempDir } from '../support/processes.js';
import { startRegistryFor, type RunningRegistry } from '../support/registry.js';
import { copy, deleteImage, inspect, type SkopeoAuth, type SkopeoResult } from '../support/skopeo.js';

// forgegate in front of the real docker-registry 2.8.2, mirroring the permissions of a fake
// GitHub: skopeo pushes, pulls and deletes with classic PATs, installation tokens and no
// credentials at all; a read-only installation token and the former admin of a transferred
// repository are refused by the registry itself; then GitHub under "gh/" next to GitLab under
// "" in one forgegate, where each forge's tokens must stay with that forge.
// The tests of a suite build on each other's pushes and run in order.

const ISSUER = 'forgegate-github-e2e';
const SERVICE = 'registry-github-e2e';

// GitHub-shaped secrets: forgegate recognises GitHub tokens by their prefixes.
const GH = {
  service: 'ghp_servicebot000000000000000000000000',
  writer: 'ghp_writer00000000000000000000000000000',
  writerDelete: 'ghp_writerdeletepackages00000000000000',
  reader: 'ghp_reader00000000000000000000000000000',
  admin: 'ghp_admin000000000000000000000000000000',
  installation: 'ghs_installationacmeapp0000000000000000',
  // A read-only GITHUB_TOKEN (a fork's pull request) of acme/site, which installationTokenPush does not name.
  installationReadOnly: 'ghs_installationreadonlysite00000000000',
  mallory: 'ghp_mallory0000000000000000000000000000',
} as const;

const GL = {
  service: 'glpat-servicebot0000000000',
  dev: 'glpat-developer000000000000',
} as const;

/** Where each GitHub secret may legitimately travel (docs/forges.md, GitHub). */
const GH_ENDPOINTS: Record<keyof typeof GH, string[]> = {
  service: ['GET /repos/:owner/:repo'],
  writer: ['GET /user', 'GET /repos/:owner/:repo'],
  writerDelete: ['GET /user', 'GET /repos/:owner/:repo'],
  reader: ['GET /user', 'GET /repos/:owner/:repo'],
  admin: ['GET /user', 'GET /repos/:owner/:repo'],
  // GET /user is allowed: it is how a ghs_-less installation token is told apart.
  installation: ['GET /installation/repositories', 'GET /repos/:owner/:repo', 'GET /user'],
  installationReadOnly: ['GET /installation/repositories', 'GET /repos/:owner/:repo', 'GET /user'],
  // The 301 a transferred repository's old name answers leads to /repositories/:id.
  mallory: ['GET /user', 'GET /repos/:owner/:repo', 'GET /repositories/:id'],
};

const creds = (token: string, user = 'anything') => `${user}:${token}`;

/** The built CLI as a user types it, with `stdin` piped in as `echo "$TOKEN" |` would. */
const forgegateCli = (args: string[], stdin: string) => runCli(args, { stdin, timeoutMs: 30_000 });

/** Every secret-looking value a request carried, in any header or in its URL. */
function carried(request: RecordedRequest): string {
  return `${request.url}\n${JSON.stringify(request.headers)}`;
}

/** The manifest digest of the one image in a pulled OCI layout. */
async function layoutDigest(dir: string): Promise<string> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  assert.equal(index.manifests.length, 1, JSON.stringify(index));
  return index.manifests[0]!.digest;
}

/** Shared helpers for a forgegate + registry pair. */
function harness(get: () => { fg: ForgegateProcess; registry: RunningRegistry }) {
  const ref = (name: string) => `docker://${get().registry.host}/${name}`;
  const explain = (result: SkopeoResult) => {
    const { fg, registry } = get();
    return `skopeo (${result.code}): ${result.stderr}\nregistry:\n${registry.logs().slice(-3000)}\nforgegate:\n${fg.logs().slice(-3000)}`;
  };
  /** Pulls into a fresh oci: layout and returns the pulled manifest digest. */
  const pull = async (name: string, auth: SkopeoAuth): Promise<string> => {
    const dir = join(await makeTempDir('pull'), 'layout');
    const result = await copy(ref(name), `oci:${dir}:pulled`, auth);
    assert.equal(result.code, 0, explain(result));
    return layoutDigest(dir);
  };
  const digestOf = async (name: string, auth: SkopeoAuth): Promise<string> => {
    const info = await inspect(ref(name), auth);
    assert.equal(info.code, 0, explain(info));
    return (JSON.parse(info.stdout) as { Digest: string }).Digest;
  };
  /** A skopeo token request logged after `mark` (a count of audit lines taken before the call). */
  const auditSince = async (mark: number, predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 3000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = get()
        .fg.auditLines()
        .slice(mark)
        .findLast((l) => l.msg === 'token request' && String(l.userAgent).startsWith('skopeo') && predicate(l));
      if (line) return line;
      if (Date.now() > deadline)
        throw new Error(`no matching audit line after ${mark}; log:\n${get().fg.logs().slice(-3000)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  /** Taken once forgegate's earlier log lines are written: later lines belong to later requests. */
  const mark = () => get().fg.settledLineCount();
  const requesting = (scope: string) => (l: Record<string, unknown>) => (l.requested as string[]).includes(scope);
  /** The push scope skopeo asks for when it copies to `name` (repository:<name without tag>:pull,push). */
  const pushScope = (name: string) => `repository:${name.replace(/:[^:/]*$/, '')}:pull,push`;
  /** Pushes `image` to `name`, which must succeed, and returns forgegate's audit line of it. */
  const pushAudited = async (image: OciImage, name: string, auth: SkopeoAuth) => {
    const m = await mark();
    const push = await copy(image.ref, ref(name), auth);
    assert.equal(push.code, 0, explain(push));
    return auditSince(m, requesting(pushScope(name)));
  };
  /** Pushes `image` to `name`, which the registry must refuse (`why`), and returns forgegate's audit line of it. */
  const pushRefused = async (image: OciImage, name: string, auth: SkopeoAuth, why: string) => {
    const m = await mark();
    const refused = await copy(image.ref, ref(name), auth);
    assert.notEqual(refused.code, 0, why);
    assert.match(refused.stderr, /denied|unauthorized/i);
    return auditSince(m, requesting(pushScope(name)));
  };
  return { ref, explain, pull, digestOf, auditSince, mark, requesting, pushAudited, pushRefused };
}

describe('GitHub forge with registry 2.8, skopeo and a fake GitHub', () => {
  let github: FakeGitHub;
  let fg: ForgegateProcess;
  let registry: RunningRegistry;
  const { ref, explain, pull, digestOf, auditSince, mark, requesting, pushAudited, pushRefused } = harness(() => ({
    fg,
    registry,
  }));
  // One image per use, by marker: deleting a manifest removes every tag that points at it.
  const IMAGE_NAMES = ['v1', 'v2', 'throwaway', 'ci', 'site', 'fork', 'tool', 'evil', 'tool2'] as const;
  let images: Record<(typeof IMAGE_NAMES)[number], OciImage>;

  before(async () => {
    github = new FakeGitHub();
    await github.start();

    github.addUser({ login: 'registry-bot', type: 'Bot' });
    github.addUser({ login: 'writer' });
    github.addUser({ login: 'reader' });
    github.addUser({ login: 'boss' });
    github.addUser({ login: 'mallory' });
    // No base permission: only the collaborators below hold a role.
    github.addOrg({ login: 'acme', base_permission: 'none' });
    github.addRepo({
      full_name: 'acme/app',
      visibility: 'private',
      collaborators: { writer: 'write', reader: 'read', boss: 'admin' },
    });
    github.addRepo({ full_name: 'acme/other', visibility: 'private', collaborators: { boss: 'admin' } });
    github.addRepo({ full_name: 'acme/site', visibility: 'public', collaborators: { writer: 'write' } });
    github.addRepo({
      full_name: 'acme/tool',
      visibility: 'private',
      collaborators: { mallory: 'admin', writer: 'write' },
    });

    // The bot is no collaborator anywhere: with repo scope it sees public repositories only.
    github.addToken({ token: GH.service, kind: 'classic', user: 'registry-bot', scopes: ['repo'] });
    github.addToken({ token: GH.writer, kind: 'classic', user: 'writer', scopes: ['repo'] });
    github.addToken({ token: GH.writerDelete, kind: 'classic', user: 'writer', scopes: ['repo', 'delete:packages'] });
    github.addToken({ token: GH.reader, kind: 'classic', user: 'reader', scopes: ['read:packages', 'repo'] });
    github.addToken({ token: GH.admin, kind: 'classic', user: 'boss', scopes: ['repo', 'delete:packages'] });
    github.addToken({ token: GH.installation, kind: 'installation', repositories: ['acme/app'] });
    github.addToken({
      token: GH.installationReadOnly,
      kind: 'installation',
      repositories: ['acme/site'],
      permission: 'read',
    });
    github.addToken({ token: GH.mallory, kind: 'classic', user: 'mallory', scopes: ['repo', 'delete:packages'] });

    fg = await startForgegateProcess(`
server: { listen: "127.0.0.1:{{PORT}}" }
token: { issuer: ${ISSUER}, service: ${SERVICE}, keyDir: "{{DIR}}/keys" }
forges:
  - { type: github, url: ${JSON.stringify(github.url)}, serviceToken: ${JSON.stringify(GH.service)}, installationTokenPush: ["acme/app"] }
`);
    registry = await startRegistryFor(fg, { service: SERVICE, issuer: ISSUER });
    images = await buildOciImages(IMAGE_NAMES, 'github');
  });

  after(async () => {
    await registry?.stop();
    await fg?.stop();
    await github?.stop();
  });

  test('a write collaborator pushes; a read collaborator pulls it back but cannot push', async () => {
    const pushed = await pushAudited(images.v1, 'acme/app/web:v1', { creds: creds(GH.writer) });
    assert.equal(pushed.subject, 'writer');
    assert.equal(pushed.identityKind, 'github-token');
    assert.equal(pushed.source, 'github');
    assert.deepEqual(pushed.granted, ['repository:acme/app/web:pull,push']);

    assert.equal(await pull('acme/app/web:v1', { creds: creds(GH.reader) }), images.v1.manifestDigest);
    assert.equal(await digestOf('acme/app/web:v1', { creds: creds(GH.reader) }), images.v1.manifestDigest);

    const line = await pushRefused(
      images.v2,
      'acme/app/web:v2',
      { creds: creds(GH.reader) },
      'a read collaborator must not push',
    );
    assert.equal(line.subject, 'reader');
    assert.equal(line.outcome, 'partial', 'missing permissions are a 200 with less access, never an error');
    assert.deepEqual(line.granted, ['repository:acme/app/web:pull']);
    const denied = line.denied as string[];
    assert.ok(
      denied.some((d) => /^acme\/app\/web: push denied: .*reader.*\bpush\b.*acme\/app/.test(d)),
      JSON.stringify(denied),
    );
    const v2 = await inspect(ref('acme/app/web:v2'), { creds: creds(GH.writer) });
    assert.notEqual(v2.code, 0, 'v2 must not exist');
  });

  test('an admin collaborator deletes a tag (skopeo asks for *); a writer cannot', async () => {
    const push = await copy(images.throwaway.ref, ref('acme/app/web:throwaway'), { creds: creds(GH.admin) });
    assert.equal(push.code, 0, explain(push));
    assert.equal(
      await digestOf('acme/app/web:throwaway', { creds: creds(GH.writer) }),
      images.throwaway.manifestDigest,
    );

    // The writer's repo-scoped token: no delete:packages, and no admin either.
    let m = await mark();
    const writerDelete = await deleteImage(ref('acme/app/web:throwaway'), { creds: creds(GH.writer) });
    assert.notEqual(writerDelete.code, 0, 'a write collaborator must not delete');
    let line = await auditSince(m, requesting('repository:acme/app/web:*'));
    assert.equal(line.subject, 'writer');
    assert.deepEqual(line.granted, ['repository:acme/app/web:pull,push'], '* narrowed to what a writer holds');

    // Even with delete:packages, write is not admin: the repository permission refuses.
    m = await mark();
    const scoped = await deleteImage(ref('acme/app/web:throwaway'), { creds: creds(GH.writerDelete) });
    assert.notEqual(scoped.code, 0, 'delete:packages does not make a write collaborator an admin');
    line = await auditSince(m, requesting('repository:acme/app/web:*'));
    assert.deepEqual(line.granted, ['repository:acme/app/web:pull,push']);
    // A * that is not held is narrowed silently: `forgegate explain` gives the delete verdicts.
    const config = join(fg.dir, 'forgegate.yaml');
    const scopeOnly = await forgegateCli(
      ['explain', '--config', config, '--user', 'anything', '--scope', 'repository:acme/app/web:delete'],
      `${GH.writer}\n`,
    );
    assert.equal(scopeOnly.code, 0, `stdout:\n${scopeOnly.stdout}\nstderr:\n${scopeOnly.stderr}`);
    assert.match(scopeOnly.stdout, /^caller: writer\b/m);
    assert.match(scopeOnly.stdout, /delete denied: .*delete:packages/, scopeOnly.stdout);
    const roleOnly = await forgegateCli(
      ['explain', '--config', config, '--user', 'anything', '--scope', 'repository:acme/app/web:delete'],
      `${GH.writerDelete}\n`,
    );
    assert.equal(roleOnly.code, 0, `stdout:\n${roleOnly.stdout}\nstderr:\n${roleOnly.stderr}`);
    assert.match(roleOnly.stdout, /delete denied: writer lacks admin on acme\/app\b/, roleOnly.stdout);
    for (const run of [scopeOnly, roleOnly]) {
      assert.ok(!run.stdout.includes('ghp_') && !run.stderr.includes('ghp_'), 'the token is never echoed');
    }
    assert.equal(
      await digestOf('acme/app/web:throwaway', { creds: creds(GH.admin) }),
      images.throwaway.manifestDigest,
      'still there',
    );

    m = await mark();
    const removed = await deleteImage(ref('acme/app/web:throwaway'), { creds: creds(GH.admin) });
    assert.equal(removed.code, 0, explain(removed));
    line = await auditSince(m, requesting('repository:acme/app/web:*'));
    assert.equal(line.subject, 'boss');
    assert.deepEqual(
      line.granted,
      ['repository:acme/app/web:pull,push,delete'],
      'skopeo asks for *, narrowed to pull,push,delete',
    );
    const gone = await inspect(ref('acme/app/web:throwaway'), { creds: creds(GH.admin) });
    assert.notEqual(gone.code, 0, 'the deleted tag is gone');
    assert.match(gone.stderr, /manifest unknown|not found/i);
    assert.equal(
      await digestOf('acme/app/web:v1', { creds: creds(GH.reader) }),
      images.v1.manifestDigest,
      'v1 is untouched',
    );
  });

  test('an installation token pushes to its repository named in installationTokenPush, and nowhere else', async () => {
    const pushed = await pushAudited(images.ci, 'acme/app/ci:1', { creds: creds(GH.installation, 'x-access-token') });
    assert.equal(pushed.identityKind, 'github-installation');
    assert.equal(pushed.subject, 'installation:acme/app');
    assert.deepEqual(pushed.granted, ['repository:acme/app/ci:pull,push']);
    assert.equal(await digestOf('acme/app/ci:1', { creds: creds(GH.reader) }), images.ci.manifestDigest);
    assert.equal(
      await digestOf('acme/app/ci:1', { creds: creds(GH.installation, 'x-access-token') }),
      images.ci.manifestDigest,
    );

    const line = await pushRefused(
      images.ci,
      'acme/other/x:1',
      { creds: creds(GH.installation, 'x-access-token') },
      'the installation does not reach acme/other',
    );
    assert.equal(line.identityKind, 'github-installation');
    assert.deepEqual(line.granted, [], "acme/other is private and not the installation's: not even pull");
    const other = await inspect(ref('acme/other/x:1'), { creds: creds(GH.admin) });
    assert.notEqual(other.code, 0, 'nothing was pushed to acme/other');
    assert.match(other.stderr, /manifest unknown|not found/i, 'the admin may look, and finds nothing');

    // "pull + push on that repo only": an installation token never deletes.
    const m = await mark();
    const removed = await deleteImage(ref('acme/app/ci:1'), { creds: creds(GH.installation, 'x-access-token') });
    assert.notEqual(removed.code, 0, 'an installation token must not delete');
    const star = await auditSince(m, requesting('repository:acme/app/ci:*'));
    assert.deepEqual(star.granted, ['repository:acme/app/ci:pull,push']);
    assert.equal(await digestOf('acme/app/ci:1', { creds: creds(GH.reader) }), images.ci.manifestDigest, 'still there');
  });

  test('a read-only GITHUB_TOKEN of a repository installationTokenPush does not name: the registry refuses its push', async () => {
    const line = await pushRefused(
      images.fork,
      'acme/site/ci:pr-1',
      { creds: creds(GH.installationReadOnly, 'x-access-token') },
      'a read-only installation token must not push',
    );
    assert.equal(line.identityKind, 'github-installation');
    assert.deepEqual(line.granted, ['repository:acme/site/ci:pull']);
    assert.ok(
      (line.denied as string[]).some((d) => /push denied: installation tokens only pull/.test(d)),
      JSON.stringify(line.denied),
    );
    const info = await inspect(ref('acme/site/ci:pr-1'), { creds: creds(GH.writer) });
    assert.notEqual(info.code, 0, 'nothing was pushed');
    assert.match(info.stderr, /manifest unknown|not found/i, explain(info));
  });

  test('a transferred repository: its former admin is refused on the old path, which the re-created repository owns', async () => {
    const seed = await copy(images.tool.ref, ref('acme/tool/web:v1'), { creds: creds(GH.writer) });
    assert.equal(seed.code, 0, explain(seed));

    // Mallory moves acme/tool to her account; GitHub now answers 301 for acme/tool.
    github.moveRepo('acme/tool', 'mallory/tool');
    let line = await pushRefused(
      images.evil,
      'acme/tool/web:v1',
      { creds: creds(GH.mallory) },
      "the old path is no longer hers, nor anybody's",
    );
    assert.equal(line.subject, 'mallory');
    assert.deepEqual(line.granted, []);
    assert.ok(
      (line.denied as string[]).some((d) => d.includes('no GitHub repository acme/tool visible to mallory')),
      JSON.stringify(line.denied),
    );

    // Acme re-creates acme/tool: the writer's again, still not Mallory's.
    github.addRepo({ full_name: 'acme/tool', visibility: 'private', collaborators: { writer: 'write' } });
    assert.equal(
      await digestOf('acme/tool/web:v1', { creds: creds(GH.writer) }),
      images.tool.manifestDigest,
      'Mallory overwrote nothing',
    );
    const m = await mark();
    const again = await copy(images.evil.ref, ref('acme/tool/web:v2'), { creds: creds(GH.mallory) });
    assert.notEqual(again.code, 0, 'not after the re-creation either');
    line = await auditSince(m, requesting('repository:acme/tool/web:pull,push'));
    assert.deepEqual(line.granted, []);
    const push = await copy(images.tool2.ref, ref('acme/tool/web:v2'), { creds: creds(GH.writer) });
    assert.equal(push.code, 0, explain(push));
    assert.equal(await digestOf('acme/tool/web:v2', { creds: creds(GH.writer) }), images.tool2.manifestDigest);
  });

  test('anonymous pulls a public repository but not a private one', async () => {
    const seed = await copy(images.site.ref, ref('acme/site/web:v1'), { creds: creds(GH.writer) });
    assert.equal(seed.code, 0, explain(seed));

    assert.equal(await pull('acme/site/web:v1', { noCreds: true }), images.site.manifestDigest);
    assert.equal(await digestOf('acme/site/web:v1', { noCreds: true }), images.site.manifestDigest);

    let m = await mark();
    const refused = await inspect(ref('acme/app/web:v1'), { noCreds: true });
    assert.notEqual(refused.code, 0, 'anonymous must not pull a private repository');
    assert.match(refused.stderr, /unauthorized|denied|authentication required/i);
    const line = await auditSince(
      m,
      (l) => l.credential === 'anonymous' && requesting('repository:acme/app/web:pull')(l),
    );
    assert.deepEqual(line.granted, []);

    // GitHub answers 404 to outsiders: a private repository reads exactly like a missing one.
    m = await mark();
    const missing = await inspect(ref('acme/nope/web:v1'), { noCreds: true });
    assert.notEqual(missing.code, 0);
    const missingLine = await auditSince(
      m,
      (l) => l.credential === 'anonymous' && requesting('repository:acme/nope/web:pull')(l),
    );
    assert.deepEqual(missingLine.granted, []);
    const normalise = (denied: unknown) =>
      (denied as string[]).map((d) => d.replaceAll('acme/app', 'acme/X').replaceAll('acme/nope', 'acme/X'));
    assert.deepEqual(
      normalise(line.denied),
      normalise(missingLine.denied),
      'the reasons must not tell a private repository from a missing one',
    );

    // Writes stay closed to anonymous callers even on a public repository.
    const anonPush = await copy(images.v2.ref, ref('acme/site/web:anon'), { noCreds: true });
    assert.notEqual(anonPush.code, 0, 'anonymous must not push');
  });

  test('every GitHub token went only to the endpoints meant for it, in the Authorization header', () => {
    const owner = new Map<string, keyof typeof GH>(Object.entries(GH).map(([k, v]) => [v, k as keyof typeof GH]));
    const requests = github.requests();
    assert.ok(requests.length > 0);
    const problems: string[] = [];
    for (const request of requests) {
      for (const secret of Object.values(GH)) {
        if (request.url.includes(secret)) problems.push(`${request.method} ${request.url}: a token in the URL`);
      }
      const auth = request.headers.authorization;
      if (auth === undefined) {
        problems.push(
          `${request.endpoint} (${request.url}): no token at all (GitHub allows 60 anonymous calls an hour)`,
        );
        continue;
      }
      const value = String(auth).replace(/^(token|bearer)\s+/i, '');
      const who = owner.get(value);
      if (who === undefined) {
        problems.push(`${request.endpoint} (${request.url}): an unknown credential`);
        continue;
      }
      if (!GH_ENDPOINTS[who].includes(request.endpoint))
        problems.push(`${request.endpoint} (${request.url}): the ${who} token, unexpected here`);
    }
    assert.deepEqual(problems, [], [...new Set(problems)].join('\n'));
    const used = new Set(
      requests.map(
        (r) => `${owner.get(String(r.headers.authorization).replace(/^(token|bearer)\s+/i, ''))} ${r.endpoint}`,
      ),
    );
    for (const expected of [
      'writer GET /user',
      'writer GET /repos/:owner/:repo',
      'installation GET /installation/repositories',
      'service GET /repos/:owner/:repo',
    ]) {
      assert.ok(used.has(expected), `expected ${expected}; saw ${[...used].join(', ')}`);
    }
  });
});

describe('GitHub under "gh/" and GitLab under "" in one forgegate', () => {
  let github: FakeGitHub;
  let gitlab: FakeGitLab;
  let fg: ForgegateProcess;
  let registry: RunningRegistry;
  const { ref, explain, digestOf, pull, pushAudited, pushRefused } = harness(() => ({ fg, registry }));
  let glImage: OciImage;
  let ghImage: OciImage;
  let strayImage: OciImage;

  before(async () => {
    gitlab = new FakeGitLab();
    await gitlab.start();
    const bot = gitlab.addUser({ username: 'registry-bot', is_admin: true, bot: true });
    const dev = gitlab.addUser({ username: 'dev' });
    gitlab.addProject({ path_with_namespace: 'group/proj', visibility: 'private' });
    gitlab.addMember('group/proj', dev.id, ACCESS.developer);
    gitlab.addToken({ token: GL.service, user_id: bot.id, scopes: ['read_api'], name: 'forgegate' });
    gitlab.addToken({ token: GL.dev, user_id: dev.id, scopes: ['api'] });

    github = new FakeGitHub();
    await github.start();
    github.addUser({ login: 'registry-bot', type: 'Bot' });
    github.addUser({ login: 'writer' });
    github.addOrg({ login: 'acme', base_permission: 'none' });
    github.addRepo({ full_name: 'acme/app', visibility: 'private', collaborators: { writer: 'write' } });
    github.addToken({ token: GH.service, kind: 'classic', user: 'registry-bot', scopes: ['repo'] });
    github.addToken({ token: GH.writer, kind: 'classic', user: 'writer', scopes: ['repo'] });

    fg = await startForgegateProcess(`
server: { listen: "127.0.0.1:{{PORT}}" }
token: { issuer: ${ISSUER}, service: ${SERVICE}, keyDir: "{{DIR}}/keys" }
forges:
  - { type: gitlab, url: ${JSON.stringify(gitlab.url)}, serviceToken: ${JSON.stringify(GL.service)} }
  - { type: github, prefix: "gh/", url: ${JSON.stringify(github.url)}, serviceToken: ${JSON.stringify(GH.service)} }
`);
    registry = await startRegistryFor(fg, { service: SERVICE, issuer: ISSUER });
    glImage = await buildOciImage(undefined, { marker: 'both-gitlab' });
    ghImage = await buildOciImage(undefined, { marker: 'both-github' });
    strayImage = await buildOciImage(undefined, { marker: 'both-stray' });
  });

  after(async () => {
    await registry?.stop();
    await fg?.stop();
    await github?.stop();
    await gitlab?.stop();
  });

  test("each forge's user pushes and pulls its own image, and is refused a push on the other's", async () => {
    const glLine = await pushAudited(glImage, 'group/proj/app:v1', { creds: creds(GL.dev) });
    assert.equal(glLine.subject, 'dev');
    assert.equal(glLine.source, 'gitlab');
    assert.deepEqual(glLine.granted, ['repository:group/proj/app:pull,push']);

    const ghLine = await pushAudited(ghImage, 'gh/acme/app/web:v1', { creds: creds(GH.writer) });
    assert.equal(ghLine.subject, 'writer');
    assert.equal(ghLine.source, 'github');
    assert.deepEqual(ghLine.granted, ['repository:gh/acme/app/web:pull,push']);

    assert.equal(await pull('group/proj/app:v1', { creds: creds(GL.dev) }), glImage.manifestDigest);
    assert.equal(await digestOf('group/proj/app:v1', { creds: creds(GL.dev) }), glImage.manifestDigest);
    assert.equal(await pull('gh/acme/app/web:v1', { creds: creds(GH.writer) }), ghImage.manifestDigest);
    assert.equal(await digestOf('gh/acme/app/web:v1', { creds: creds(GH.writer) }), ghImage.manifestDigest);

    // A forge's caller is anonymous on the other forge: private images there stay shut.
    for (const [name, token, source, why] of [
      ['gh/acme/app/web:from-gitlab', GL.dev, 'gitlab', 'a GitLab Developer must not push to a GitHub repository'],
      ['group/proj/app:from-github', GH.writer, 'github', 'a GitHub writer must not push to a GitLab project'],
    ] as const) {
      const line = await pushRefused(strayImage, name, { creds: creds(token) }, why);
      assert.equal(line.source, source);
      assert.deepEqual(line.granted, []);
    }

    for (const [name, token] of [
      ['gh/acme/app/web:from-gitlab', GH.writer],
      ['group/proj/app:from-github', GL.dev],
    ] as const) {
      const info = await inspect(ref(name), { creds: creds(token) });
      assert.notEqual(info.code, 0, `${name} must not exist`);
      assert.match(info.stderr, /manifest unknown|not found/i, explain(info));
    }
  });

  test('no GitHub token reached the fake GitLab, and no GitLab token reached the fake GitHub', () => {
    const problems: string[] = [];
    const check = (
      requests: RecordedRequest[],
      forge: string,
      foreign: Record<string, string>,
      foreignShape: RegExp,
    ) => {
      assert.ok(requests.length > 0, `${forge} was asked nothing at all`);
      for (const request of requests) {
        const text = carried(request);
        for (const [who, secret] of Object.entries(foreign)) {
          if (text.includes(secret)) problems.push(`${forge} ${request.endpoint} (${request.url}): the ${who} token`);
        }
        if (foreignShape.test(text))
          problems.push(`${forge} ${request.endpoint} (${request.url}): a credential of the other forge's shape`);
      }
    };
    check(gitlab.requests(), 'GitLab', GH, /\b(ghp|gho|ghu|ghs|ghr)_|github_pat_/);
    check(github.requests(), 'GitHub', GL, /\bgl(pat|oas|cbt|ptt|dt|ft|soat|rt|imt|agent|wt)-/);
    assert.deepEqual(problems, [], [...new Set(problems)].join('\n'));
  });
});
