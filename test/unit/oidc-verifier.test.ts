import assert from 'node:assert/strict';
import { after, afterEach, before, describe, mock, test } from 'node:test';
import { AuthenticationFailed, Unavailable } from '../../src/errors.js';
import { oidcSchema } from '../../src/config/oidc.js';
import { OidcAuthenticator } from '../../src/oidc/authenticator.js';
import { FakeOidcIssuer, githubClaims, hmacToken, unsignedToken } from '../fakes/oidc-issuer.js';

// Offline verification of CI ID tokens against a real JWKS server on loopback, with tokens
// the test signs itself: what is refused, why (the reason that reaches the log),
// and how often the issuer's keys are fetched.

const issuer = new FakeOidcIssuer();
const discovered = new FakeOidcIssuer();

before(async () => {
  await Promise.all([issuer.start(), discovered.start()]);
});
after(async () => {
  await Promise.all([issuer.stop(), discovered.stop()]);
});
afterEach(() => mock.timers.reset());

function authenticator(extra: Record<string, unknown> = {}, on: FakeOidcIssuer = issuer): OidcAuthenticator {
  const config = oidcSchema.parse([
    { issuer: on.url, audience: 'registry.test', preset: 'github-actions', jwksUrl: `${on.url}/jwks`, ...extra },
  ]);
  return new OidcAuthenticator(config, []);
}

/** Rejects with AuthenticationFailed whose operator reason matches `reason`. */
async function refused(work: Promise<unknown>, reason: RegExp): Promise<void> {
  await assert.rejects(work, (error: Error) => {
    assert.ok(
      error instanceof AuthenticationFailed,
      `expected AuthenticationFailed, got ${error.name}: ${error.message}`,
    );
    assert.match(error.reason, reason);
    return true;
  });
}

describe('what an ID token is', () => {
  test('a compact JWS with any username is taken for one; refresh tokens and forge tokens are not', () => {
    const a = authenticator();
    assert.equal(a.recognises('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'), true);
    assert.equal(a.recognises('glpat-abcdefabcdefabcdef'), false);
    assert.equal(a.recognises('eyJhbGciOiJkaXIifQ..aXY.Y2lwaGVy.dGFn'), false, 'a JWE (five parts) is a refresh token');
    assert.equal(
      new OidcAuthenticator([], []).recognises('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'),
      false,
      'no issuer configured: no ID tokens',
    );
  });
});

describe('which forge an issuer answers for', () => {
  test('an issuer without a forge beside forges is refused at construction (the configuration first)', () => {
    const gitlabOnly = [{ name: 'gitlab', type: 'gitlab' as const, prefix: '' }];
    const entry = { issuer: issuer.url, audience: 'registry.test', preset: 'github-actions' };
    assert.throws(() => new OidcAuthenticator(oidcSchema.parse([entry]), gitlabOnly), /names no forge/);
    const named = oidcSchema.parse([{ ...entry, forge: 'gh' }]);
    assert.throws(() => new OidcAuthenticator(named, gitlabOnly), /names forge "gh", which is not configured/);
  });
});

