import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { denied, fromClient, granted, requested } from '../support/audit.js';
import { describeRun, type CommandResult } from '../support/command.js';
import { dockerClis, startDockerEngine, type DockerEngine } from '../support/docker-engine.js';
import { startForgegateProcess, type ForgegateProcess } from '../support/forgegate-process.js';
import { tarWithOneFile } from '../support/oci-image.js';
import { startRegistryFor, type RunningRegistry } from '../support/registry.js';

// The docker CLI and a real Docker Engine (dockerd 20.10 beside its own containerd) against
// docker-registry 2.8 and the built forgegate, with static accounts: what a user's
// `docker login` stores, and what push, pull, a refusal, a cross-repository mount and logout
// ask of the token endpoint. Every docker CLI on PATH is driven (a machine may have two).

const HTPASSWD = new URL('../fixtures/htpasswd', import.meta.url).pathname;
const PASSWORD = { alice: 'alice-pass', bob: 'bob-pass', ci: 'ci:pass:with:colons' };

const CONFIG = `
server: { listen: "127.0.0.1:{{PORT}}" }
token: { issuer: forgegate-e2e, service: registry-e2e, keyDir: "{{DIR}}/keys" }
users: { htpasswd: ${JSON.stringify(HTPASSWD)} }
acl:
  - { account: bob, name: "**", actions: [pull] }
  - { account: "*", name: "\${account}/**", actions: [pull, push, delete] }
forges: []
`;

const clis = dockerClis();

test('a docker CLI is on PATH (scripts/system-deps.sh installs docker.io)', () => {
  assert.ok(clis.length > 0);
});

