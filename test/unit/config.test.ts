import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig, parseConfigText } from '../../src/config/load.js';

const parse = (text: string, env: NodeJS.ProcessEnv = {}) => parseConfigText(text, env, 'test.yaml');
const failure = (text: string, env: NodeJS.ProcessEnv = {}) => {
  try {
    parse(text, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.ok(!error.message.includes('\n'), 'one line');
    return error.message;
  }
  assert.fail('expected a ConfigError');
};

describe('configuration', () => {
  test('an empty file gives the built-in defaults', () => {
    const config = parse('');
    assert.equal(config.server.listen, '0.0.0.0:5001');
    assert.equal(config.server.realmPath, '/token');
    assert.equal(config.server.trustProxy, false);
    assert.deepEqual(config.server.tls, { cert: null, key: null });
    assert.deepEqual(config.token, {
      issuer: 'forgegate',
      service: 'container-registry',
      ttl: 900,
      algorithm: 'ES256',
      header: 'x5c',
      keyDir: './data/keys',
      refreshTtl: 2592000,
    });
    assert.deepEqual(config.cache, {
      redisUrl: null,
      keyPrefix: 'forgegate:',
      identityTtl: 60,
      decisionTtl: 60,
      negativeTtl: 10,
      staleIfError: 0,
    });
    assert.deepEqual(config.users, { htpasswd: null });
    assert.deepEqual(config.acl, []);
    assert.deepEqual(config.forges, [
      {
        name: 'gitlab',
        type: 'gitlab',
        url: 'https://gitlab.com',
        prefix: '',
        serviceToken: null,
        jobTokens: true,
        adminMode: true,
        anonymousPull: true,
        webhookSecret: null,
        timeout: 5,
        deletePermission: 'admin',
        admins: [],
        installationTokenPush: [],
        trustUserTokenRole: false,
        protectedRepositories: 'best-effort',
        jobTokenPushAllowlist: [],
      },
    ]);
  });

  test('the full shape of the configuration parses', () => {
    const config = parse(`
server: { listen: "127.0.0.1:5001", realmPath: /auth, trustProxy: true, tls: { cert: c.pem, key: k.pem } }
token: { issuer: me, service: reg, ttl: 300, algorithm: RS256, header: kid, keyDir: /k, refreshTtl: 600 }
cache: { redisUrl: "redis://127.0.0.1:6379/0", keyPrefix: "x:", identityTtl: 1, decisionTtl: 2, negativeTtl: 3, staleIfError: 4 }
users: { htpasswd: /etc/htpasswd }
acl:
  - { account: admin, type: registry, name: catalog, actions: ["*"] }
  - { account: ci-bot, name: "team/**", actions: [pull, push] }
forges:
  - { name: gl, type: gitlab, url: "https://gitlab.example.com", prefix: "", serviceToken: t, jobTokens: false, anonymousPull: false, webhookSecret: s, timeout: 2.5 }
  - { type: github, url: "https://api.github.com", prefix: gh }
`);
    assert.equal(config.acl[1]!.type, 'repository');
    assert.equal(config.forges[1]!.name, 'github');
    assert.equal(config.forges[1]!.prefix, 'gh/', 'a prefix is a path: the slash is added');
    assert.equal(config.forges[0]!.timeout, 2.5);
  });

  test('forges: [] serves static accounts only', () => {
    assert.deepEqual(parse('forges: []').forges, []);
  });

  test('${VAR} is replaced from the environment; ${account} is left for the ACL', () => {
    const config = parse(
      'forges:\n  - {type: gitlab, url: "https://g", serviceToken: "${GL_TOKEN}"}\nacl:\n  - {account: "*", name: "${account}/*", actions: [pull]}',
      { GL_TOKEN: 'glpat-x: {y}' },
    );
    assert.equal(config.forges[0]!.serviceToken, 'glpat-x: {y}');
    assert.equal(config.acl[0]!.name, '${account}/*');
  });

  const errors: [string, string, NodeJS.ProcessEnv?][] = [
    ['server:\n  lisen: x', 'config test.yaml: server.lisen: unknown key'],
    ['nonsense: 1', 'config test.yaml: nonsense: unknown key'],
    ['forges:\n  - {type: gitlab, url: "https://g", colour: red}', 'config test.yaml: forges[0].colour: unknown key'],
    [
      'token: {algorithm: HS256}',
      'config test.yaml: token.algorithm: Invalid option: expected one of "ES256"|"RS256" (got "HS256")',
    ],
    ['token: {header: jwk}', 'token.header'],
    ['token: {ttl: 30}', 'token.ttl'],
    ['token: {ttl: 1.5}', 'token.ttl'],
    ['token: {ttl: "900"}', 'token.ttl'],
    ['server: {listen: "nohost"}', 'server.listen: expected host:port'],
    ['server: {listen: "1.2.3.4:99999"}', 'server.listen: port must be at most 65535'],
    ['server: {realmPath: token}', 'server.realmPath'],
    ['server: {tls: {cert: a.pem}}', 'server.tls: set both cert and key'],
    ['cache: {redisUrl: "http://x"}', 'cache.redisUrl'],
    ['cache: {decisionTtl: -1}', 'cache.decisionTtl'],
    ['acl:\n  - {account: "/(/", name: x, actions: [pull]}', 'acl[0].account: invalid /regex/'],
    ['acl:\n  - {account: a, name: x, actions: [fly]}', 'acl[0].actions[0]'],
    ['acl:\n  - {account: a, name: x, actions: []}', 'acl[0].actions'],
    ['acl:\n  - {account: a, actions: [pull]}', 'acl[0].name'],
    ['forges:\n  - {type: gitea, url: "https://g"}', 'forges[0].type'],
    ['forges:\n  - {type: gitlab, url: "ftp://g"}', 'forges[0].url: expected an http(s) URL'],
    [
      'forges:\n  - {type: gitlab, url: "https://a"}\n  - {type: github, url: "https://b"}',
      'forges[1].prefix: only one forge may have the empty prefix',
    ],
    [
      'forges:\n  - {type: gitlab, url: "https://a", prefix: gl}\n  - {type: github, url: "https://b", prefix: "gl/x"}',
      'forges[1].prefix: prefix "gl/x/" overlaps',
    ],
    [
      'forges:\n  - {type: gitlab, url: "https://a", prefix: a}\n  - {type: gitlab, url: "https://b", prefix: b}',
      'forges[1].name: duplicate forge name "gitlab"',
    ],
    [
      'forges:\n  - {type: gitlab, url: "https://a", serviceToken: "${NOPE}"}',
      'forges[0].serviceToken: environment variable NOPE is not set',
    ],
    [
      'forges:\n  - {type: github, url: "https://g", installationTokenPush: [acme]}',
      'forges[0].installationTokenPush[0]: expected an owner/repo glob',
    ],
    [
      'forges:\n  - {type: github, url: "https://g", installationTokenPush: ["acme/app/x"]}',
      'forges[0].installationTokenPush[0]: expected an owner/repo glob',
    ],
    ['forges:\n  - {type: github, url: "https://g", trustUserTokenRole: "yes"}', 'forges[0].trustUserTokenRole'],
    ['forges:\n  - {name: static, type: gitlab, url: "https://a"}', 'forges[0].name: "static" is reserved'],
    ['forges:\n  - {name: none, type: github, url: "https://a"}', 'forges[0].name: "none" is reserved'],
    ['server: [', 'invalid YAML'],
    ['a: 1\na: 2', 'invalid YAML'],
    ['- 1', 'expected a mapping of sections'],
  ];
  for (const [text, expected] of errors) {
    test(`refuses ${JSON.stringify(text).slice(0, 70)}`, () =>
      assert.ok(failure(text).includes(expected), failure(text)));
  }

  test('secrets are never echoed in errors', () => {
    assert.ok(!failure('forges:\n  - {type: gitlab, url: "https://a", serviceToken: 12345}').includes('12345'));
  });

  test('--config, then $FORGEGATE_CONFIG, then defaults', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fg-config-'));
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.yaml');
    await writeFile(a, 'token: {issuer: from-a}');
    await writeFile(b, 'token: {issuer: from-b}');
    assert.equal((await loadConfig(a, { FORGEGATE_CONFIG: b })).config.token.issuer, 'from-a');
    assert.equal((await loadConfig(undefined, { FORGEGATE_CONFIG: b })).config.token.issuer, 'from-b');
    const defaults = await loadConfig(undefined, {});
    assert.equal(defaults.file, null);
    assert.equal(defaults.config.token.issuer, 'forgegate');
    await assert.rejects(loadConfig(join(dir, 'missing.yaml'), {}), /cannot read: ENOENT/);
  });

  test('the example configurations in config/ are valid', async () => {
    const { readdir } = await import('node:fs/promises');
    const dir = new URL('../../config/', import.meta.url);
    const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'));
    assert.ok(files.length > 0);
    for (const file of files)
      await loadConfig(new URL(file, dir).pathname, {
        GITLAB_SERVICE_TOKEN: 'x',
        GITLAB_WEBHOOK_SECRET: 'x',
        GITHUB_SERVICE_TOKEN: 'x',
      });
  });
});
