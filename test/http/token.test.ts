import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { makeTempDir } from '../support/processes.js';
import { basic, startForgegate, type TestForgegate } from '../support/forgegate.js';

// docs/protocol.md section 4, status by status, over real HTTP, GET and POST.

const PASSWORDS = { admin: 'admin-pass', alice: 'alice-pass', ci: 'ci:pass:with:colons' };
let fg: TestForgegate;
let htpasswd: string;

before(async () => {
  const dir = await makeTempDir('http');
  htpasswd = join(dir, 'htpasswd');
  writeFileSync(htpasswd, (await import('node:fs')).readFileSync(new URL('../fixtures/htpasswd', import.meta.url)));
  fg = await startForgegate({
    token: { service: 'registry.test', issuer: 'forgegate-test' },
    users: { htpasswd },
    acl: [
      { account: 'admin', name: '**', actions: ['*'] },
      { account: 'admin', type: 'registry', name: 'catalog', actions: ['*'] },
      { account: '*', name: '${account}/**', actions: ['pull', 'push', 'delete'] },
      { account: '*', name: 'shared/*', actions: ['pull'] },
    ],
  });
});
after(() => fg.stop());

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function get(query: string, init: { authorization?: string; path?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.authorization) headers.Authorization = init.authorization;
  const response = await fetch(`${fg.url}${init.path ?? '/token'}?${query}`, { headers });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

async function post(
  form: Record<string, string | string[]>,
  contentType = 'application/x-www-form-urlencoded',
  path = '/token',
): Promise<Answer> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(form)) for (const v of [value].flat()) params.append(key, v);
  const response = await fetch(`${fg.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': contentType },
    body: params.toString(),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

const access = (token: string) => decodeJwt(token).access;

/** alice's password grant with access_type=offline: the answer carries a refresh token. */
const offlineLogin = () =>
  post({
    grant_type: 'password',
    username: 'alice',
    password: PASSWORDS.alice,
    service: 'registry.test',
    access_type: 'offline',
  });

describe('GET: success', () => {
  test('login without scope: 200, both token fields, integer expires_in, RFC 3339 issued_at, empty access', async () => {
    const { status, body, headers } = await get('service=registry.test&account=alice', {
      authorization: basic('alice', PASSWORDS.alice),
    });
    assert.equal(status, 200);
    assert.equal(body.token, body.access_token);
    assert.ok(Number.isInteger(body.expires_in) && body.expires_in >= 60);
    assert.match(body.issued_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(body.refresh_token, undefined);
    assert.deepEqual(access(body.token), []);
    assert.equal(decodeJwt(body.token).sub, 'alice');
    assert.equal(decodeJwt(body.token).aud, 'registry.test');
    assert.equal(headers.get('cache-control'), 'no-store');
    assert.match(headers.get('content-type')!, /^application\/json/);
  });

  test('the intersection of requested and granted, never 403', async () => {
    const scope = encodeURIComponent(
      'repository:alice/app:pull,push,delete repository:shared/base:pull,push repository:bob/app:pull',
    );
    const { status, body } = await get(`service=registry.test&scope=${scope}`, {
      authorization: basic('alice', PASSWORDS.alice),
    });
    assert.equal(status, 200);
    assert.deepEqual(access(body.token), [
      { type: 'repository', name: 'alice/app', actions: ['pull', 'push', 'delete'] },
      { type: 'repository', name: 'shared/base', actions: ['pull'] },
    ]);
  });

  test('Go clients encode the space as +; repeated scope values are unioned', async () => {
    const { body } = await get(
      'service=registry.test&scope=repository:alice/a:pull+repository:alice/b:pull&scope=repository:alice/a:push',
      {
        authorization: basic('alice', PASSWORDS.alice),
      },
    );
    assert.deepEqual(access(body.token), [
      { type: 'repository', name: 'alice/a', actions: ['pull', 'push'] },
      { type: 'repository', name: 'alice/b', actions: ['pull'] },
    ]);
  });

  test('a password containing colons', async () => {
    const { status, body } = await get('service=registry.test&scope=repository:ci/x:push', {
      authorization: basic('ci', PASSWORDS.ci),
    });
    assert.equal(status, 200);
    assert.deepEqual(access(body.token), [{ type: 'repository', name: 'ci/x', actions: ['push'] }]);
  });

  test('anonymous: 200 with empty access', async () => {
    const { status, body } = await get('service=registry.test&scope=repository:shared/base:pull');
    assert.equal(status, 200);
    assert.deepEqual(access(body.token), []);
    assert.equal(decodeJwt(body.token).sub, '');
  });

  test('the catalog needs its explicit rule', async () => {
    const admin = await get('service=registry.test&scope=registry:catalog:*', {
      authorization: basic('admin', PASSWORDS.admin),
    });
    assert.deepEqual(access(admin.body.token), [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    const alice = await get('service=registry.test&scope=registry:catalog:*', {
      authorization: basic('alice', PASSWORDS.alice),
    });
    assert.deepEqual(access(alice.body.token), []);
  });

  test('repository(plugin) comes back with its class', async () => {
    const { body } = await get(`service=registry.test&scope=${encodeURIComponent('repository(plugin):alice/p:pull')}`, {
      authorization: basic('alice', PASSWORDS.alice),
    });
    assert.deepEqual(access(body.token), [{ type: 'repository', class: 'plugin', name: 'alice/p', actions: ['pull'] }]);
  });

  test('a missing service means the configured one', async () => {
    const { status, body } = await get('scope=repository:alice/a:pull', {
      authorization: basic('alice', PASSWORDS.alice),
    });
    assert.equal(status, 200);
    assert.equal(decodeJwt(body.token).aud, 'registry.test');
  });

  test('/auth/token serves the same endpoint (autoredirect)', async () => {
    const { status, body } = await get('service=registry.test', {
      authorization: basic('alice', PASSWORDS.alice),
      path: '/auth/token',
    });
    assert.equal(status, 200);
    assert.ok(body.token);
  });

  test('the header carries x5c and the libtrust kid', async () => {
    const { body } = await get('service=registry.test', { authorization: basic('alice', PASSWORDS.alice) });
    const header = decodeProtectedHeader(body.token);
    assert.equal(header.kid, fg.runtime.key.kid);
    assert.deepEqual(header.x5c, [fg.runtime.key.certificateBase64]);
  });
});

describe('GET: failures', () => {
  const unauthorized: [string, string][] = [
    ['wrong password', basic('alice', 'nope')],
    ['unknown user', basic('mallory', 'x')],
  ];
  for (const [name, authorization] of unauthorized) {
    test(`401 for ${name}, JSON errors and a Basic challenge`, async () => {
      const { status, body, headers } = await get('service=registry.test&scope=repository:alice/a:pull', {
        authorization,
      });
      assert.equal(status, 401);
      assert.equal(body.errors[0].code, 'UNAUTHORIZED');
      assert.equal(typeof body.errors[0].message, 'string');
      assert.match(headers.get('www-authenticate')!, /^Basic realm="/);
    });
  }

  const bad: [string, string, string?][] = [
    ['unknown service', 'service=other-registry'],
    ['scope with missing parts', 'scope=repository:alice'],
    ['scope with an empty name', 'scope=repository::pull'],
    ['garbage scope', `scope=${encodeURIComponent('\u0000\u00ff<script>')}`],
    ['10,000-character scope', `scope=repository:${'a'.repeat(10_000)}:pull`],
    ['hundreds of scopes', Array.from({ length: 300 }, (_, i) => `scope=repository:r/n${i}:pull`).join('&')],
    ['service given twice, differently', 'service=registry.test&service=x'],
    ['oversized account-free parameter', `service=${'s'.repeat(2000)}`],
    ['broken Basic header', 'service=registry.test', 'Basic %%%'],
    ['Basic without a colon', 'service=registry.test', `Basic ${Buffer.from('alice').toString('base64')}`],
    ['another auth scheme', 'service=registry.test', 'Bearer abc.def.ghi'],
  ];
  for (const [name, query, authorization] of bad) {
    test(`400 for ${name}`, async () => {
      const { status, body } = await get(query, authorization ? { authorization } : {});
      assert.equal(status, 400);
      assert.ok(['INVALID_REQUEST', 'INVALID_SCOPE'].includes(body.errors[0].code), body.errors[0].code);
      assert.ok(body.errors[0].message.length < 300, 'messages stay short');
    });
  }
});

describe('POST (OAuth2 form)', () => {
  test('password grant: 200 with access_token', async () => {
    const { status, body } = await post({
      grant_type: 'password',
      username: 'alice',
      password: PASSWORDS.alice,
      service: 'registry.test',
      client_id: 'containerd',
      scope: 'repository:alice/a:pull,push',
    });
    assert.equal(status, 200);
    assert.ok(body.access_token);
    assert.deepEqual(access(body.access_token), [{ type: 'repository', name: 'alice/a', actions: ['pull', 'push'] }]);
    assert.equal(body.refresh_token, undefined);
  });

  test('client_id may be missing; content type may carry a charset; scope may repeat or be space-joined', async () => {
    const { status, body } = await post(
      {
        grant_type: 'password',
        username: 'alice',
        password: PASSWORDS.alice,
        service: 'registry.test',
        scope: ['repository:alice/a:pull repository:alice/b:pull', 'repository:alice/a:push'],
      },
      'application/x-www-form-urlencoded; charset=utf-8',
    );
    assert.equal(status, 200);
    assert.deepEqual(access(body.access_token), [
      { type: 'repository', name: 'alice/a', actions: ['pull', 'push'] },
      { type: 'repository', name: 'alice/b', actions: ['pull'] },
    ]);
  });

  test('access_type=offline returns a refresh token; refresh_token grant uses it, again and again', async () => {
    const login = await offlineLogin();
    assert.equal(login.status, 200);
    const refresh = login.body.refresh_token as string;
    assert.ok(refresh && !refresh.includes('alice'));
    for (let i = 0; i < 2; i++) {
      const { status, body } = await post({
        grant_type: 'refresh_token',
        refresh_token: refresh,
        service: 'registry.test',
        client_id: 'docker',
        scope: 'repository:alice/a:pull',
      });
      assert.equal(status, 200);
      assert.equal(decodeJwt(body.access_token).sub, 'alice');
      assert.deepEqual(access(body.access_token), [{ type: 'repository', name: 'alice/a', actions: ['pull'] }]);
      assert.equal(body.refresh_token, undefined, 'not rotated, not re-sent unless asked');
    }
    const again = await post({
      grant_type: 'refresh_token',
      refresh_token: refresh,
      service: 'registry.test',
      access_type: 'offline',
    });
    assert.equal(again.body.refresh_token, refresh, 'never rotated');
  });

  test('401 invalid_grant for a wrong password, a tampered or foreign refresh token', async () => {
    const wrong = await post({ grant_type: 'password', username: 'alice', password: 'nope', service: 'registry.test' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_grant');
    assert.equal(typeof wrong.body.error_description, 'string');

    const login = await offlineLogin();
    const refresh = login.body.refresh_token as string;
    const tampered = refresh.slice(0, -4) + (refresh.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    for (const token of [tampered, 'not-a-token', 'a.b.c.d.e', refresh.split('.').reverse().join('.')]) {
      const { status, body } = await post({
        grant_type: 'refresh_token',
        refresh_token: token,
        service: 'registry.test',
      });
      assert.equal(status, 401, token.slice(0, 20));
      assert.equal(body.error, 'invalid_grant');
    }
  });

  const bad: [string, Record<string, string>, string, string][] = [
    [
      'an unsupported grant type',
      { grant_type: 'client_credentials', service: 'registry.test' },
      'application/x-www-form-urlencoded',
      'unsupported_grant_type',
    ],
    ['a missing grant type', { service: 'registry.test' }, 'application/x-www-form-urlencoded', 'invalid_request'],
    [
      'a password grant without password',
      { grant_type: 'password', username: 'alice' },
      'application/x-www-form-urlencoded',
      'invalid_request',
    ],
    [
      'a refresh grant without token',
      { grant_type: 'refresh_token' },
      'application/x-www-form-urlencoded',
      'invalid_request',
    ],
    [
      'an unknown service',
      { grant_type: 'password', username: 'alice', password: PASSWORDS.alice, service: 'elsewhere' },
      'application/x-www-form-urlencoded',
      'invalid_request',
    ],
    [
      'a garbage scope',
      { grant_type: 'password', username: 'alice', password: PASSWORDS.alice, scope: 'repository' },
      'application/x-www-form-urlencoded',
      'invalid_scope',
    ],
    [
      'the wrong content type',
      { grant_type: 'password', username: 'alice', password: PASSWORDS.alice },
      'text/plain',
      'invalid_request',
    ],
    ['a JSON body', { grant_type: 'password' }, 'application/json', 'invalid_request'],
  ];
  for (const [name, form, contentType, error] of bad) {
    test(`400 ${error} for ${name}`, async () => {
      const { status, body } = await post(form, contentType);
      assert.equal(status, 400);
      assert.equal(body.error, error);
      assert.equal(typeof body.error_description, 'string');
    });
  }

  test('a huge body is refused with JSON, not a crash', async () => {
    const response = await fetch(`${fg.url}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `scope=${'a'.repeat(200_000)}`,
    });
    assert.equal(response.status, 413);
    assert.equal(((await response.json()) as any).error, 'invalid_request');
  });

  test('a refresh token for another service is refused', async () => {
    const other = await startForgegate({
      token: { service: 'other.test', keyDir: fg.config.token.keyDir },
      users: { htpasswd },
      acl: [],
    });
    try {
      const login = await fetch(`${other.url}/token?service=other.test&offline_token=true`, {
        headers: { Authorization: basic('alice', PASSWORDS.alice) },
      });
      const refresh = ((await login.json()) as any).refresh_token;
      const { status } = await post({ grant_type: 'refresh_token', refresh_token: refresh, service: 'registry.test' });
      assert.equal(status, 401);
    } finally {
      await other.stop();
    }
  });
});

