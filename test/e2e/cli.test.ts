import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { FakeGitLab } from '../fakes/gitlab.js';
import { makeTempDir } from '../support/processes.js';

// The forgegate command as an operator types it (interface.md "Commands").

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const HTPASSWD = fileURLToPath(new URL('../fixtures/htpasswd', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function forgegate(args: string[], options: { stdin?: string; cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.stdin.end(options.stdin ?? '');
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function configFile(yaml: string): Promise<{ dir: string; file: string }> {
  const dir = await makeTempDir('cli');
  const file = join(dir, 'forgegate.yaml');
  await writeFile(file, yaml.replaceAll('{{DIR}}', dir));
  return { dir, file };
}

describe('forgegate CLI', () => {
  test('hash-password prints an htpasswd line that verifies', async () => {
    const { code, stdout } = await forgegate(['hash-password', 'robot'], { stdin: 's3cret:with:colons\n' });
    assert.equal(code, 0);
    const [user, hash] = [stdout.trim().slice(0, 5), stdout.trim().slice(6)];
    assert.equal(user, 'robot');
    assert.match(hash, /^\$2y\$10\$/);
    assert.ok(bcrypt.compareSync('s3cret:with:colons', hash), 'the trailing newline is not part of the password');
    const empty = await forgegate(['hash-password', 'robot'], { stdin: '' });
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /no password on stdin/);
  });

  test('keys generate, then keys show prints {kid, thumbprint, algorithm, certificate, jwks}', async () => {
    const { dir, file } = await configFile('token: {keyDir: "{{DIR}}/keys", algorithm: RS256}\nforges: []');
    const missing = await forgegate(['keys', 'show', '--config', file]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /keys generate/);
    assert.equal((await forgegate(['keys', 'generate', '--config', file])).code, 0);
    assert.equal(((await stat(join(dir, 'keys', 'key.pem'))).mode & 0o777), 0o600);
    const again = await forgegate(['keys', 'generate', '--config', file]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /--force/);
    const shown = await forgegate(['keys', 'show', '--config', file]);
    assert.equal(shown.code, 0);
    const key = JSON.parse(shown.stdout);
    assert.match(key.kid, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    assert.equal(key.algorithm, 'RS256');
    assert.match(key.certificate, /^-----BEGIN CERTIFICATE-----/);
    assert.equal(key.certificate.trim(), (await readFile(join(dir, 'keys', 'cert.pem'), 'utf8')).trim());
    assert.equal(key.jwks.keys[0].kid, key.kid);
    assert.equal(typeof key.thumbprint, 'string');
    assert.equal((await forgegate(['keys', 'generate', '--force', '--config', file])).code, 0);
    assert.notEqual(JSON.parse((await forgegate(['keys', 'show', '--config', file])).stdout).kid, key.kid);
  });

  test('serve refuses a bad configuration with one line naming the key', async () => {
    const { file } = await configFile('server:\n  lisen: "127.0.0.1:1"\n');
    const run = await forgegate(['serve', '--config', file]);
    assert.equal(run.code, 1);
    assert.equal(run.stderr.trim().split('\n').length, 1);
    assert.match(run.stderr, /server\.lisen: unknown key/);
  });

  test('serve refuses a non-bcrypt htpasswd naming the line', async () => {
    const { dir, file } = await configFile('users: {htpasswd: "{{DIR}}/htpasswd"}\ntoken: {keyDir: "{{DIR}}/keys"}\nforges: []');
    await writeFile(join(dir, 'htpasswd'), '# robots\nrobot:$apr1$abc$def\n');
    const run = await forgegate(['serve', '--config', file]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /line 2 \(user robot\): unsupported hash type \$apr1\$/);
  });

  test('$FORGEGATE_CONFIG is read when --config is absent', async () => {
    const { file } = await configFile('token: {algorithm: HS256}');
    const run = await forgegate(['check'], { env: { FORGEGATE_CONFIG: file } });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /token\.algorithm/);
  });

  test('serve prints the matching registry settings and stops on SIGTERM', async () => {
    const { dir, file } = await configFile('server: {listen: "127.0.0.1:0", publicUrl: "https://auth.example.com"}\ntoken: {keyDir: "{{DIR}}/keys", issuer: me, service: reg}\nforges: []');
    const child = spawn(process.execPath, [CLI, 'serve', '--config', file]);
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    let stdout = '';
    child.stdout.on('data', (c) => (stdout += c));
    const deadline = Date.now() + 10_000;
    while (!stderr.includes('rootcertbundle') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(stderr, /realm: https:\/\/auth\.example\.com\/token/);
    assert.match(stderr, /service: reg/);
    assert.match(stderr, /issuer: me/);
    assert.ok(stderr.includes(`rootcertbundle: ${join(dir, 'keys', 'cert.pem')}`));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(stdout, /"msg":"forgegate started"/);
    assert.match(stdout, /"msg":"forgegate stopped"/);
  });

  for (const [setting, expected] of [['', ['--optimize-for-size']], ['optimizeForSize: false', []]] as const) {
    test(`serve ${setting ? `with ${setting}` : 'by default'} sets the V8 flags ${JSON.stringify(expected)} and says so`, async () => {
      const { file } = await configFile(`server: {listen: "127.0.0.1:0", ${setting}}\ntoken: {keyDir: "{{DIR}}/keys"}\nforges: []`);
      const child = spawn(process.execPath, [CLI, 'serve', '--config', file]);
      let stdout = '';
      child.stdout.on('data', (c) => (stdout += c));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const deadline = Date.now() + 10_000;
      // The log is written in blocks: the start-up line shows within a flush interval or so.
      while (!stdout.includes('forgegate started') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      const started = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === 'forgegate started');
      assert.deepEqual(started?.v8Flags, expected, stdout);
    });
  }

  test('check validates and reports each part', async () => {
    const { file } = await configFile(`users: {htpasswd: "${HTPASSWD}"}\ntoken: {keyDir: "{{DIR}}/keys"}\nforges: []`);
    const run = await forgegate(['check', '--config', file]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /ok: no signing key yet/);
    assert.match(run.stdout, /ok: all checks passed/);
    const unreachable = await configFile('cache: {redisUrl: "redis://127.0.0.1:1"}\nforges: []');
    const failed = await forgegate(['check', '--config', unreachable.file]);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /redis redis:\/\/127\.0\.0\.1:1/);
  });

  test('check reaches GitLab and validates the service token', async () => {
    const gitlab = new FakeGitLab();
    const url = await gitlab.start();
    try {
      const bot = gitlab.addUser({ username: 'bot', is_admin: true });
      gitlab.addToken({ token: 'glpat-good', user_id: bot.id, scopes: ['read_api'] });
      gitlab.addToken({ token: 'glpat-narrow', user_id: bot.id, scopes: ['read_registry'] });
      const run = async (serviceToken: string) => {
        const { file } = await configFile(`token: {keyDir: "{{DIR}}/keys"}\nforges:\n  - {type: gitlab, url: "${url}", serviceToken: "\${SVC}"}`);
        return forgegate(['check', '--config', file], { env: { SVC: serviceToken } });
      };
      const good = await run('glpat-good');
      assert.equal(good.code, 0, good.stderr);
      assert.match(good.stdout, /ok: forge gitlab: serviceToken is active with scopes \[read_api\]/);
      const narrow = await run('glpat-narrow');
      assert.equal(narrow.code, 1);
      assert.match(narrow.stderr, /it needs read_api/);
      const unknown = await run('glpat-unknown');
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /serviceToken was refused by GitLab \(HTTP 401\)/);
      assert.ok(!unknown.stderr.includes('glpat-unknown') && !unknown.stdout.includes('glpat-unknown'), 'the token is never printed');
    } finally {
      await gitlab.stop();
    }
  });

  test('explain prints every verdict with its reason; a wrong password says why', async () => {
    const { file } = await configFile(`users: {htpasswd: "${HTPASSWD}"}\ntoken: {keyDir: "{{DIR}}/keys"}\nforges: []\nacl:\n  - {account: alice, name: "team/**", actions: [pull]}`);
    const run = await forgegate(['explain', '--config', file, '--user', 'alice', '--scope', 'repository:team/app:pull,push'], { stdin: 'alice-pass\n' });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /pull granted: acl rule #1/);
    assert.match(run.stdout, /push denied: acl rule #1 \(account "alice", repository "team\/\*\*"\) allows \[pull\]/);
    const json = await forgegate(['explain', '--json', '--config', file, '--user', 'alice', '--scope', 'repository:team/app:push'], { stdin: 'alice-pass' });
    assert.equal(JSON.parse(json.stdout).decisions[0].verdicts[0].granted, false);
    const wrong = await forgegate(['explain', '--config', file, '--user', 'alice', '--scope', 'repository:team/app:pull'], { stdin: 'nope' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /authentication failed: wrong password for static account "alice"/);
    const noScope = await forgegate(['explain', '--config', file]);
    assert.equal(noScope.code, 2);
    const anonymous = await forgegate(['explain', '--config', file, '--scope', 'repository:team/app:pull'], { stdin: '' });
    assert.equal(anonymous.code, 0);
    assert.match(anonymous.stdout, /caller: anonymous/);
    const noSecret = await forgegate(['explain', '--config', file, '--user', 'alice', '--scope', 'repository:team/app:pull'], { stdin: '' });
    assert.equal(noSecret.code, 2);
    assert.match(noSecret.stderr, /no password or token on stdin/);
  });

  test('unknown commands and options are usage errors', async () => {
    assert.equal((await forgegate(['frobnicate'])).code, 2);
    const bad = await forgegate(['serve', '--nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /usage:/);
  });
});