for (const { path: cli, version } of clis) {
  describe(`${version} (${cli}) with Docker Engine`, () => {
    let fg: ForgegateProcess;
    let registry: RunningRegistry;
    let engine: DockerEngine;
    const image = (name: string) => `${registry.host}/${name}`;
    const docker = (args: string[], input?: string) => engine.docker(args, input);
    const login = (user: keyof typeof PASSWORD, password = PASSWORD[user]) =>
      docker(['login', '--username', user, '--password-stdin', registry.host], `${password}\n`);
    /** docker's own words and the servers' recent logs. */
    const explain = (result: CommandResult) =>
      [
        describeRun(result),
        `registry:\n${registry.logs().slice(-2000)}`,
        `forgegate:\n${fg.logs().slice(-3000)}`,
        `dockerd:\n${engine.logs()}`,
      ].join('\n');
    /** The engine's token requests (its User-Agent starts with docker/). */
    const fromDocker = fromClient('docker/');
    // The audit log is written in blocks: wait until what was buffered is out.
    const dockerRequestsSince = async (mark: number) => {
      await fg.settledLineCount();
      return fg.auditLines().slice(mark).filter(fromDocker);
    };
    let pushedDigest: string;

    before(async () => {
      fg = await startForgegateProcess(CONFIG);
      registry = await startRegistryFor(fg, { service: 'registry-e2e', issuer: 'forgegate-e2e' });
      engine = await startDockerEngine(cli);
      // The image is made here: one small file, imported as a one-layer image.
      const tar = tarWithOneFile('hello.txt', Buffer.from(`forgegate docker e2e ${cli}\n`));
      const imported = await engine.docker(['import', '-', image('alice/app:v1')], tar);
      assert.equal(imported.code, 0, explain(imported));
    });
    after(async () => {
      await engine?.stop();
      await registry?.stop();
      await fg?.stop();
    });

    test('docker login stores a refresh token from forgegate as its identity token, not the password', async () => {
      const result = await login('alice');
      assert.equal(result.code, 0, explain(result));
      assert.match(result.stdout, /Login Succeeded/);

      const entry = (await engine.cliConfig()).auths?.[registry.host];
      assert.ok(entry?.identitytoken, JSON.stringify(entry));
      // A forgegate refresh token is a compact JWE (five parts) typed forgegate-refresh.
      const parts = entry.identitytoken.split('.');
      assert.equal(parts.length, 5);
      assert.equal(JSON.parse(Buffer.from(parts[0]!, 'base64url').toString()).typ, 'forgegate-refresh');
      const auth = Buffer.from(entry.auth ?? '', 'base64').toString();
      assert.equal(auth, 'alice:', 'docker keeps the name, drops the password');
      assert.doesNotMatch(JSON.stringify(await engine.cliConfig()), /alice-pass|YWxpY2UtcGFzcw/);

      const line = await fg.waitForAudit((l) => fromDocker(l) && l.offline === true);
      assert.equal(line.subject, 'alice');
      assert.equal(line.refreshIssued, true);
      assert.deepEqual(line.requested, [], 'docker login asks for no scope');
    });

    test('docker push authenticates with the identity token (POST, grant_type=refresh_token)', async () => {
      const mark = await fg.settledLineCount();
      const push = await docker(['push', image('alice/app:v1')]);
      assert.equal(push.code, 0, explain(push));
      pushedDigest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1] ?? '';
      assert.ok(pushedDigest, push.stdout);

      await fg.waitForAudit((l) => fromDocker(l) && granted(l).includes('repository:alice/app:pull,push'));
      const used = await dockerRequestsSince(mark);
      assert.ok(used.length > 0, fg.logs().slice(-3000));
      for (const line of used) {
        assert.equal(line.method, 'POST', JSON.stringify(line));
        assert.equal(line.credential, 'refresh', JSON.stringify(line));
        assert.equal(line.subject, 'alice', JSON.stringify(line));
      }
    });

    test('docker pull brings the same image back', async () => {
      const removed = await docker(['image', 'rm', image('alice/app:v1')]);
      assert.equal(removed.code, 0, explain(removed));
      const pull = await docker(['pull', image('alice/app:v1')]);
      assert.equal(pull.code, 0, explain(pull));
      assert.match(pull.stdout, new RegExp(`Digest: ${pushedDigest}`));
    });

    test('a push outside what the account may push is refused, and docker says so', async () => {
      const mark = await fg.settledLineCount();
      assert.equal((await docker(['tag', image('alice/app:v1'), image('bob/app:v1')])).code, 0);
      const push = await docker(['push', image('bob/app:v1')]);
      assert.notEqual(push.code, 0, explain(push));
      assert.match(push.stderr, /denied: requested access to the resource is denied/, explain(push));

      // docker asks for push,pull (in that order) on the target.
      const asked = (await dockerRequestsSince(mark)).find((l) =>
        requested(l).includes('repository:bob/app:push,pull'),
      );
      assert.ok(asked, fg.logs().slice(-3000));
      assert.deepEqual(asked.granted, [], 'alice may neither pull nor push bob/app');
      assert.ok(
        denied(asked).some((reason) => reason.startsWith('bob/app: ')),
        JSON.stringify(asked.denied),
      );
    });

    test('a push to another repository of the account mounts the layer across repositories', async () => {
      const mark = await fg.settledLineCount();
      assert.equal((await docker(['tag', image('alice/app:v1'), image('alice/other:v1')])).code, 0);
      const push = await docker(['push', image('alice/other:v1')]);
      assert.equal(push.code, 0, explain(push));
      assert.match(push.stdout, /Mounted from alice\/app/, explain(push));
      // The engine asks for the source repository's pull beside the target's push.
      const asked = (await dockerRequestsSince(mark)).find((l) => requested(l).includes('repository:alice/app:pull'));
      assert.ok(asked, JSON.stringify(await dockerRequestsSince(mark)));
      assert.deepEqual(asked.granted, ['repository:alice/other:pull,push', 'repository:alice/app:pull']);
    });

    test('a wrong password is refused at login, and the stored login stays', async () => {
      const result = await login('alice', 'wrong');
      assert.notEqual(result.code, 0, explain(result));
      assert.match(result.stderr, /unauthorized|invalid username or password/i, explain(result));
      assert.ok((await engine.cliConfig()).auths?.[registry.host]?.identitytoken);
    });

    test('another account, unable to read the mount source, gets its push by an upload', async () => {
      const result = await login('ci');
      assert.equal(result.code, 0, explain(result));
      assert.equal((await docker(['tag', image('alice/app:v1'), image('ci/app:v1')])).code, 0);
      const mark = await fg.settledLineCount();
      const push = await docker(['push', image('ci/app:v1')]);
      assert.equal(push.code, 0, explain(push));
      assert.doesNotMatch(push.stdout, /Mounted from/, explain(push));
      assert.match(push.stdout, /Pushed/, explain(push));
      // The engine remembers where the layer came from (alice/app, alice/other) and tries a mount
      // from one of them first: forgegate grants ci nothing there, the registry refuses the mount,
      // and docker uploads the layer instead.
      const lines = await dockerRequestsSince(mark);
      const mountSource = /^repository:alice\/(app|other):pull$/;
      const triedMount = lines.some((l) => requested(l).some((scope) => mountSource.test(scope)));
      assert.ok(triedMount, JSON.stringify(lines));
      for (const line of lines) {
        assert.equal(line.subject, 'ci', JSON.stringify(line));
        assert.ok(!granted(line).some((scope) => scope.includes('alice/')), JSON.stringify(line));
      }
    });

    test('docker logout forgets the credential, and the registry refuses what follows', async () => {
      const logout = await docker(['logout', registry.host]);
      assert.equal(logout.code, 0, explain(logout));
      assert.equal((await engine.cliConfig()).auths?.[registry.host], undefined);

      const push = await docker(['push', image('alice/app:v1')]);
      assert.notEqual(push.code, 0, explain(push));
      // Anonymous, the engine asks for a token without credentials: nothing is granted.
      assert.match(push.stderr, /denied: requested access to the resource is denied/, explain(push));
      assert.equal((await docker(['image', 'rm', image('alice/app:v1')])).code, 0);
      const pull = await docker(['pull', image('alice/app:v1')]);
      assert.notEqual(pull.code, 0, explain(pull));
      assert.match(pull.stderr, /unauthorized|authentication required|denied/, explain(pull));
    });
  });
}
