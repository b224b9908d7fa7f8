import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { basic } from '../support/forgegate.js';
import { startForgegateProcess, type ForgegateProcess } from '../support/forgegate-process.js';
import { buildOciImage, type OciImage } from '../support/oci-image.js';
import { makeTempDir } from '../support/processes.js';
import { startRegistryFor, type RunningRegistry } from '../support/registry.js';
import { copy, deleteImage, inspect, writeAuthFile, type SkopeoResult } from '../support/skopeo.js';

// The real docker-registry 2.8.2 trusts forgegate's tokens and skopeo pushes and pulls
// through it with static accounts, for every algorithm and header mode.

const HTPASSWD = new URL('../fixtures/htpasswd', import.meta.url).pathname;
const PASSWORD = { admin: 'admin-pass', alice: 'alice-pass', bob: 'bob-pass' };

const CONFIG = (algorithm: string, header: string) => `
server: { listen: "127.0.0.1:{{PORT}}" }
token: { issuer: forgegate-e2e, service: registry-e2e, algorithm: ${algorithm}, header: ${header}, keyDir: "{{DIR}}/keys" }
users: { htpasswd: "{{DIR}}/htpasswd" }
acl:
  - { account: admin, name: "**", actions: ["*"] }
  - { account: admin, type: registry, name: catalog, actions: ["*"] }
  - { account: bob, name: "**", actions: [pull] }          # a pull-only account
  - { account: "*", name: "\${account}/**", actions: [pull, push, delete] }
forges: []
`;

for (const algorithm of ['ES256', 'RS256']) {
  for (const header of ['x5c', 'kid']) {
    describe(`registry 2.8 with ${algorithm} tokens, header ${header}`, () => {
      let fg: ForgegateProcess;
      let registry: RunningRegistry;
      let image: OciImage;
      const ref = (name: string) => `docker://${registry.host}/${name}`;
      const explain = (result: SkopeoResult) =>
        `skopeo: ${result.stderr}\nregistry:\n${registry.logs().slice(-3000)}\nforgegate:\n${fg.logs().slice(-3000)}`;

      before(async () => {
        fg = await startForgegateProcess(
          CONFIG(algorithm, header).replace('"{{DIR}}/htpasswd"', JSON.stringify(HTPASSWD)),
        );
        registry = await startRegistryFor(fg, { service: 'registry-e2e', issuer: 'forgegate-e2e' });
        image = await buildOciImage(undefined, { marker: `${algorithm}-${header}` });
      });
      after(async () => {
        await registry?.stop();
        await fg?.stop();
      });

      test('an account pushes to its own namespace and pulls it back', async () => {
        const push = await copy(image.ref, ref('alice/app:v1'), { creds: `alice:${PASSWORD.alice}` });
        assert.equal(push.code, 0, explain(push));
        const pulled = join(await makeTempDir('pull'), 'layout');
        const pull = await copy(ref('alice/app:v1'), `oci:${pulled}:v1`, { creds: `alice:${PASSWORD.alice}` });
        assert.equal(pull.code, 0, explain(pull));
        const info = await inspect(ref('alice/app:v1'), { creds: `alice:${PASSWORD.alice}` });
        assert.equal(info.code, 0, explain(info));
        assert.equal(JSON.parse(info.stdout).Digest, image.manifestDigest);
      });

      test('the same account is refused a push elsewhere', async () => {
        const push = await copy(image.ref, ref('bob/app:v1'), { creds: `alice:${PASSWORD.alice}` });
        assert.notEqual(push.code, 0);
        assert.match(push.stderr, /denied|unauthorized/i);
      });

      test('a pull-only account pulls but cannot push', async () => {
        const pull = await inspect(ref('alice/app:v1'), { creds: `bob:${PASSWORD.bob}` });
        assert.equal(pull.code, 0, explain(pull));
        const push = await copy(image.ref, ref('alice/app:v2'), { creds: `bob:${PASSWORD.bob}` });
        assert.notEqual(push.code, 0);
        assert.match(push.stderr, /denied|unauthorized/i);
      });

      test('anonymous is refused', async () => {
        const pull = await inspect(ref('alice/app:v1'), { noCreds: true });
        assert.notEqual(pull.code, 0);
        assert.match(pull.stderr, /unauthorized|denied|authentication required/i);
      });

      test('a wrong password fails with 401', async () => {
        const pull = await inspect(ref('alice/app:v1'), { creds: 'alice:wrong' });
        assert.notEqual(pull.code, 0);
        assert.match(pull.stderr, /invalid username\/password/, 'skopeo reports a 401 this way');
        const line = await fg.waitForAudit((l) => l.outcome === 'unauthorized');
        assert.equal(line.subject, 'alice');
      });

      test('an admin lists /v2/_catalog; others cannot', async () => {
        const catalog = async (user: keyof typeof PASSWORD) => {
          const tokenResponse = await fetch(`${fg.realm}?service=registry-e2e&scope=registry:catalog:*`, {
            headers: { Authorization: basic(user, PASSWORD[user]) },
          });
          const { token } = (await tokenResponse.json()) as any;
          return fetch(`${registry.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${token}` } });
        };
        const admin = await catalog('admin');
        assert.equal(admin.status, 200, registry.logs().slice(-2000));
        assert.deepEqual(((await admin.json()) as any).repositories, ['alice/app']);
        assert.equal((await catalog('alice')).status, 401);
      });

      test('a refresh token from offline_token=true works through POST (skopeo identity token)', async () => {
        const login = await fetch(`${fg.realm}?service=registry-e2e&offline_token=true&client_id=e2e`, {
          headers: { Authorization: basic('alice', PASSWORD.alice) },
        });
        const { refresh_token: refreshToken } = (await login.json()) as any;
        assert.ok(refreshToken);
        const authfile = join(await makeTempDir('auth'), 'auth.json');
        await writeAuthFile(authfile, registry.host, { identityToken: refreshToken });
        // Log lines are written in blocks, asynchronously: mark once the earlier ones are out, and
        // pick skopeo's lines after the mark by user agent, not by position alone.
        const before = await fg.settledLineCount();
        const push = await copy(image.ref, ref('alice/app:from-refresh'), { authfile });
        assert.equal(push.code, 0, explain(push));
        await fg.settledLineCount();
        const used = fg
          .auditLines()
          .slice(before)
          .filter((l) => l.msg === 'token request' && String(l.userAgent).startsWith('skopeo'));
        assert.ok(
          used.length > 0 &&
            used.every((l) => l.method === 'POST' && l.credential === 'refresh' && l.subject === 'alice'),
          JSON.stringify(used),
        );
      });

      test('an account deletes a tag in its namespace (skopeo asks for *)', async () => {
        const removed = await deleteImage(ref('alice/app:from-refresh'), { creds: `alice:${PASSWORD.alice}` });
        assert.equal(removed.code, 0, explain(removed));
        const line = await fg.waitForAudit((l) => (l.requested as string[]).includes('repository:alice/app:*'));
        assert.deepEqual(line.granted, ['repository:alice/app:pull,push,delete']);
        const bobDelete = await deleteImage(ref('alice/app:v1'), { creds: `bob:${PASSWORD.bob}` });
        assert.notEqual(bobDelete.code, 0);
      });
    });
  }
}
