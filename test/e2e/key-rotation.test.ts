import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeProtectedHeader } from 'jose';
import { publish } from '../../src/token/rotation.js';
import { forgegateCli as runCli } from '../support/cli.js';
import { basic, startForgegate, type TestForgegate } from '../support/forgegate.js';
import { makeTempDir } from '../support/processes.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

// A full rotation against a real registry (docker-registry 2.8, which reads
// auth.token.rootcertbundle once at start: each phase restarts it on the same bundle file).
// The keys commands are the built CLI; forgegate runs in-process and must pick up each step
// by itself (it polls key.pem and jwks.json). Only the end of the publication period is
// reached by moving the clock (publish's `now`), never by waiting.

const HTPASSWD = fileURLToPath(new URL('../fixtures/htpasswd', import.meta.url));
const SERVICE = 'registry.test';
const ISSUER = 'forgegate-rotation';
const TTL = 300;
const REFRESH_TTL = 3600;

const cli = (args: string[]) => runCli(args);

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(200);
  }
  throw new Error(`gave up waiting for ${what}`);
}

for (const header of ['x5c', 'kid'] as const) {
  describe(`key rotation with a real registry (${header} header)`, () => {
    let fg: TestForgegate;
    let registry: RunningRegistry | undefined;
    let keyDir: string;
    let configFile: string;
    const tokens: Record<string, string> = {};
    let refreshToken = '';

    const keysCommand = async (command: string) => {
      const run = await cli(['keys', command, '--config', configFile]);
      assert.equal(run.code, 0, `keys ${command}: ${run.stderr}`);
      return JSON.parse(run.stdout);
    };
    const issue = async (): Promise<string> => {
      const response = await fetch(`${fg.url}/token?service=${SERVICE}&scope=repository:alice/app:pull`, {
        headers: { Authorization: basic('alice', 'alice-pass') },
      });
      assert.equal(response.status, 200);
      return ((await response.json()) as any).token;
    };
    const kidOf = (token: string) => decodeProtectedHeader(token).kid;
    /** The status of a refresh_token grant for the refresh token taken under the old key. */
    const refreshStatus = async (scope?: string): Promise<number> => {
      const response = await fetch(`${fg.url}/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
          service: SERVICE,
          ...(scope ? { scope } : {}),
        }).toString(),
      });
      await response.body?.cancel();
      return response.status;
    };
    // 404 (no such repository) means the registry accepted the token; 401 that it did not.
    const registryAccepts = async (token: string): Promise<boolean> => {
      const response = await fetch(`${registry!.url}/v2/alice/app/tags/list`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      await response.body?.cancel();
      assert.ok(response.status === 404 || response.status === 401, `registry answered ${response.status}`);
      return response.status === 404;
    };
    const restartRegistry = async () => {
      await registry?.stop();
      registry = await startRegistry({
        realm: `${fg.url}/token`,
        service: SERVICE,
        issuer: ISSUER,
        rootCertBundle: join(keyDir, 'cert.pem'),
      });
    };
    const served = async () =>
      ((await (await fetch(`${fg.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map(
        (k) => k.kid,
      );
    const certificates = async () =>
      ((await readFile(join(keyDir, 'cert.pem'), 'utf8')).match(/BEGIN CERTIFICATE/g) ?? []).length;

    before(async () => {
      const dir = await makeTempDir('rotation');
      keyDir = join(dir, 'keys');
      configFile = join(dir, 'forgegate.yaml');
      await writeFile(
        configFile,
        JSON.stringify({
          token: { keyDir, service: SERVICE, issuer: ISSUER, header, ttl: TTL, refreshTtl: REFRESH_TTL },
          forges: [],
        }),
      );
      fg = await startForgegate({
        token: { keyDir, service: SERVICE, issuer: ISSUER, header, ttl: TTL, refreshTtl: REFRESH_TTL },
        users: { htpasswd: HTPASSWD },
        acl: [{ account: '*', name: '${account}/**', actions: ['pull', 'push'] }],
      });
      await restartRegistry();
    });
    after(async () => {
      await registry?.stop();
      await fg?.stop();
    });

    test('1. old key only: the registry accepts tokens signed by it', async () => {
      tokens.old = await issue();
      const offline = await fetch(`${fg.url}/token?service=${SERVICE}&offline_token=true`, {
        headers: { Authorization: basic('alice', 'alice-pass') },
      });
      refreshToken = ((await offline.json()) as any).refresh_token;
      assert.ok(refreshToken, 'a refresh token under the old key');
      assert.equal(kidOf(tokens.old), fg.runtime.key.kid);
      assert.equal(await registryAccepts(tokens.old), true);
      assert.equal(await certificates(), 1);
    });

    test('2. rotate: the next key is published (bundle, jwks.json, the server) but signs nothing', async () => {
      const oldKid = fg.runtime.key.kid;
      const shown = await keysCommand('rotate');
      assert.equal(shown.kid, oldKid, 'the current key is unchanged');
      assert.ok(shown.next?.kid && shown.next.kid !== oldKid, 'a next key is staged');
      tokens.nextKid = shown.next.kid;
      assert.deepEqual(
        shown.jwks.keys.map((k: { kid: string }) => k.kid),
        [oldKid, shown.next.kid],
      );
      assert.equal(await certificates(), 2, 'cert.pem holds both certificates');
      assert.deepEqual(
        await waitFor('the server to publish the next key', async () =>
          (await served()).length === 2 ? served() : undefined,
        ),
        [oldKid, shown.next.kid],
      );
      assert.equal(kidOf(await issue()), oldKid, 'still signing with the old key');
      const again = await cli(['keys', 'rotate', '--config', configFile]);
      assert.equal(again.code, 1, 'a second rotate before promote is refused');
      assert.match(again.stderr, /keys promote/);
    });

    test('3. both keys: the restarted registry accepts the old key and, after promote, the new one', async () => {
      await restartRegistry();
      assert.equal(await registryAccepts(tokens.old!), true, 'old token, both-keys registry');
      const shown = await keysCommand('promote');
      assert.equal(shown.kid, tokens.nextKid);
      assert.equal(shown.next, null);
      assert.equal(shown.retired.length, 1);
      assert.equal(shown.jwks.keys.length, 2, 'the old key stays published');
      tokens.new = await waitFor('the server to sign with the new key', async () => {
        const token = await issue();
        return kidOf(token) === tokens.nextKid ? token : undefined;
      });
      assert.equal(fg.runtime.key.kid, tokens.nextKid);
      assert.equal(await registryAccepts(tokens.new), true, 'new token, both-keys registry');
      assert.equal(await registryAccepts(tokens.old!), true, 'tokens signed before promote keep working');
      assert.equal(
        await refreshStatus('repository:alice/app:pull'),
        200,
        'a refresh token issued under the old key still opens',
      );
    });

    test('4. new key only: once its tokens expired the old key leaves the bundle; the registry then refuses it', async () => {
      const later = Date.now() + (TTL + 61) * 1000;
      const set = await publish(keyDir, 'ES256', later);
      assert.deepEqual(
        set.jwks(later).keys.map((k) => k.kid),
        [tokens.nextKid],
      );
      assert.equal(await certificates(), 1, 'cert.pem holds the new certificate only');
      assert.equal((await readdir(join(keyDir, 'retired'))).length, 1, 'the old key is kept for its refresh tokens');
      // The server's own /.well-known/jwks.json follows its clock: it keeps the old key until publishUntil.
      assert.deepEqual(
        fg.runtime.keys.keys.jwks(later).keys.map((k) => k.kid),
        [tokens.nextKid],
      );
      await restartRegistry();
      assert.equal(await registryAccepts(tokens.new!), true, 'new token, new-only registry');
      assert.equal(await registryAccepts(await issue()), true);
      assert.equal(await registryAccepts(tokens.old!), false, 'the old key is no longer trusted');
      const shown = await keysCommand('show');
      assert.equal(shown.kid, tokens.nextKid);
      assert.equal(shown.retired.length, 1);
      assert.ok(
        Date.parse(shown.retired[0].publishUntil) < later,
        'show reports when the old key stops being published',
      );
    });

    test('5. after the refresh lifetime the old key is deleted and its refresh tokens stop', async () => {
      const muchLater = Date.now() + (REFRESH_TTL + 61) * 1000;
      await publish(keyDir, 'ES256', muchLater);
      assert.deepEqual(await readdir(join(keyDir, 'retired')), []);
      await fg.runtime.keys.reload();
      assert.equal(await refreshStatus(), 401);
    });
  });
}
