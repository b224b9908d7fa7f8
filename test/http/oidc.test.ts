import assert from 'node:assert/strict';
import { after, before, describe, mock, test } from 'node:test';
import { decodeJwt } from 'jose';
import { FakeGitHub } from '../fakes/github.js';
import { FakeGitLab } from '../fakes/gitlab.js';
import { FakeOidcIssuer, githubClaims, gitlabClaims, hmacToken, unsignedToken } from '../fakes/oidc-issuer.js';
import { startForgegate, type TestForgegate } from '../support/forgegate.js';
import { granted, repo, tokenClient } from '../support/token-client.js';

// CI ID tokens over real HTTP: as docker-login passwords. forgegate in-process with
// GitHub under "gh/" and GitLab under "", each with its CI issuer on loopback (JWKS served by
// a fake, tokens signed by the test). A job gets its own project by its issuer's rules and is
// anonymous elsewhere: public projects only.

const SERVICE = 'registry.test';
const gh = new FakeGitHub();
const gl = new FakeGitLab();
const actions = new FakeOidcIssuer();
const gitlabCi = new FakeOidcIssuer();
let fg: TestForgegate;
const client = tokenClient(SERVICE, () => fg);
/** Every ID token sent: none may reach a log line. */
const sent: string[] = [];

async function ask(password: string, scope: string | string[], user = 'oidc', extraQuery = '') {
  sent.push(password);
  return client.token(user, password, scope, fg, extraQuery);
}

before(async () => {
  const [ghUrl, glUrl] = await Promise.all([gh.start(), gl.start(), actions.start(), gitlabCi.start()]);
  gh.addOrg({ login: 'acme' });
  gh.addRepo({ full_name: 'acme/app', visibility: 'private' });
  gh.addRepo({ full_name: 'acme/public-lib', visibility: 'public' });
  gh.addRepo({ full_name: 'acme/secret', visibility: 'private' });
  const bot = gl.addUser({ username: 'forgegate-bot', is_admin: true, bot: true });
  gl.addToken({ token: 'glpat-service0000000000', user_id: bot.id, scopes: ['read_api'] });
  gl.addProject({ path_with_namespace: 'group/app', id: 901, visibility: 'private' });
  gl.addProject({ path_with_namespace: 'group/public', visibility: 'public' });
  gl.addProject({ path_with_namespace: 'group/private', visibility: 'private' });

  fg = await startForgegate({
    token: { service: SERVICE },
    forges: [
      { type: 'gitlab', url: glUrl, serviceToken: 'glpat-service0000000000' },
      { type: 'github', url: ghUrl, prefix: 'gh/' },
    ],
    oidc: [
      {
        issuer: actions.url,
        audience: SERVICE,
        preset: 'github-actions',
        jwksUrl: `${actions.url}/jwks`,
        forge: 'github',
        rules: [
          // Pinned to the immutable id: a repository re-registered under the name gets nothing more.
          {
            project: 'acme/app',
            projectId: '4242',
            actions: ['pull', 'push'],
            when: { ref_protected: true },
            unless: { event_name: ['pull_request', 'pull_request_target'] },
            alsoPull: ['acme/secret/base'],
          },
        ],
      },
      // Discovery finds the JWKS; the preset's default rule applies.
      { issuer: gitlabCi.url, audience: SERVICE, preset: 'gitlab', forge: 'gitlab' },
    ],
  });
});

after(async () => {
  await fg?.stop();
  await Promise.all([gh.stop(), gl.stop(), actions.stop(), gitlabCi.stop()]);
});

