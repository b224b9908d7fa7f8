import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { tokenLane } from '../../src/http/token-lane.js';
import { createLogger } from '../../src/log.js';
import { makeTempDir } from '../support/processes.js';
import { basic, startForgegate, type TestForgegate } from '../support/forgegate.js';
import { textSink } from '../support/text-sink.js';

// The registry's token GET takes its own lane in front of Koa; every other spelling of the same
// request (a trailing slash, another case, HEAD) goes through Koa's token route. Both must
// answer alike, to the byte where the answer is not a fresh token, and write the same audit line.

const PASSWORD = 'alice-pass';
let fg: TestForgegate;

before(async () => {
  const dir = await makeTempDir('lane');
  const htpasswd = join(dir, 'htpasswd');
  writeFileSync(htpasswd, readFileSync(new URL('../fixtures/htpasswd', import.meta.url)));
  fg = await startForgegate({
    server: { trustProxy: true },
    token: { service: 'registry.test' },
    users: { htpasswd },
    acl: [{ account: '*', name: '${account}/**', actions: ['pull', 'push'] }],
  });
});
after(() => fg.stop());

interface Seen {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The headers an answer's meaning depends on (Date, Connection and Keep-Alive are Node's). */
const COMPARED = ['cache-control', 'pragma', 'content-type', 'www-authenticate', 'retry-after', 'x-request-id'];

async function ask(path: string, query: string, headers: Record<string, string> = {}): Promise<Seen> {
  const response = await fetch(`${fg.url}${path}?${query}`, { headers });
  const seen: Record<string, string> = {};
  for (const name of COMPARED) {
    const value = response.headers.get(name);
    if (value !== null) seen[name] = value;
  }
  return { status: response.status, headers: seen, body: await response.text() };
}

/** The audit line of the request whose X-Request-Id was `id`, without what differs per request. */
function auditLine(id: string): Record<string, unknown> {
  const line = fg.logs().find((l) => l.msg === 'token request' && l.reqId === id);
  assert.ok(line, `an audit line for ${id}`);
  const { time: _time, reqId: _reqId, latencyMs: _latency, ...rest } = line;
  return rest;
}

let next = 0;
/** The same request on the lane (/token) and through Koa (`koaPath`): statuses, headers, bodies and audit lines. */
async function both(query: string, authorization: string | undefined, koaPath = '/token/') {
  const headers = (id: string): Record<string, string> => ({
    'X-Request-Id': id,
    'X-Forwarded-For': '192.0.2.7, 10.0.0.1',
    'User-Agent': 'docker/27.0 go/go1.22',
    ...(authorization ? { Authorization: authorization } : {}),
  });
  const ids = [`lane-${next}`, `koa-${next++}`] as const;
  const lane = await ask('/token', query, headers(ids[0]));
  const koa = await ask(koaPath, query, headers(ids[1]));
  assert.equal(lane.headers['x-request-id'], ids[0]);
  assert.equal(koa.headers['x-request-id'], ids[1]);
  delete lane.headers['x-request-id'];
  delete koa.headers['x-request-id'];
  return { lane, koa, audit: [auditLine(ids[0]), auditLine(ids[1])] as const };
}

