import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import { startForgegate, type TestForgegate } from '../support/forgegate.js';
import { CONTENT_SECURITY_POLICY } from '../../src/http/status/index.js';
import { dockerLogin, splitImage } from '../../src/http/status/image.js';

// POST /explain and GET / over real HTTP, against the fake GitLab: the verdicts and reasons
// of the Authority, the same audit line as the token endpoint (and never a secret), JSON
// errors for every bad input, the security headers, and the `ui` switches.

const SERVICE = 'registry.test';
const gitlab = new FakeGitLab();
const users = {
  rita: gitlab.addUser({ username: 'rita' }),
  dev: gitlab.addUser({ username: 'dev' }),
  bot: gitlab.addUser({ username: 'forgegate-bot', bot: true, is_admin: true }),
};
gitlab.addProject({ path_with_namespace: 'group/proj' });
gitlab.addMember('group/proj', users.rita.id, ACCESS.reporter);
gitlab.addMember('group/proj', users.dev.id, ACCESS.developer);
const tokens = {
  rita: gitlab.addToken({ token: 'glpat-rita-Explain1Secret', user_id: users.rita.id, scopes: ['api'] }).token,
  dev: gitlab.addToken({ token: 'glpat-dev-Explain2Secret', user_id: users.dev.id, scopes: ['api'] }).token,
  service: gitlab.addToken({
    token: 'glpat-bot-Explain3Service',
    user_id: users.bot.id,
    scopes: ['read_api'],
    kind: 'service_account',
  }).token,
};
const WRONG = 'glpat-nobody-Explain4Wrong';

let fg: TestForgegate;
/** ui.explain: false */
let fgNoExplain: TestForgegate;
/** ui.statusPage: false, and a service name that needs escaping in HTML */
let fgNoPage: TestForgegate;

before(async () => {
  const url = await gitlab.start();
  const forges = [{ type: 'gitlab', url, serviceToken: tokens.service }];
  fg = await startForgegate({ token: { service: SERVICE }, forges, ui: { registry: 'registry.example.test:5000' } });
  fgNoExplain = await startForgegate({ token: { service: '<b>"svc"</b>' }, forges, ui: { explain: false } });
  fgNoPage = await startForgegate({ token: { service: SERVICE }, forges, ui: { statusPage: false } });
});
after(async () => {
  await Promise.all([fg, fgNoExplain, fgNoPage].map((f) => f?.stop()));
  await gitlab.stop();
});