describe('GitHub Actions ID tokens', () => {
  test("a valid token grants push on the job's own project, with any username", async () => {
    const token = await actions.sign(githubClaims('acme/app'));
    for (const user of ['oidc', 'anything', '']) {
      const answer = await ask(token, repo('gh/acme/app', 'pull,push'), user);
      assert.equal(answer.status, 200, `user "${user}": ${JSON.stringify(answer.body)}`);
      assert.deepEqual(answer.access, granted('gh/acme/app', 'pull', 'push'));
    }
    const answer = await ask(token, repo('gh/acme/app/sub/image', 'pull,push'));
    assert.deepEqual(
      answer.access,
      granted('gh/acme/app/sub/image', 'pull', 'push'),
      'images under the repository too',
    );
    assert.equal(decodeJwt(answer.body.token).sub, 'repo:acme/app:ref:refs/heads/main', 'the JWT names the job');
  });

  test('delete and * are not granted: the rule says pull and push', async () => {
    const answer = await ask(await actions.sign(githubClaims('acme/app')), repo('gh/acme/app', '*'));
    assert.deepEqual(answer.access, granted('gh/acme/app', 'pull', 'push'));
  });

  test('elsewhere the job is anonymous: public repositories pull, private ones nothing', async () => {
    const token = await actions.sign(githubClaims('acme/app'));
    const answer = await ask(token, [
      repo('gh/acme/public-lib', 'pull,push'),
      repo('gh/acme/secret', 'pull'),
      repo('group/public', 'pull,push'),
    ]);
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.access, [
      { type: 'repository', name: 'gh/acme/public-lib', actions: ['pull'] },
      { type: 'repository', name: 'group/public', actions: ['pull'] },
    ]);
  });

  test("the rule's alsoPull lets it pull a named private image, and no more", async () => {
    const answer = await ask(await actions.sign(githubClaims('acme/app')), repo('gh/acme/secret/base', 'pull,push'));
    assert.deepEqual(answer.access, granted('gh/acme/secret/base', 'pull'));
  });

  test('an unprotected ref and a pull-request event reduce the grant to pull', async () => {
    const feature = await actions.sign(githubClaims('acme/app', { ref: 'refs/heads/feature', ref_protected: 'false' }));
    assert.deepEqual((await ask(feature, repo('gh/acme/app', 'pull,push'))).access, granted('gh/acme/app', 'pull'));
    const pr = await actions.sign(githubClaims('acme/app', { event_name: 'pull_request', ref: 'refs/pull/7/merge' }));
    assert.deepEqual((await ask(pr, repo('gh/acme/app', 'pull,push'))).access, granted('gh/acme/app', 'pull'));
    const line = fg.logs().findLast((l) => l.msg === 'token request') as Record<string, any>;
    assert.match(
      line.denied[0],
      /push denied: event_name is "pull_request", which rules\[0\]\.unless excludes for ID token of acme\/app \(issuer github-actions, ref refs\/pull\/7\/merge, workflow acme\/app\/\.github\/workflows\/build\.yml@refs\/pull\/7\/merge\): pull only/,
    );
  });

  test('the same name under another repository_id (re-registered) is anonymous', async () => {
    const answer = await ask(
      await actions.sign(githubClaims('acme/app', { repository_id: '999' })),
      repo('gh/acme/app', 'pull,push'),
    );
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.access, [], 'acme/app is private: nothing for anonymous');
  });

  test('refused tokens are 401 with the reason in the log', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = githubClaims('acme/app');
    const cases: [string, string, RegExp][] = [
      ['another audience', await actions.sign({ ...claims, aud: 'sts.amazonaws.com' }), /unexpected "aud" claim value/],
      [
        'expired',
        await actions.sign({ ...claims, iat: now - 900, nbf: now - 900, exp: now - 300 }),
        /token has expired/,
      ],
      ['unknown key', await actions.sign(claims, { key: await actions.newKey('RS256') }), /unknown kid/],
      ['alg none', unsignedToken({ ...claims, iss: actions.url, exp: now + 300 }), /algorithm "none" is not allowed/],
      [
        'HS256',
        hmacToken(
          { ...claims, iss: actions.url, exp: now + 300 },
          JSON.stringify(actions.current.publicJwk),
          actions.current.kid,
        ),
        /algorithm "HS256" is not allowed/,
      ],
      [
        'untrusted issuer',
        await actions.sign({ ...claims, iss: 'https://evil.example' }),
        /is not a trusted oidc\[\]\.issuer/,
      ],
    ];
    for (const [name, token, reason] of cases) {
      const answer = await ask(token, repo('gh/acme/app', 'pull,push'));
      assert.equal(answer.status, 401, `${name}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.errors[0].code, 'UNAUTHORIZED', name);
      assert.match(answer.body.errors[0].message, /invalid OIDC ID token/, name);
      const line = fg.logs().findLast((l) => l.msg === 'token request')!;
      assert.equal(line.outcome, 'unauthorized', name);
      assert.match(String(line.reason), reason, name);
    }
  });

  test('the audit line names issuer, repository, ref and workflow; no refresh token is issued', async () => {
    const token = await actions.sign(githubClaims('acme/app', { ref: 'refs/tags/v1.0.0' }));
    const answer = await ask(token, repo('gh/acme/app', 'pull'), 'oidc', '&offline_token=true');
    assert.equal(answer.status, 200);
    assert.equal(answer.body.refresh_token, undefined, 'a refresh token would outlive the ID token');
    const line = fg.logs().findLast((l) => l.msg === 'token request') as Record<string, any>;
    assert.deepEqual(line.oidc, {
      issuer: actions.url,
      repository: 'acme/app',
      repositoryId: '4242',
      ref: 'refs/tags/v1.0.0',
      workflow: 'acme/app/.github/workflows/build.yml@refs/tags/v1.0.0',
      rule: 'rules[0]',
    });
    assert.equal(line.identityKind, 'oidc');
    assert.equal(line.source, 'github-actions');
    assert.equal(line.refreshIssued, false);
  });

  test('key rotation at the issuer is picked up (a new kid refetches the JWKS, once a minute at most)', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      mock.timers.tick(61_000); // past the cooldown of the fetches made so far
      const rotated = await actions.rotate({ retire: true });
      actions.resetCalls();
      const answer = await ask(
        await actions.sign(githubClaims('acme/app'), { key: rotated }),
        repo('gh/acme/app', 'pull,push'),
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.access, granted('gh/acme/app', 'pull', 'push'));
      assert.equal(actions.calls('GET /jwks'), 1);
    } finally {
      mock.timers.reset();
    }
  });
});

describe('GitLab CI ID tokens', () => {
  test('own project through discovery and the preset rule: push from a protected ref', async () => {
    const answer = await ask(await gitlabCi.sign(gitlabClaims('Group/App')), repo('group/app/web', 'pull,push'));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, granted('group/app/web', 'pull', 'push'));
    assert.equal(gitlabCi.calls('GET /.well-known/openid-configuration'), 1);
  });

  test('a merge-request pipeline pulls only; other projects follow anonymous rules', async () => {
    const mr = await gitlabCi.sign(gitlabClaims('group/app', { pipeline_source: 'merge_request_event' }));
    assert.deepEqual((await ask(mr, repo('group/app', 'pull,push'))).access, granted('group/app', 'pull'));
    const answer = await ask(await gitlabCi.sign(gitlabClaims('group/app')), [
      repo('group/public', 'pull,push'),
      repo('group/private', 'pull'),
    ]);
    assert.deepEqual(answer.access, granted('group/public', 'pull'));
  });

  test("a GitLab job's token does not reach GitHub's images of the same name", async () => {
    const answer = await ask(await gitlabCi.sign(gitlabClaims('acme/app')), repo('gh/acme/app', 'pull,push'));
    assert.deepEqual(answer.access, []);
  });
});

describe('ID tokens never cross forges', () => {
  test('with forges configured, an issuer without `forge` stops the start in one line naming the key', async () => {
    const forges = [
      { type: 'gitlab', url: gl.url },
      { type: 'github', url: gh.url, prefix: 'gh/' },
    ];
    const [preset, token] = ['github-actions', { service: SERVICE }];
    await assert.rejects(
      startForgegate({ token, forges, oidc: [{ issuer: actions.url, audience: SERVICE, preset }] }),
      (error: Error) => {
        assert.equal(error.name, 'ConfigError');
        assert.ok(!error.message.includes('\n'), 'one line');
        assert.match(error.message, /^config test: oidc\[0\]\.forge: required when forges are configured: /);
        assert.match(error.message, /\("gitlab", "github"\)$/, 'naming the forges there are');
        return true;
      },
    );
  });

  test('an Actions token of acme/app gets nothing on the GitLab project acme/app, judged as for anyone', async () => {
    // The same path on both forges: gh/acme/app is the job's repository, acme/app (no prefix)
    // a private GitLab project that has nothing to do with it.
    gl.addProject({ path_with_namespace: 'acme/app', visibility: 'private' });
    const token = await actions.sign(githubClaims('acme/app'));
    gl.resetCalls();
    const answer = await ask(token, [repo('acme/app', 'pull,push,delete'), repo('acme/app/web', 'pull,push')]);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.access, [], 'a private GitLab project: nothing for a GitHub job');
    assert.ok(gl.calls('GET /projects/:id') > 0, 'GitLab was asked, as for any anonymous caller');
    const own = await ask(token, repo('gh/acme/app/web', 'pull,push'));
    assert.deepEqual(own.access, granted('gh/acme/app/web', 'pull', 'push'), 'its own repository still pushes');
  });
});

test('no ID token appears in any log line', () => {
  const text = fg.rawLogs();
  for (const token of sent) {
    assert.ok(!text.includes(token), 'an ID token reached the log');
    const signature = token.split('.')[2]!;
    if (signature !== '') assert.ok(!text.includes(signature), 'an ID token signature reached the log');
  }
});