describe('the token lane and the Koa route answer alike', () => {
  test('a granted token: same headers, same claims, same audit line', async () => {
    const { lane, koa, audit } = await both(
      'service=registry.test&scope=repository:alice/app:pull,push',
      basic('alice', PASSWORD),
    );
    assert.equal(lane.status, 200);
    assert.deepEqual(lane.headers, koa.headers);
    assert.deepEqual(lane.headers, {
      'cache-control': 'no-store',
      pragma: 'no-cache',
      'content-type': 'application/json; charset=utf-8',
    });
    const [a, b] = [JSON.parse(lane.body), JSON.parse(koa.body)];
    assert.deepEqual(Object.keys(a), Object.keys(b));
    assert.deepEqual(decodeJwt(a.token).access, decodeJwt(b.token).access);
    assert.deepEqual(decodeJwt(a.token).access, [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]);
    assert.deepEqual(audit[0], audit[1]);
    assert.equal(audit[0].clientIp, '192.0.2.7', 'the first X-Forwarded-For entry, with trustProxy');
    assert.equal(audit[0].userAgent, 'docker/27.0 go/go1.22');
  });

  const failures: [string, string, string | undefined][] = [
    ['401, with its Basic challenge', 'service=registry.test&scope=repository:alice/app:pull', basic('alice', 'nope')],
    ['400, a bad scope', 'service=registry.test&scope=repository::pull', undefined],
    ['400, another service', 'service=elsewhere', undefined],
    ['400, a broken Authorization header', 'service=registry.test', 'Basic %%%'],
    // Its message quotes the scope: a body whose UTF-8 is longer than its characters.
    [
      '400, a scope that is not ASCII',
      `service=registry.test&scope=${encodeURIComponent('repository:régistre/中:pull')}`,
      undefined,
    ],
  ];
  for (const [name, query, authorization] of failures) {
    test(`${name}: the same answer byte for byte, the same audit line`, async () => {
      const { lane, koa, audit } = await both(query, authorization);
      assert.ok(lane.status >= 400 && lane.status < 500, String(lane.status));
      assert.deepEqual(lane, koa);
      assert.deepEqual(audit[0], audit[1]);
    });
  }

  test('the same request again, and again after a failure of the same text: the same answers', async () => {
    // The lane keeps what it read of recent requests (token-request.ts): a repeat is found,
    // not read anew, and must answer as the first did.
    for (let i = 0; i < 3; i++) {
      const { lane, audit } = await both(
        'service=registry.test&scope=repository:alice/app:pull',
        basic('alice', PASSWORD),
      );
      assert.equal(lane.status, 200);
      assert.deepEqual(decodeJwt(JSON.parse(lane.body).token).access, [
        { type: 'repository', name: 'alice/app', actions: ['pull'] },
      ]);
      assert.deepEqual(audit[0].requested, ['repository:alice/app:pull']);
      const failed = await both('service=registry.test&scope=repository::pull', basic('alice', PASSWORD));
      assert.equal(failed.lane.status, 400);
    }
  });

  test('anonymous, and another case of the path: alike', async () => {
    const { lane, koa, audit } = await both(
      'service=registry.test&scope=repository:alice/app:pull',
      undefined,
      '/TOKEN',
    );
    assert.equal(lane.status, 200);
    assert.deepEqual(lane.headers, koa.headers);
    assert.deepEqual(audit[0], audit[1]);
  });

  test('an unexpected failure: 500 on both, logged with the request id, no detail to the client', async () => {
    const authority = fg.runtime.authority;
    const issue = authority.issue;
    authority.issue = async () => {
      throw new Error('an internal detail');
    };
    try {
      const { lane, koa } = await both('service=registry.test', basic('alice', PASSWORD));
      assert.equal(lane.status, 500);
      assert.deepEqual(lane, koa);
      assert.ok(!lane.body.includes('internal detail'));
      const failed = fg.logs().filter((l) => l.msg === 'request failed');
      for (const id of [`lane-${next - 1}`, `koa-${next - 1}`])
        assert.ok(
          failed.some((l) => l.reqId === id),
          `"request failed" logged for ${id}`,
        );
    } finally {
      authority.issue = issue;
    }
  });

  test('a request id that is not a sane token is replaced on both', async () => {
    for (const path of ['/token', '/token/']) {
      const seen = await ask(path, 'service=registry.test', { 'X-Request-Id': 'two words' });
      assert.match(seen.headers['x-request-id']!, /^[0-9a-f-]{36}$/);
    }
  });

  test('HEAD goes to Koa: the GET route answers it without a body', async () => {
    const response = await fetch(`${fg.url}/token?service=registry.test`, { method: 'HEAD' });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.equal(await response.text(), '');
  });
});

describe('the token lane alone', () => {
  test('an answer Node refuses to write becomes a 500 in JSON, and the server lives on', async () => {
    const { sink, text } = textSink();
    const lane = tokenLane({
      paths: new Set(['/token']),
      // A header value Node refuses (a line break): writing the answer throws.
      endpoint: async () => ({ status: 200, headers: { 'X-Broken': 'a\nb' }, body: {} }),
      trustProxy: false,
      logger: createLogger('info', sink),
      basicRealm: 'registry.test',
    });
    const server = createServer((request, response) => {
      if (!lane(request, response)) response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      for (let i = 0; i < 2; i++) {
        const response = await fetch(`http://127.0.0.1:${port}/token?service=registry.test`);
        assert.equal(response.status, 500);
        assert.deepEqual(await response.json(), {
          errors: [{ code: 'UNKNOWN', message: 'internal error; see the server log' }],
        });
      }
      assert.match(text(), /"msg":"request failed"/);
    } finally {
      server.close();
    }
  });
});

test('a service name that is no header text still gets its 401 challenge, on the lane and through Koa', async () => {
  const service = 'say "hi" \\ régistre 中';
  const odd = await startForgegate({ token: { service } });
  try {
    for (const path of ['/token', '/token/']) {
      const response = await fetch(`${odd.url}${path}?scope=repository:a/b:pull`, {
        headers: { Authorization: basic('nobody', 'wrong') },
      });
      assert.equal(response.status, 401, path);
      const challenge = response.headers.get('www-authenticate')!;
      assert.equal(challenge, 'Basic realm="say \\"hi\\" \\\\ r?gistre ?"', path);
    }
  } finally {
    await odd.stop();
  }
});
