import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fromClient, granted, requested } from '../support/audit.js';
import { basic } from '../support/forgegate.js';
import { describeRun, type CommandResult } from '../support/command.js';
import { startContainerd, type RunningContainerd } from '../support/containerd.js';
import { startForgegateProcess, type ForgegateProcess } from '../support/forgegate-process.js';
import { buildOciImage, type OciImage } from '../support/oci-image.js';
import { startRegistryFor, type RunningRegistry } from '../support/registry.js';
import { copy, inspect } from '../support/skopeo.js';

// containerd's own client, `ctr` (containerd 1.6), against docker-registry 2.8 and the built
// forgegate. ctr talks to the registry itself (containerd only stores), and with credentials
// it asks for a token by POST first (grant_type=password, or refresh_token with --refresh),
// and again by GET with Basic auth when the POST is answered 400, 401 or 404.

const HTPASSWD = new URL('../fixtures/htpasswd', import.meta.url).pathname;
const PASSWORD = { alice: 'alice-pass', ci: 'ci:pass:with:colons' };

const CONFIG = `
server: { listen: "127.0.0.1:{{PORT}}" }
token: { issuer: forgegate-e2e, service: registry-e2e, keyDir: "{{DIR}}/keys" }
users: { htpasswd: ${JSON.stringify(HTPASSWD)} }
acl:
  - { account: "*", name: "\${account}/**", actions: [pull, push, delete] }
forges: []
`;