describe('verification', () => {
  test('a valid token yields the job: project, id, ref, workflow, subject and the matching rule', async () => {
    const session = await authenticator().authenticate(await issuer.sign(githubClaims('Acme/App')));
    assert.equal(session.caller.project, 'acme/app', 'the project is lower-cased as the forges do');
    assert.equal(session.caller.projectId, '4242');
    assert.equal(session.caller.ref, 'refs/heads/main');
    assert.equal(session.caller.workflow, 'Acme/App/.github/workflows/build.yml@refs/heads/main');
    assert.deepEqual(session.identity, {
      subject: 'repo:Acme/App:ref:refs/heads/main',
      kind: 'oidc',
      source: 'github-actions',
    });
    assert.equal(session.rule?.label, 'rules[0]');
    assert.equal(session.cached, false);
  });

  test('ES256 is accepted as well as RS256', async () => {
    const key = await issuer.rotate({ alg: 'ES256' });
    const a = authenticator();
    const session = await a.authenticate(await issuer.sign(githubClaims('acme/app'), { key }));
    assert.equal(session.caller.project, 'acme/app');
  });

  test('a token minted for another audience is refused', async () => {
    await refused(
      authenticator().authenticate(await issuer.sign(githubClaims('acme/app', { aud: 'sts.amazonaws.com' }))),
      /issuer github-actions: claim check failed: unexpected "aud" claim value/,
    );
  });

  test('an expired token is refused, and one not valid yet, beyond the clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(
      authenticator().authenticate(
        await issuer.sign(githubClaims('acme/app', { iat: now - 900, nbf: now - 900, exp: now - 120 })),
      ),
      /token has expired/,
    );
    await refused(
      authenticator().authenticate(await issuer.sign(githubClaims('acme/app', { nbf: now + 600 }))),
      /"nbf" claim timestamp check failed/,
    );
    // Within the configured skew (60 s) an expired-just-now token still passes.
    const session = await authenticator().authenticate(await issuer.sign(githubClaims('acme/app', { exp: now - 30 })));
    assert.equal(session.caller.project, 'acme/app');
  });

  test('a token without exp is refused', async () => {
    await refused(
      authenticator().authenticate(await issuer.sign(githubClaims('acme/app', { exp: undefined }))),
      /missing required "exp" claim/,
    );
  });

  test('a token signed by a key the issuer never published is refused', async () => {
    const stranger = await issuer.newKey('RS256');
    await refused(
      authenticator().authenticate(await issuer.sign(githubClaims('acme/app'), { key: stranger })),
      /unknown kid/,
    );
    // The same kid as a published key, but another private key: the signature fails.
    const impostor = { ...(await issuer.newKey(issuer.current.alg)), kid: issuer.current.kid };
    await refused(
      authenticator().authenticate(await issuer.sign(githubClaims('acme/app'), { key: impostor })),
      /signature verification failed/,
    );
  });

  test('alg none and HS256 (the public key as HMAC secret) are refused before any key is fetched', async () => {
    const a = authenticator();
    issuer.resetCalls();
    const claims = { ...githubClaims('acme/app'), iss: issuer.url, exp: Math.floor(Date.now() / 1000) + 300 };
    await refused(a.authenticate(unsignedToken(claims)), /algorithm "none" is not allowed/);
    await refused(
      a.authenticate(hmacToken(claims, JSON.stringify(issuer.current.publicJwk), issuer.current.kid)),
      /algorithm "HS256" is not allowed/,
    );
    assert.equal(issuer.calls('GET /jwks'), 0, 'nothing fetched for a token refused by its header');
  });

  test('an algorithm the issuer does not allow is refused even when signed correctly', async () => {
    const key = await issuer.newKey('ES256');
    issuer.published = [...issuer.published, key];
    const a = authenticator({ algorithms: ['RS256'] });
    await refused(
      a.authenticate(await issuer.sign(githubClaims('acme/app'), { key })),
      /algorithm "ES256" is not allowed/,
    );
  });

  test('an untrusted issuer is refused without fetching anything; so is a token naming no project', async () => {
    const a = authenticator();
    issuer.resetCalls();
    await refused(
      a.authenticate(await issuer.sign(githubClaims('acme/app', { iss: 'https://evil.example' }))),
      /issuer "https:\/\/evil.example" is not a trusted/,
    );
    assert.equal(issuer.calls(), 0, 'no request for an unknown issuer (no SSRF through iss)');
    await refused(
      a.authenticate(await issuer.sign(githubClaims('acme/app', { repository: undefined }))),
      /no "repository" claim/,
    );
  });

  test('a garbled token is refused with a reason, not an exception', async () => {
    await refused(authenticator().authenticate('eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln'), /does not decode/);
  });

  test('the JWKS server down is 503 (Unavailable), never a grant or a 401', async () => {
    const down = new FakeOidcIssuer();
    await down.start();
    const token = await down.sign(githubClaims('acme/app'));
    const a = authenticator({}, down);
    await down.stop();
    await assert.rejects(
      a.authenticate(token),
      (e: Error) => e instanceof Unavailable && /JWKS unreachable/.test(e.message),
    );
  });
});

describe('keys and caching', () => {
  test('a verified token is remembered until its exp: no second verification', async () => {
    const a = authenticator();
    const token = await issuer.sign(githubClaims('acme/app'));
    await a.authenticate(token);
    issuer.resetCalls();
    const again = await a.authenticate(token);
    assert.equal(again.cached, true);
    assert.equal(issuer.calls(), 0, 'no JWKS fetch for a cached token');
  });

  test('rotation: a new kid refetches the JWKS, at most once a minute per issuer', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    issuer.published = [issuer.current];
    const a = authenticator();
    issuer.resetCalls();
    await a.authenticate(await issuer.sign(githubClaims('acme/app')));
    assert.equal(issuer.calls('GET /jwks'), 1, 'first use fetches the keys');

    mock.timers.tick(61_000);
    const rotated = await issuer.rotate({ retire: true });
    const session = await a.authenticate(
      await issuer.sign(githubClaims('acme/app', { ref: 'refs/heads/rotated' }), { key: rotated }),
    );
    assert.equal(session.caller.ref, 'refs/heads/rotated', 'the new key was picked up');
    assert.equal(issuer.calls('GET /jwks'), 2, 'one refetch for the unknown kid');

    // Another unknown kid within the minute: refused without asking the issuer again.
    const again = await issuer.rotate();
    await refused(
      a.authenticate(await issuer.sign(githubClaims('acme/app', { ref: 'refs/heads/too-soon' }), { key: again })),
      /unknown kid/,
    );
    await refused(
      a.authenticate(await issuer.sign(githubClaims('acme/app', { ref: 'refs/heads/too-soon-2' }), { key: again })),
      /unknown kid/,
    );
    assert.equal(issuer.calls('GET /jwks'), 2, 'no refetch within the cooldown');

    mock.timers.tick(61_000);
    const later = await a.authenticate(
      await issuer.sign(githubClaims('acme/app', { ref: 'refs/heads/later' }), { key: again }),
    );
    assert.equal(later.caller.ref, 'refs/heads/later', 'picked up once the minute is over');
    assert.equal(issuer.calls('GET /jwks'), 3);
  });

  test('no jwksUrl: the keys are found through discovery, whose issuer must match', async () => {
    const a = authenticator({ jwksUrl: null }, discovered);
    const session = await a.authenticate(await discovered.sign(githubClaims('acme/app')));
    assert.equal(session.caller.project, 'acme/app');
    assert.equal(discovered.calls('GET /.well-known/openid-configuration'), 1);

    discovered.discoveryIssuer = 'https://someone-else.example';
    const b = authenticator({ jwksUrl: null }, discovered);
    await assert.rejects(
      b.authenticate(await discovered.sign(githubClaims('acme/app'))),
      (e: Error) =>
        e instanceof Unavailable && /discovery names issuer "https:\/\/someone-else.example"/.test(e.message),
    );
    discovered.discoveryIssuer = undefined;
  });
});