describe('refresh tokens over GET', () => {
  test('offline_token=true returns one after authentication, never for anonymous', async () => {
    const anonymous = await get('service=registry.test&offline_token=true');
    assert.equal(anonymous.body.refresh_token, undefined);
    const login = await get('service=registry.test&offline_token=true', {
      authorization: basic('alice', PASSWORDS.alice),
    });
    assert.ok(login.body.refresh_token);
  });

  test('as a Basic password with an empty user', async () => {
    const login = await get('service=registry.test&offline_token=true', {
      authorization: basic('alice', PASSWORDS.alice),
    });
    const { status, body } = await get('service=registry.test&scope=repository:alice/x:push', {
      authorization: basic('', login.body.refresh_token),
    });
    assert.equal(status, 200);
    assert.deepEqual(access(body.token), [{ type: 'repository', name: 'alice/x', actions: ['push'] }]);
  });

  test('stops working once the account is deleted', async () => {
    const dir = await makeTempDir('refresh');
    const file = join(dir, 'htpasswd');
    writeFileSync(file, (await import('node:fs')).readFileSync(htpasswd));
    const own = await startForgegate({
      token: { service: 'registry.test' },
      users: { htpasswd: file },
      acl: [{ account: '*', name: '${account}/**', actions: ['pull'] }],
    });
    try {
      const login = await fetch(`${own.url}/token?service=registry.test&offline_token=true`, {
        headers: { Authorization: basic('alice', PASSWORDS.alice) },
      });
      const refresh = ((await login.json()) as any).refresh_token as string;
      const use = () =>
        fetch(`${own.url}/token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, service: 'registry.test' }),
        });
      assert.equal((await use()).status, 200);
      writeFileSync(
        file,
        (await import('node:fs'))
          .readFileSync(htpasswd, 'utf8')
          .split('\n')
          .filter((l) => !l.startsWith('alice:'))
          .join('\n'),
      );
      await sleep(1100);
      const refused = await use();
      assert.equal(refused.status, 401);
      assert.equal(((await refused.json()) as any).error, 'invalid_grant');
    } finally {
      await own.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('other endpoints and malformed HTTP', () => {
  test('healthz, readyz, jwks', async () => {
    assert.equal((await fetch(`${fg.url}/healthz`)).status, 200);
    const ready = await fetch(`${fg.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as any).dependencies.keys.kid, fg.runtime.key.kid);
    const jwks = (await (await fetch(`${fg.url}/.well-known/jwks.json`)).json()) as any;
    assert.equal(jwks.keys[0].kid, fg.runtime.key.kid);
  });

  test('/metrics counts requests and verdicts by rule code, never by subject or project', async () => {
    await get('service=registry.test&scope=repository:alice/m:pull', {
      authorization: basic('alice', PASSWORDS.alice),
    });
    await get('service=registry.test&scope=repository:alice/m:pull', { authorization: basic('alice', 'wrong') });
    const response = await fetch(`${fg.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^text\/plain/);
    const text = await response.text();
    assert.match(text, /forgegate_token_requests_total\{outcome="granted",credential="password",source="static"\} \d+/);
    assert.match(
      text,
      /forgegate_token_requests_total\{outcome="unauthorized",credential="password",source="none"\} \d+/,
    );
    assert.match(
      text,
      /forgegate_verdicts_total\{action="pull",verdict="granted",rule="acl-rule",source="static"\} \d+/,
    );
    assert.match(text, /forgegate_token_request_duration_seconds_bucket/);
    assert.match(text, /process_resident_memory_bytes/);
    assert.ok(!text.includes('alice'), 'no subject or image name in labels');
  });

  test('unknown path: 404 JSON; wrong method: 405 JSON with Allow', async () => {
    const missing = await fetch(`${fg.url}/nope`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as any).errors[0].code, 'NOT_FOUND');
    const put = await fetch(`${fg.url}/token`, { method: 'PUT' });
    assert.equal(put.status, 405);
    assert.match(put.headers.get('allow')!, /GET/);
    assert.ok(((await put.json()) as any).errors);
    const unrouted = await fetch(`${fg.url}/token`, { method: 'PROPFIND' });
    assert.equal(unrouted.status, 405, "a method no route knows is the client's mistake, not a 501");
    const invalid = await fetch(`${fg.url}/token`, { method: 'FROB' });
    assert.equal(invalid.status, 400, "Node's parser rejects methods HTTP does not define");
  });

  async function raw(request: string): Promise<string> {
    const { port } = new URL(fg.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end(request));
      let data = '';
      socket.on('data', (chunk) => (data += chunk));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
  }

  test('oversized headers get a JSON 431', async () => {
    const answer = await raw(`GET /token HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(answer, /^HTTP\/1.1 431/);
    assert.match(answer, /"REQUEST_TOO_LARGE"/);
  });

  test('binary junk gets a JSON 400', async () => {
    const answer = await raw('\u0000\u0001\u0002GARBAGE\r\n\r\n');
    assert.match(answer, /^HTTP\/1.1 400/);
    assert.match(answer, /"INVALID_REQUEST"/);
  });
});

describe('audit log', () => {
  test('one JSON line per token request, with outcome, scopes and reasons, and no secret', async () => {
    const before = fg.logs().length;
    await get('service=registry.test&scope=repository:bob/x:push', { authorization: basic('alice', PASSWORDS.alice) });
    const line = fg
      .logs()
      .slice(before)
      .find((l) => l.msg === 'token request')!;
    assert.equal(line.subject, 'alice');
    assert.equal(line.outcome, 'denied', 'nothing asked for was granted');
    assert.deepEqual(line.requested, ['repository:bob/x:push']);
    assert.deepEqual(line.granted, []);
    assert.equal(
      (line.denied as string[])[0],
      'bob/x: push denied: no acl rule matches account "alice" on repository bob/x',
    );
    for (const field of ['time', 'reqId', 'clientIp', 'userAgent', 'credential', 'cache', 'latencyMs'])
      assert.ok(field in line, field);

    const text = fg.rawLogs();
    for (const secret of Object.values(PASSWORDS)) assert.ok(!text.includes(secret), `log contains ${secret}`);
    for (const [user, password] of Object.entries(PASSWORDS))
      assert.ok(!text.includes(basic(user, password).slice(6)), 'no Authorization header');
    assert.ok(!/"refresh_token"/.test(text));
  });

  test('the outcome of an answered request says how much of it was granted', async () => {
    const outcomeOf = async (query: string) => {
      const before = fg.logs().length;
      const response = await get(query, { authorization: basic('alice', PASSWORDS.alice) });
      assert.equal(response.status, 200);
      return fg
        .logs()
        .slice(before)
        .find((l) => l.msg === 'token request')!.outcome;
    };
    assert.equal(await outcomeOf('service=registry.test&scope=repository:alice/app:pull,push'), 'granted');
    assert.equal(await outcomeOf('service=registry.test&scope=repository:shared/base:pull,push'), 'partial');
    assert.equal(
      await outcomeOf('service=registry.test&scope=repository:alice/app:pull&scope=repository:bob/x:pull'),
      'partial',
    );
    assert.equal(await outcomeOf('service=registry.test&scope=repository:bob/x:pull,push'), 'denied');
    assert.equal(await outcomeOf('service=registry.test'), 'login', 'no scope: a login, nothing to grant');
  });
});