describe('ctr (containerd 1.6)', () => {
  let fg: ForgegateProcess;
  let registry: RunningRegistry;
  let containerd: RunningContainerd;
  let image: OciImage;
  const ref = (name: string) => `${registry.host}/${name}`;
  const ctr = (args: string[]) => containerd.ctr(args);
  /** `ctr images <verb> --plain-http <auth...> <ref>`: the test registry speaks plain HTTP. */
  const remote = (verb: 'pull' | 'push', name: string, auth: string[]) =>
    ctr(['images', verb, '--plain-http', ...auth, ref(name)]);
  const explain = (result: CommandResult) =>
    `${describeRun(result)}\nregistry:\n${registry.logs().slice(-2000)}\nforgegate:\n${fg.logs().slice(-3000)}`;
  const fromCtr = fromClient('containerd/');
  // The audit log is written in blocks: wait until what was buffered is out.
  const ctrRequestsSince = async (mark: number) => {
    await fg.settledLineCount();
    return fg.auditLines().slice(mark).filter(fromCtr);
  };

  before(async () => {
    fg = await startForgegateProcess(CONFIG);
    registry = await startRegistryFor(fg, { service: 'registry-e2e', issuer: 'forgegate-e2e' });
    containerd = await startContainerd();
    image = await buildOciImage(undefined, { marker: 'ctr' });
    const seeded = await copy(image.ref, `docker://${ref('alice/base:v1')}`, { creds: `alice:${PASSWORD.alice}` });
    assert.equal(seeded.code, 0, seeded.stderr);
  });
  after(async () => {
    await containerd?.stop();
    await registry?.stop();
    await fg?.stop();
  });

  test('ctr pull --user asks for its token by POST with grant_type=password', async () => {
    const mark = await fg.settledLineCount();
    const pull = await remote('pull', 'alice/base:v1', ['--user', `alice:${PASSWORD.alice}`]);
    assert.equal(pull.code, 0, explain(pull));
    await fg.waitForAudit(fromCtr);
    const lines = await ctrRequestsSince(mark);
    assert.ok(lines.length > 0);
    for (const line of lines) {
      assert.equal(line.method, 'POST', JSON.stringify(line));
      assert.equal(line.credential, 'password', JSON.stringify(line));
      assert.equal(line.subject, 'alice', JSON.stringify(line));
      assert.deepEqual(line.granted, ['repository:alice/base:pull'], JSON.stringify(line));
    }
    const listed = await ctr(['images', 'ls', '--quiet']);
    assert.match(listed.stdout, new RegExp(`${ref('alice/base:v1')}`));
  });

  test("ctr push --user to the account's own repository, read back by skopeo", async () => {
    assert.equal((await ctr(['images', 'tag', ref('alice/base:v1'), ref('alice/copy:v1')])).code, 0);
    const mark = await fg.settledLineCount();
    const push = await remote('push', 'alice/copy:v1', ['--user', `alice:${PASSWORD.alice}`]);
    assert.equal(push.code, 0, explain(push));
    await fg.waitForAudit((l) => fromCtr(l) && granted(l).includes('repository:alice/copy:pull,push'));
    assert.ok((await ctrRequestsSince(mark)).every((l) => l.method === 'POST' && l.credential === 'password'));

    const info = await inspect(`docker://${ref('alice/copy:v1')}`, { creds: `alice:${PASSWORD.alice}` });
    assert.equal(info.code, 0, info.stderr);
    assert.equal(JSON.parse(info.stdout).Digest, image.manifestDigest);
  });

  test('ctr pull --refresh sends a forgegate refresh token by POST with grant_type=refresh_token', async () => {
    const login = await fetch(`${fg.realm}?service=registry-e2e&offline_token=true&client_id=e2e`, {
      headers: { Authorization: basic('alice', PASSWORD.alice) },
    });
    const { refresh_token: refreshToken } = (await login.json()) as { refresh_token?: string };
    assert.ok(refreshToken);
    assert.equal((await ctr(['images', 'rm', ref('alice/copy:v1')])).code, 0);
    const mark = await fg.settledLineCount();
    const pull = await remote('pull', 'alice/copy:v1', ['--refresh', refreshToken]);
    assert.equal(pull.code, 0, explain(pull));
    await fg.waitForAudit((l) => fromCtr(l) && l.credential === 'refresh');
    for (const line of await ctrRequestsSince(mark)) {
      assert.equal(line.method, 'POST', JSON.stringify(line));
      assert.equal(line.credential, 'refresh', JSON.stringify(line));
      assert.equal(line.subject, 'alice', JSON.stringify(line));
    }
  });

  test('a wrong password fails the pull, and ctr says why', async () => {
    const mark = await fg.settledLineCount();
    const pull = await remote('pull', 'alice/base:v1', ['--user', 'alice:wrong']);
    assert.notEqual(pull.code, 0, explain(pull));
    assert.match(pull.stderr, /failed to fetch oauth token: unexpected status: 401 Unauthorized/, explain(pull));
    // A 401 to the POST makes containerd try GET with Basic auth: one wrong password, two
    // refused token requests (and two failures for the brute-force guard).
    await fg.waitForAudit((l) => fromCtr(l) && l.method === 'GET');
    const refused = await ctrRequestsSince(mark);
    assert.deepEqual(
      refused.map((l) => `${l.method} ${l.outcome}`),
      ['POST unauthorized', 'GET unauthorized'],
    );
  });

  test("a push to another account's repository is refused, and ctr says so", async () => {
    assert.equal((await ctr(['images', 'tag', ref('alice/base:v1'), ref('ci/stolen:v1')])).code, 0);
    const push = await remote('push', 'ci/stolen:v1', ['--user', `alice:${PASSWORD.alice}`]);
    assert.notEqual(push.code, 0, explain(push));
    assert.match(push.stderr, /server message: insufficient_scope: authorization failed/, explain(push));
  });

  // containerd before 2.1 (containerd#12163): a layer remembers the repositories it came from,
  // and the push tries a cross-repository mount from one of them. When the pusher may not read
  // that repository, forgegate leaves its pull out of the token, the registry answers the mount
  // with 401 insufficient_scope, and containerd gives up instead of uploading (docker uploads).
  test('containerd 1.6 fails a push whose layers came from a repository the pusher cannot read', async () => {
    assert.equal((await ctr(['images', 'tag', ref('alice/base:v1'), ref('ci/app:v1')])).code, 0);
    const mark = await fg.settledLineCount();
    const push = await remote('push', 'ci/app:v1', ['--user', `ci:${PASSWORD.ci}`]);
    assert.notEqual(push.code, 0, explain(push));
    assert.match(push.stderr, /server message: insufficient_scope: authorization failed/, explain(push));
    const mountSource = /^repository:alice\/(base|copy):pull$/;
    const asked = (await ctrRequestsSince(mark)).find((l) => requested(l).some((scope) => mountSource.test(scope)));
    assert.ok(asked, JSON.stringify(await ctrRequestsSince(mark)));
    assert.deepEqual(asked.granted, ['repository:ci/app:pull,push'], 'ci is granted nothing in alice/');
    assert.match(registry.logs(), /blobs\/uploads\/\?mount=sha256:[0-9a-f]{64}&from=alice\//);
  });

  test('... and pushes once the layers forget where they came from (the workaround)', async () => {
    // The label is keyed by host name alone: containerd.io/distribution.source.127.0.0.1.
    const label = `containerd.io/distribution.source.${registry.host.split(':')[0]}`;
    const content = await ctr(['content', 'ls', '--quiet']);
    assert.equal(content.code, 0, explain(content));
    for (const digest of content.stdout.split('\n').filter(Boolean)) {
      // An empty value removes the label.
      const cleared = await ctr(['content', 'label', digest, `${label}=`]);
      assert.equal(cleared.code, 0, explain(cleared));
    }
    const push = await remote('push', 'ci/app:v1', ['--user', `ci:${PASSWORD.ci}`]);
    assert.equal(push.code, 0, explain(push));
    const info = await inspect(`docker://${ref('ci/app:v1')}`, { creds: `ci:${PASSWORD.ci}` });
    assert.equal(info.code, 0, info.stderr);
    assert.equal(JSON.parse(info.stdout).Digest, image.manifestDigest);
  });
});
