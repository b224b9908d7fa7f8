import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { FakeGitLab } from '../fakes/gitlab.js';
import { CLI, forgegateCli as forgegate } from '../support/cli.js';
import { inOwnNetwork, ownNetworkAvailable } from '../support/netns.js';
import { makeTempDir } from '../support/processes.js';

// The forgegate command as an operator types it (README.md "Commands").

const HTPASSWD = fileURLToPath(new URL('../fixtures/htpasswd', import.meta.url));

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
    assert.equal((await stat(join(dir, 'keys', 'key.pem'))).mode & 0o777, 0o600);
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
    const { dir, file } = await configFile(
      'users: {htpasswd: "{{DIR}}/htpasswd"}\ntoken: {keyDir: "{{DIR}}/keys"}\nforges: []',
    );
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
    const { dir, file } = await configFile(
      'server: {listen: "127.0.0.1:0", publicUrl: "https://auth.example.com"}\ntoken: {keyDir: "{{DIR}}/keys", issuer: me, service: reg}\nforges: []',
    );
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

  // Where Node.js can replace a process (22.15 and later), serve starts itself again with a
  // 2 MiB young generation and no memory reducer: same process id, the flags on its command line,
  // glibc's arenas bounded.
  const restarts = typeof process.execve === 'function';
  const mode = ['--optimize-for-size', '--semi-space-growth-factor=1'];
  for (const [setting, nodeFlags, expected, restarted] of [
    ['', [], [...(restarts ? ['--min-semi-space-size=2', '--no-memory-reducer'] : []), ...mode], restarts],
    ['optimizeForSize: false', [], [], false],
    ['', ['--max-semi-space-size=4'], ['--max-semi-space-size=4', ...mode], false],
  ] as const) {
    const how = `${setting ? `with ${setting}` : 'by default'}${nodeFlags.length ? ` under node ${nodeFlags.join(' ')}` : ''}`;
    test(`serve ${how} sets the V8 flags ${JSON.stringify(expected)} and says so`, async () => {
      const { file } = await configFile(
        `server: {listen: "127.0.0.1:0", ${setting}}\ntoken: {keyDir: "{{DIR}}/keys"}\nforges: []`,
      );
      const child = spawn(process.execPath, [...nodeFlags, CLI, 'serve', '--config', file], {
        env: { ...process.env, GLIBC_TUNABLES: undefined, MALLOC_ARENA_MAX: undefined },
      });
      let stdout = '';
      child.stdout.on('data', (c) => (stdout += c));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const deadline = Date.now() + 10_000;
      // The log is written in blocks: the start-up line shows within a flush interval or so.
      while (!stdout.includes('forgegate started') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const cmdline = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0');
      const environ = (await readFile(`/proc/${child.pid}/environ`, 'utf8')).split('\0');
      child.kill('SIGTERM');
      assert.equal(await exited, 0, 'the process we started is the one serving, and stops on our signal');
      const started = stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((line) => line.msg === 'forgegate started');
      assert.deepEqual(started?.v8Flags, expected, stdout);
      assert.equal(cmdline.includes('--min-semi-space-size=2'), restarted, cmdline.join(' '));
      assert.equal(cmdline.includes('--no-memory-reducer'), restarted, cmdline.join(' '));
      const tunables = environ.find((entry) => entry.startsWith('GLIBC_TUNABLES='));
      if (
        restarted &&
        (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime
      )
        assert.match(tunables ?? '', /glibc\.malloc\.arena_max=2/);
      else assert.equal(tunables, undefined);
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
        const { file } = await configFile(
          `token: {keyDir: "{{DIR}}/keys"}\nforges:\n  - {type: gitlab, url: "${url}", serviceToken: "\${SVC}"}`,
        );
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
      assert.ok(
        !unknown.stderr.includes('glpat-unknown') && !unknown.stdout.includes('glpat-unknown'),
        'the token is never printed',
      );
      // Admin Mode: compared with GitLab's own setting when the service token may read it.
      assert.match(good.stdout, /ok: forge gitlab: adminMode is true and GitLab's Admin Mode is off/);
      gitlab.adminMode = true;
      gitlab.addToken({ token: 'glpat-admin-mode', user_id: bot.id, scopes: ['read_api', 'admin_mode'] });
      const notAdmin = await run('glpat-good'); // without admin_mode, no admin powers: cannot read it
      assert.equal(notAdmin.code, 0, notAdmin.stderr);
      assert.match(notAdmin.stdout, /ok: forge gitlab: adminMode is true as configured/);
      const forge = `{type: gitlab, url: "${url}", serviceToken: glpat-admin-mode, adminMode: false}`;
      const { file } = await configFile(`token: {keyDir: "{{DIR}}/keys"}\nforges:\n  - ${forge}`);
      const unsafe = await forgegate(['check', '--config', file]);
      assert.equal(unsafe.code, 1);
      assert.match(unsafe.stderr, /adminMode is false, but GitLab enforces Admin Mode/);
      // GitLab behind a redirect (http to https, an old host name): forgegate's calls would not follow it.
      gitlab.inject({
        kind: 'status',
        status: 301,
        headers: { location: 'https://gitlab.example/api/v4/version' },
        times: 1,
      });
      const moved = await run('glpat-good');
      assert.equal(moved.code, 1);
      assert.match(
        moved.stderr,
        /redirects to https:\/\/gitlab\.example\/api\/v4\/version \(HTTP 301\): forgegate does not follow/,
      );
    } finally {
      await gitlab.stop();
    }
  });

  test('check says where GitLab protection rules cannot be read, and why', async () => {
    const gitlab = new FakeGitLab();
    const url = await gitlab.start();
    try {
      const admin = gitlab.addUser({ username: 'bot', is_admin: true });
      const reader = gitlab.addUser({ username: 'reader' });
      gitlab.addToken({ token: 'glpat-admin', user_id: admin.id, scopes: ['read_api'] });
      gitlab.addToken({ token: 'glpat-reader', user_id: reader.id, scopes: ['read_api'] });
      const run = async (forge: string, env: NodeJS.ProcessEnv = {}) => {
        const yaml = `token: {keyDir: "{{DIR}}/keys"}\nforges:\n  - {type: gitlab, url: "${url}"${forge}}`;
        const { file } = await configFile(yaml);
        return forgegate(['check', '--config', file], { env });
      };
      const everywhere = await run(', serviceToken: "${SVC}"', { SVC: 'glpat-admin' });
      assert.equal(everywhere.code, 0, everywhere.stderr);
      assert.match(everywhere.stdout, /ok: forge gitlab: GitLab 17\.9\.2; the serviceToken \(an admin\) reads/);
      const partly = await run(', serviceToken: "${SVC}"', { SVC: 'glpat-reader' });
      assert.match(partly.stdout, /note: forge gitlab: GitLab 17\.9\.2; the serviceToken reads protection rules/);
      assert.match(partly.stdout, /only where reader is/);
      assert.match(partly.stdout, /Maintainer or above; .*best-effort: they are not enforced there/);
      const none = await run(', protectedRepositories: strict');
      assert.equal(none.code, 0, none.stderr);
      assert.match(none.stdout, /note: forge gitlab: protection rules of container repositories are read only with/);
      assert.match(none.stdout, /protectedRepositories is strict: push and delete are refused there/);
      gitlab.version = '17.8.1';
      const old = await run(', serviceToken: "${SVC}"', { SVC: 'glpat-admin' });
      assert.equal(old.code, 0, old.stderr);
      assert.match(old.stdout, /note: forge gitlab: GitLab 17\.8\.1 has no API for protection rules/);
      assert.match(old.stdout, /\(17\.9 or later\): protectedRepositories is best-effort/);
    } finally {
      await gitlab.stop();
    }
  });

  test("serve's banner says where GitLab protection rules are not enforced", async () => {
    const forge = '{type: gitlab, url: "http://127.0.0.1:9"}';
    const yaml = `server: {listen: "127.0.0.1:0"}\ntoken: {keyDir: "{{DIR}}/keys"}\nforges:\n  - ${forge}`;
    const { file } = await configFile(yaml);
    const child = spawn(process.execPath, [CLI, 'serve', '--config', file]);
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const deadline = Date.now() + 10_000;
    while (!stderr.includes('rootcertbundle') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    const notice =
      'note: forge gitlab: protection rules of container repositories are read only with the tokens of Maintainers: ' +
      'for other callers, job tokens and ID tokens they cannot be read (no serviceToken); ' +
      'protectedRepositories is best-effort: they are not enforced there';
    assert.ok(stderr.includes(notice), stderr);
  });

  test('explain prints every verdict with its reason; a wrong password says why', async () => {
    const { file } = await configFile(
      `users: {htpasswd: "${HTPASSWD}"}\ntoken: {keyDir: "{{DIR}}/keys"}\nforges: []\nacl:\n  - {account: alice, name: "team/**", actions: [pull]}`,
    );
    const run = await forgegate(
      ['explain', '--config', file, '--user', 'alice', '--scope', 'repository:team/app:pull,push'],
      { stdin: 'alice-pass\n' },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /pull granted: acl rule #1/);
    assert.match(run.stdout, /push denied: acl rule #1 \(account "alice", repository "team\/\*\*"\) allows \[pull\]/);
    const json = await forgegate(
      ['explain', '--json', '--config', file, '--user', 'alice', '--scope', 'repository:team/app:push'],
      { stdin: 'alice-pass' },
    );
    assert.equal(JSON.parse(json.stdout).decisions[0].verdicts[0].granted, false);
    const wrong = await forgegate(
      ['explain', '--config', file, '--user', 'alice', '--scope', 'repository:team/app:pull'],
      { stdin: 'nope' },
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /authentication failed: wrong password for static account "alice"/);
    const noScope = await forgegate(['explain', '--config', file]);
    assert.equal(noScope.code, 2);
    const anonymous = await forgegate(['explain', '--config', file, '--scope', 'repository:team/app:pull'], {
      stdin: '',
    });
    assert.equal(anonymous.code, 0);
    assert.match(anonymous.stdout, /caller: anonymous/);
    const noSecret = await forgegate(
      ['explain', '--config', file, '--user', 'alice', '--scope', 'repository:team/app:pull'],
      { stdin: '' },
    );
    assert.equal(noSecret.code, 2);
    assert.match(noSecret.stderr, /no password or token on stdin/);
  });

  test('unknown commands and options are usage errors', async () => {
    assert.equal((await forgegate(['frobnicate'])).code, 2);
    const bad = await forgegate(['serve', '--nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /usage:/);
  });

  test('a usage mistake is one line in our words, then the usage of that command', async () => {
    const cases: [string[], RegExp, RegExp][] = [
      [
        ['serve', '--nope'],
        /^forgegate: unknown option --nope for "forgegate serve"$/,
        /^usage: forgegate serve \[--config FILE\]/,
      ],
      [['check', '--force'], /^forgegate: unknown option --force for "forgegate check"$/, /^usage: forgegate check /],
      [['check', '--config'], /^forgegate: --config needs a value$/, /^usage: forgegate check /],
      [['check', '--offline=yes'], /^forgegate: --offline takes no value$/, /^usage: forgegate check /],
      [
        ['keys', 'rotate', '--force'],
        /^forgegate: unknown option --force for "forgegate keys rotate"$/,
        /^usage: forgegate keys rotate /,
      ],
      [
        ['keys'],
        /^forgegate: "forgegate keys" needs one of generate, show, rotate, promote, prune$/,
        /^usage: forgegate keys generate\|show/,
      ],
      [['keys', 'spin'], /^forgegate: unknown command "keys spin"$/, /^usage: forgegate keys /],
      [
        ['hash-password', 'a', 'b'],
        /^forgegate: too many arguments for "forgegate hash-password"$/,
        /^usage: forgegate hash-password /,
      ],
      [['frobnicate'], /^forgegate: unknown command "frobnicate"$/, /^run "forgegate help" for the commands$/],
    ];
    for (const [args, problem, hint] of cases) {
      const run = await forgegate(args);
      assert.equal(run.code, 2, args.join(' '));
      const lines = run.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(lines[0]!, problem);
      assert.match(lines[1]!, hint);
      assert.doesNotMatch(run.stderr, /To specify a positional argument|ERR_PARSE_ARGS/, "not Node's parser text");
    }
  });

  test("COMMAND --help and forgegate help COMMAND print that command's usage", async () => {
    const general = await forgegate(['--help']);
    assert.equal(general.code, 0);
    assert.match(general.stdout, /^usage: forgegate \[COMMAND\]/);
    assert.equal((await forgegate(['help'])).stdout, general.stdout);
    const commands = [
      ['serve'],
      ['keys', 'generate'],
      ['keys', 'show'],
      ['keys', 'rotate'],
      ['keys', 'promote'],
      ['keys', 'prune'],
      ['hash-password'],
      ['check'],
      ['explain'],
    ];
    const seen = new Set<string>();
    for (const command of commands) {
      const viaFlag = await forgegate([...command, '--help']);
      assert.equal(viaFlag.code, 0, command.join(' '));
      assert.ok(
        viaFlag.stdout.startsWith(`usage: forgegate ${command.join(' ')}`),
        `${command.join(' ')} --help: ${viaFlag.stdout}`,
      );
      assert.match(viaFlag.stdout, /\n\n\S/, 'a description follows the synopsis');
      const viaHelp = await forgegate(['help', ...command]);
      assert.equal(viaHelp.stdout, viaFlag.stdout, `forgegate help ${command.join(' ')}`);
      seen.add(viaFlag.stdout);
    }
    assert.equal(seen.size, commands.length, 'every command has its own usage');
    const keys = await forgegate(['help', 'keys']);
    assert.match(keys.stdout, /^usage: forgegate keys generate\|show\|rotate\|promote\|prune/);
    assert.equal((await forgegate(['keys', '--help'])).stdout, keys.stdout);
    const unknown = await forgegate(['help', 'frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no command "frobnicate"/);
  });

  test(
    'on a terminal, hash-password asks twice and echoes nothing; explain asks for the secret',
    { skip: scriptMissing() },
    async () => {
      const typed = 'typed-on-a-terminal';
      const hashed = await onTerminal(
        ['hash-password', 'robot'],
        [
          ['New password for robot:', typed],
          ['Retype it:', typed],
        ],
      );
      assert.equal(hashed.code, 0, hashed.output);
      assert.ok(!hashed.output.includes(typed), `the password is not echoed: ${JSON.stringify(hashed.output)}`);
      const line = /robot:(\$2y\$\S+)/.exec(hashed.output);
      assert.ok(line && bcrypt.compareSync(typed, line[1]!), 'the line it prints verifies the typed password');
      const differ = await onTerminal(
        ['hash-password', 'robot'],
        [
          ['New password for robot:', 'one'],
          ['Retype it:', 'two'],
        ],
      );
      assert.equal(differ.code, 1);
      assert.match(differ.output, /the two passwords differ; nothing written/);
      assert.doesNotMatch(differ.output, /robot:\$2y/);

      const { file } = await configFile(
        `users: {htpasswd: "${HTPASSWD}"}\ntoken: {keyDir: "{{DIR}}/keys"}\nforges: []\nacl:\n  - {account: alice, name: "team/**", actions: [pull]}`,
      );
      const explained = await onTerminal(
        ['explain', '--config', file, '--user', 'alice', '--scope', 'repository:team/app:pull'],
        [['Password or token for alice:', 'alice-pass']],
      );
      assert.equal(explained.code, 0, explained.output);
      assert.match(explained.output, /pull granted: acl rule #1/);
      assert.ok(!explained.output.includes('alice-pass'), 'the password is not echoed');
      const anonymous = await onTerminal(['explain', '--config', file, '--scope', 'repository:team/app:pull'], []);
      assert.match(anonymous.output, /no --user: explaining for an anonymous caller/);
      assert.match(anonymous.output, /caller: anonymous/);
    },
  );

  test('check refuses a token.keyDir that cannot hold a key, with or without --offline', async () => {
    const { dir, file } = await configFile('token: {keyDir: "{{DIR}}/a-file/keys"}\nforges: []');
    await writeFile(join(dir, 'a-file'), 'not a directory\n');
    for (const args of [
      ['check', '--offline', '--config', file],
      ['check', '--config', file],
    ]) {
      const run = await forgegate(args);
      assert.equal(run.code, 1, args.join(' '));
      assert.match(
        run.stderr,
        new RegExp(`keys: token.keyDir ${dir}/a-file/keys cannot hold a key: ${dir}/a-file is not a directory`),
      );
    }
    const fileAsDir = await configFile('token: {keyDir: "{{DIR}}/forgegate.yaml"}\nforges: []');
    assert.match(
      (await forgegate(['check', '--offline', '--config', fileAsDir.file])).stderr,
      /forgegate\.yaml is not a directory/,
    );
    const fine = await configFile('token: {keyDir: "{{DIR}}/new/keys"}\nforges: []');
    const ok = await forgegate(['check', '--offline', '--config', fine.file]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /ok: no signing key yet in .*\/new\/keys: serve will generate one/);
  });

  test('check --offline passes on config/forgegate.example.yaml as it is', async () => {
    const example = fileURLToPath(new URL('../../config/forgegate.example.yaml', import.meta.url));
    const run = await forgegate(['check', '--offline', '--config', example], { cwd: await makeTempDir('cli-example') });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /ok: all checks passed/);
  });

  test('serve and check name a missing htpasswd file and the command that creates it', async () => {
    const { dir, file } = await configFile(
      'users: {htpasswd: "{{DIR}}/htpasswd"}\ntoken: {keyDir: "{{DIR}}/keys"}\nforges: []',
    );
    for (const command of ['serve', 'check']) {
      const run = await forgegate([command, '--config', file]);
      assert.equal(run.code, 1);
      assert.equal(
        run.stderr,
        `forgegate: users.htpasswd ${dir}/htpasswd: no such file; create it with: forgegate hash-password USER >> ${dir}/htpasswd\n`,
      );
    }
  });

  test(
    'serve without configuration says which forge and key directory it uses, and what to do next',
    { skip: ownNetworkAvailable() ? false : 'needs unshare -n (port 5001 is fixed)' },
    async () => {
      const cwd = await makeTempDir('cli-defaults');
      const [command, args] = inOwnNetwork(process.execPath, [CLI]);
      const env = { ...process.env };
      delete env.FORGEGATE_CONFIG;
      const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // The banner is one write of well under PIPE_BUF bytes: its last registry line means all of it.
      await Promise.race([
        exited,
        new Promise<void>((resolve) => child.stderr.on('data', () => stderr.includes('rootcertbundle') && resolve())),
      ]);
      child.kill('SIGTERM');
      await exited;
      assert.match(stderr, /^configuration: built-in defaults \(no --config FILE and no \$FORGEGATE_CONFIG\)$/m);
      assert.match(stderr, /^forge gitlab: GitLab at https:\/\/gitlab\.com, for images group\/project\[\/name\]$/m);
      assert.match(stderr, /no serviceToken: anonymous pulls are refused/);
      assert.match(stderr, /^signing key: ES256, kid \S+, generated now$/m);
      assert.ok(stderr.includes(`  in ${join(cwd, 'data', 'keys')}, certificate valid until `), stderr);
      assert.match(stderr, /realm: http:\/\/127\.0\.0\.1:5001\/token/);
      assert.match(stderr, /^next steps:$/m);
      assert.match(stderr, /docker login REGISTRY -u anything -p <a GitLab token>/);
    },
  );
});

function scriptMissing(): string | false {
  return spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0 ? false : 'script(1) is not installed';
}

/**
 * Runs forgegate on a pseudo-terminal (util-linux `script`) and types each answer once its
 * prompt has appeared: what a person at a terminal sees, echo included, is `output`.
 */
function onTerminal(
  args: string[],
  answers: [prompt: string, typed: string][],
): Promise<{ code: number; output: string }> {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const child = spawn('script', ['-q', '-e', '-c', quoted, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 20_000,
  });
  let output = '';
  let next = 0;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    while (next < answers.length && output.includes(answers[next]![0])) child.stdin.write(`${answers[next++]![1]}\r`);
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, output })));
}