async function explain(body: unknown, target = fg, contentType = 'application/json') {
  const response = await fetch(`${target.url}/explain`, {
    method: 'POST',
    headers: { 'Content-Type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}

const verdict = (body: Record<string, any>, action: string) =>
  (body.verdicts as { action: string; granted: boolean; reason: string }[]).find((v) => v.action === action);

describe('POST /explain: the decision with its reasons', () => {
  test('a Reporter may pull but not push or delete, and is told why', async () => {
    const { status, body, headers } = await explain({ username: 'rita', password: tokens.rita, image: 'group/proj' });
    assert.equal(status, 200, 'answered');
    assert.equal(headers.get('cache-control'), 'no-store', 'never cached');
    assert.equal(body.authenticated, true, 'the token is valid');
    assert.equal(body.identity.subject, 'rita', 'the caller is rita');
    assert.equal(body.scope, 'repository:group/proj:pull,push,delete', 'all three actions are asked');
    assert.deepEqual(
      verdict(body, 'pull'),
      {
        action: 'pull',
        granted: true,
        rule: 'role',
        reason: 'pull granted: role Reporter (20) >= Reporter (20) on group/proj',
      },
      'pull',
    );
    assert.equal(
      verdict(body, 'push')?.reason,
      'push denied: role Reporter (20) < Developer (30) on group/proj',
      'the push denial names the roles',
    );
    assert.equal(verdict(body, 'delete')?.granted, false, 'delete is denied');
    assert.equal(
      body.login,
      'docker login registry.example.test:5000 --username rita --password-stdin',
      'the login line uses ui.registry',
    );
  });

  test('a Developer may push; the registry host and tag of a reference are set aside', async () => {
    const { body } = await explain({
      username: 'dev',
      password: tokens.dev,
      image: 'localhost:5000/group/proj:1.2@sha256:abc',
    });
    assert.equal(body.repository, 'group/proj', 'host, tag and digest are removed');
    assert.equal(verdict(body, 'push')?.granted, true, 'push is granted');
    assert.equal(
      body.login,
      'docker login localhost:5000 --username dev --password-stdin',
      'the login line names the host of the reference',
    );
  });

  test('no credential at all asks what anyone may do', async () => {
    const { body } = await explain({ image: 'group/proj' });
    assert.equal(body.identity.kind, 'anonymous', 'anonymous');
    assert.equal(verdict(body, 'pull')?.granted, false, 'a private project is closed to anyone');
    assert.match(verdict(body, 'pull')!.reason, /^pull denied: /, 'with a reason');
  });

  test('a refused credential is answered (200) with the words of the token endpoint, not the operator reason', async () => {
    const { status, body } = await explain({ username: 'rita', password: WRONG, image: 'group/proj' });
    assert.equal(status, 200, 'answered, without a Basic challenge');
    assert.deepEqual(
      [body.authenticated, body.message, body.verdicts],
      [false, 'invalid username or token', []],
      'not authenticated',
    );
    const line = fg.logs().findLast((l) => l.explain === true && l.outcome === 'unauthorized');
    assert.ok(line, 'the refusal is audited');
    assert.equal(line.subject, 'rita', 'with the username');
    assert.equal(typeof line.reason, 'string', 'and the operator reason in the log only');
  });

  test('writes the audit line of the token endpoint, marked explain', async () => {
    await fetch(`${fg.url}/token?service=${SERVICE}&scope=repository:group/proj:push`, {
      headers: { Authorization: `Basic ${Buffer.from(`rita:${tokens.rita}`).toString('base64')}` },
    });
    const tokenLine = fg.logs().findLast((l) => l.msg === 'token request' && l.explain === undefined);
    await explain({ username: 'rita', password: tokens.rita, image: 'group/proj' });
    const explainLine = fg.logs().findLast((l) => l.msg === 'token request' && l.explain === true);
    assert.ok(tokenLine && explainLine, 'both lines are written');
    const fields = (line: Record<string, unknown>) =>
      Object.keys(line)
        .filter((k) => !['explain', 'time'].includes(k))
        .sort();
    assert.deepEqual(fields(explainLine), fields(tokenLine), 'the same fields');
    assert.deepEqual(
      explainLine.denied,
      [
        'group/proj: push denied: role Reporter (20) < Developer (30) on group/proj',
        'group/proj: delete denied: role Reporter (20) < Maintainer (40) on group/proj',
      ],
      'the denials',
    );
  });

  test('no password or token ever reaches the log', () => {
    const logs = [fg, fgNoExplain, fgNoPage].map((f) => f.rawLogs()).join('\n');
    for (const secret of [tokens.rita, tokens.dev, WRONG])
      assert.ok(!logs.includes(secret), `a secret (${secret.slice(0, 10)}...) is in the log`);
  });
});

describe('POST /explain: bad input is a JSON 4xx', () => {
  test('a form or text body: 415', async () => {
    const form = await explain('username=rita&password=x&image=group/proj', fg, 'application/x-www-form-urlencoded');
    assert.equal(form.status, 415, 'form refused');
    assert.equal(form.body.errors[0].code, 'UNSUPPORTED', 'JSON error');
    assert.ok(!fg.rawLogs().includes('password=x'), 'the refused body is not logged');
  });

  test('broken JSON: 400; oversized: 413; unknown field or missing image: 400', async () => {
    assert.equal((await explain('{"image":', fg)).status, 400, 'broken JSON');
    const big = await explain({ image: 'group/proj', password: 'x'.repeat(20_000) });
    assert.deepEqual([big.status, big.body.errors[0].code], [413, 'REQUEST_TOO_LARGE'], 'oversized');
    const unknown = await explain({ image: 'group/proj', role: 'admin' });
    assert.equal(unknown.status, 400, 'unknown field');
    assert.match(unknown.body.errors[0].message, /role/, 'names the field');
    assert.equal((await explain({ username: 'rita' })).status, 400, 'no image');
    assert.equal((await explain({ username: 42, image: 'group/proj' })).status, 400, 'a number for a username');
    assert.equal((await explain('[1,2]')).status, 400, 'not an object');
  });

  test('an invalid image name: 400 INVALID_SCOPE', async () => {
    const { status, body } = await explain({ image: 'Group/Proj' });
    assert.deepEqual([status, body.errors[0].code], [400, 'INVALID_SCOPE'], 'invalid name');
  });

  test('GET /explain: 405', async () => {
    const response = await fetch(`${fg.url}/explain`);
    assert.equal(response.status, 405, 'only POST');
  });
});

describe('GET /: the page and its assets', () => {
  test('HTML with a strict CSP and no-store', async () => {
    const response = await fetch(`${fg.url}/`);
    assert.equal(response.status, 200, 'served');
    assert.match(response.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/, 'HTML');
    assert.equal(response.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY, 'the CSP');
    assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'.*script-src 'self'.*frame-ancestors 'none'/, 'strict');
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff', 'nosniff');
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer', 'no referrer');
    assert.equal(response.headers.get('cache-control'), 'no-store', 'live status is not cached');
    const html = await response.text();
    assert.ok(!/<script>|<style>|\sstyle=|\son[a-z]+=/.test(html), 'no inline script, style or handler');
    assert.ok(html.includes('id="explain-form"'), 'the form is shown');
    for (const [, path] of html.matchAll(/(?:href|src)="(assets\/[^"]+)"/g)) {
      const asset = await fetch(`${fg.url}/${path}`);
      assert.equal(asset.status, 200, `${path} is served`);
      assert.match(
        asset.headers.get('content-type') ?? '',
        path!.endsWith('.css') ? /^text\/css/ : /^text\/javascript/,
        `${path} has its type`,
      );
      assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable', 'hashed assets are kept');
      assert.equal(asset.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY, 'assets carry the CSP too');
      await asset.text();
    }
    const missing = await fetch(`${fg.url}/assets/nothing.js`);
    assert.deepEqual(
      [missing.status, ((await missing.json()) as any).errors[0].code],
      [404, 'NOT_FOUND'],
      'an unknown asset is a JSON 404',
    );
  });

  test('ui.explain false: no form, and POST /explain is 404; values are escaped', async () => {
    const html = await (await fetch(`${fgNoExplain.url}/`)).text();
    assert.ok(!html.includes('explain-form'), 'no form');
    assert.ok(
      html.includes('&lt;b&gt;&quot;svc&quot;&lt;/b&gt;') && !html.includes('<b>"svc"</b>'),
      'the service name is escaped',
    );
    const { status, body } = await explain({ image: 'group/proj' }, fgNoExplain);
    assert.deepEqual([status, body.errors[0].code], [404, 'NOT_FOUND'], 'the endpoint is off');
  });

  test('ui.statusPage false: GET / is a JSON 404, POST /explain still answers', async () => {
    const page = await fetch(`${fgNoPage.url}/`);
    assert.equal(page.status, 404, 'no page');
    await page.json();
    assert.equal((await explain({ image: 'group/proj' }, fgNoPage)).status, 200, 'explain answers');
  });

  test('the other endpoints are untouched', async () => {
    for (const path of ['/healthz', '/readyz', '/.well-known/jwks.json']) {
      const response = await fetch(`${fg.url}${path}`);
      assert.equal(response.status, 200, `${path} answers`);
      assert.equal(response.headers.get('content-security-policy'), null, `${path} has no page headers`);
      await response.json();
    }
  });
});

describe('image references', () => {
  test('split as docker does', () => {
    assert.deepEqual(splitImage('group/proj'), { registryHost: null, repository: 'group/proj' }, 'plain');
    assert.deepEqual(splitImage('group/proj:1.0'), { registryHost: null, repository: 'group/proj' }, 'tag');
    assert.deepEqual(
      splitImage(' registry.example.com/a/b@sha256:0f '),
      { registryHost: 'registry.example.com', repository: 'a/b' },
      'host and digest',
    );
    assert.deepEqual(splitImage('localhost/x'), { registryHost: 'localhost', repository: 'x' }, 'localhost');
    assert.deepEqual(
      splitImage('[::1]:5000/x'.replace('[::1]', 'host')),
      { registryHost: 'host:5000', repository: 'x' },
      'port',
    );
    assert.deepEqual(splitImage('proj'), { registryHost: null, repository: 'proj' }, 'one component');
  });

  test('the login line never holds the secret and quotes odd usernames', () => {
    const line = dockerLogin(null, { kind: 'password', username: "o'brien x", password: 's3cret' });
    assert.equal(line, `docker login REGISTRY --username 'o'\\''brien x' --password-stdin`, 'quoted');
    assert.ok(!line.includes('s3cret'), 'no secret');
  });
});

describe('POST /explain: the brute-force limits of the token endpoint', () => {
  test('failed logins through the form ban the account: 429 with Retry-After, and the forge is not asked', async () => {
    const forges = [{ type: 'gitlab', url: gitlab.url }];
    const limited = await startForgegate({
      token: { service: SERVICE },
      forges,
      limits: { enabled: true, failures: 2, window: 180, ban: 900 },
    });
    try {
      for (let i = 0; i < 2; i++) {
        const { status, body } = await explain(
          { username: 'mallory', password: `${WRONG}${i}`, image: 'group/proj' },
          limited,
        );
        assert.equal(status, 200, `attempt ${i + 1} is answered`);
        assert.equal(body.authenticated, false, `attempt ${i + 1} fails`);
      }
      gitlab.resetCalls();
      const banned = await explain({ username: 'mallory', password: tokens.rita, image: 'group/proj' }, limited);
      assert.equal(banned.status, 429, 'the failure that reaches the count bans, as on the token endpoint');
      assert.ok(Number(banned.headers.get('retry-after')) > 0, `Retry-After: ${banned.headers.get('retry-after')}`);
      assert.ok(Array.isArray(banned.body.errors), `a JSON error body: ${JSON.stringify(banned.body)}`);
      assert.equal(gitlab.calls(), 0, 'a banned request never reaches the forge');
    } finally {
      await limited.stop();
    }
  });
});
