import assert from 'node:assert/strict';
import { createSecretKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Authority, MAX_FORGE_IMAGES, type TokenRequest } from '../../src/authority.js';
import type { Credential, PasswordCredential } from '../../src/credentials/credential.js';
import { HtpasswdFile } from '../../src/credentials/htpasswd.js';
import { StaticAccounts } from '../../src/credentials/static.js';
import { AuthenticationFailed } from '../../src/errors.js';
import type { CacheOutcome, Forge, ForgeJudgement, ForgeSession } from '../../src/forges/forge.js';
import { ForgeRouter } from '../../src/forges/router.js';
import { Acl, type AclRule } from '../../src/policy/acl.js';
import { allowing, grantedActions, judgeAll } from '../../src/policy/grant.js';
import { parseScopes } from '../../src/policy/scope.js';
import { RefreshTokens } from '../../src/token/refresh.js';
import type { TokenSigner } from '../../src/token/signer.js';
import { makeTempDir } from '../support/processes.js';

// The Authority in memory: stub forges that record what they are asked, a signer that signs
// nothing. Who decides each kind of caller, how the cache outcome is summed up, and what a
// refresh token re-verifies. The forges' own matrices are policy tests'; HTTP is test/http's.

const HASH_ALICE = '$2y$04$qQ4owHC15qhFECEqTPywuO/hSaK/KeIcNYnBwexrALhSMkKQOiTCO'; // alice-pass

/** A forge that knows `<login>-token`, lets anyone pull and its own login push under `<login>/`. */
function stubForge(name: string, prefix: string, cacheOutcome?: CacheOutcome) {
  const asked = { credentials: [] as PasswordCredential[], judged: [] as { who: string | null; path: string }[] };
  const forge: Forge = {
    name,
    type: 'gitlab',
    prefix,
    recognises: ({ password }) => password.startsWith(`${name}:`),
    authenticate: async (credential) => {
      asked.credentials.push(credential);
      const login = credential.password.replace(`${name}:`, '').replace(/-token$/, '');
      if (!credential.password.endsWith('-token')) throw new AuthenticationFailed('invalid username or token', 'stub');
      const identity = { subject: login, kind: 'stub', source: name };
      return { identity, admin: login === 'root', account: login, ...(cacheOutcome ? { cacheOutcome } : {}) };
    },
    judge: async (session, path): Promise<ForgeJudgement> => {
      asked.judged.push({ who: session?.identity.subject ?? null, path });
      const own = session !== null && path.startsWith(`${session.identity.subject}/`);
      const actions: ('pull' | 'push')[] = own ? ['pull', 'push'] : ['pull'];
      const judgements = judgeAll(allowing({ actions, rule: 'stub', because: 'stub' }));
      return { judgements, project: path, ...(cacheOutcome ? { cacheOutcome } : {}) };
    },
    judgeCatalog: (session: ForgeSession) =>
      judgeAll(allowing({ actions: session.admin ? ['*'] : [], rule: 'stub', because: 'stub' })),
  };
  return { forge, asked };
}

async function authorityWith(options: { acl?: AclRule[]; forges?: Forge[]; htpasswd?: string } = {}) {
  let file: HtpasswdFile | null = null;
  if (options.htpasswd !== undefined) {
    const path = join(await makeTempDir('authority'), 'htpasswd');
    await writeFile(path, options.htpasswd);
    file = await HtpasswdFile.load(path);
  }
  const signer = { sign: async () => ({ token: 'signed', issuedAt: new Date(0), expiresIn: 300 }) };
  const refreshTokens = new RefreshTokens(new Uint8Array(32).fill(3), 3600);
  return {
    refreshTokens,
    authority: new Authority({
      service: 'registry',
      staticAccounts: new StaticAccounts(file, createSecretKey(new Uint8Array(32)), 60),
      acl: new Acl(options.acl ?? []),
      router: new ForgeRouter(options.forges ?? []),
      signer: signer as unknown as TokenSigner,
      refreshTokens,
    }),
  };
}

function request(credential: Credential, scopes: string[], offline = false): TokenRequest {
  return { service: undefined, scopes: parseScopes(scopes), credential, offline };
}

const password = (username: string, secret: string): Credential => ({ kind: 'password', username, password: secret });

describe('Authority', () => {
  test("a forge caller is judged by its own forge, and as anyone on another forge's images", async () => {
    const gl = stubForge('gl', '');
    const gh = stubForge('gh', 'gh/');
    const { authority } = await authorityWith({ forges: [gl.forge, gh.forge] });
    const scopes = ['repository:alice/app:push', 'repository:gh/alice/app:push'];
    const result = await authority.issue(request(password('x', 'gl:alice-token'), scopes));
    assert.equal(result.authentication.caller.kind, 'forge');
    assert.deepEqual(result.decisions.map(grantedActions), [['push'], []]);
    assert.equal(result.decisions[0]!.asAnonymous, undefined);
    assert.equal(result.decisions[1]!.asAnonymous, true);
    assert.deepEqual(gl.asked.credentials, [{ kind: 'password', username: 'x', password: 'gl:alice-token' }]);
    assert.deepEqual(gh.asked.credentials, [], 'the credential went to its own forge only');
    assert.deepEqual(gh.asked.judged, [{ who: null, path: 'alice/app' }]);
  });

  test('a static account answers to the ACL only: no forge is asked', async () => {
    const gl = stubForge('gl', '');
    const acl: AclRule[] = [{ account: 'alice', type: 'repository', name: 'alice/**', actions: ['pull'] }];
    const { authority } = await authorityWith({ acl, forges: [gl.forge], htpasswd: `alice:${HASH_ALICE}\n` });
    const scopes = ['repository:alice/app:pull,push', 'repository:bob/app:pull'];
    const result = await authority.issue(request(password('alice', 'alice-pass'), scopes));
    assert.equal(result.authentication.caller.kind, 'static');
    assert.deepEqual(result.decisions.map(grantedActions), [['pull'], []]);
    assert.equal(result.cache, 'none');
    assert.deepEqual(gl.asked.judged, []);
  });

  test("the ACL's anonymous rules answer first; other images go to their forge as anyone", async () => {
    const gl = stubForge('gl', '');
    const acl: AclRule[] = [{ account: '', type: 'repository', name: 'open/**', actions: ['pull', 'push'] }];
    const { authority } = await authorityWith({ acl, forges: [gl.forge] });
    const scopes = ['repository:open/app:push', 'repository:acme/app:push,pull'];
    const result = await authority.issue(request({ kind: 'anonymous' }, scopes));
    assert.equal(result.authentication.caller.kind, 'anonymous');
    assert.deepEqual(result.decisions.map(grantedActions), [['push'], ['pull']]);
    assert.deepEqual(gl.asked.judged, [{ who: null, path: 'acme/app' }]);
    assert.equal(result.cache, 'miss');
  });

  test("a forge caller's catalog is its forge's; the ACL never speaks for it", async () => {
    const gl = stubForge('gl', '');
    const acl: AclRule[] = [{ account: '*', type: 'registry', name: 'catalog', actions: ['*'] }];
    const { authority } = await authorityWith({ acl, forges: [gl.forge] });
    const catalog = ['registry:catalog:*'];
    const granted = async (secret: string) =>
      (await authority.issue(request(password('x', secret), catalog))).decisions.map(grantedActions);
    assert.deepEqual(await granted('gl:alice-token'), [[]]);
    assert.deepEqual(await granted('gl:root-token'), [['*']]);
  });

  test('the cache outcome sums up the verification and every judgement', async () => {
    for (const outcome of ['hit', 'stale', 'miss'] as const) {
      const { authority } = await authorityWith({ forges: [stubForge('gl', '', outcome).forge] });
      const result = await authority.issue(request(password('x', 'gl:alice-token'), ['repository:alice/app:pull']));
      assert.equal(result.cache, outcome, outcome);
      assert.equal(result.authentication.cached, outcome === 'hit', outcome);
    }
  });

  test(`past ${MAX_FORGE_IMAGES} images, scopes are denied in request order without a forge call`, async () => {
    const gl = stubForge('gl', '');
    const { authority } = await authorityWith({ forges: [gl.forge] });
    const scopes = Array.from({ length: MAX_FORGE_IMAGES + 2 }, (_, i) => `repository:acme/app${i}:pull`);
    const result = await authority.issue(request({ kind: 'anonymous' }, scopes));
    const denied = result.decisions.filter((d) => grantedActions(d).length === 0);
    const past = [`acme/app${MAX_FORGE_IMAGES}`, `acme/app${MAX_FORGE_IMAGES + 1}`];
    assert.deepEqual(
      denied.map((d) => d.scope.name),
      past,
    );
    assert.equal(gl.asked.judged.length, MAX_FORGE_IMAGES);
  });

  test('a refresh token re-verifies the forge credential it was issued for', async () => {
    const gl = stubForge('gl', '');
    const { authority } = await authorityWith({ forges: [gl.forge] });
    const first = await authority.issue(request(password('x', 'gl:alice-token'), [], true));
    assert.ok(first.refreshToken);
    const refresh: Credential = { kind: 'refresh', token: first.refreshToken };
    const again = await authority.issue(request(refresh, ['repository:alice/app:push']));
    assert.equal(again.authentication.via, 'refresh');
    assert.deepEqual(again.decisions.map(grantedActions), [['push']]);
    assert.deepEqual(gl.asked.credentials.at(-1), { kind: 'password', username: 'x', password: 'gl:alice-token' });
  });

  test('refresh tokens issued before proofs were tagged keep working', async () => {
    const gl = stubForge('gl', '');
    const { authority, refreshTokens } = await authorityWith({ forges: [gl.forge] });
    const forgeProof = JSON.stringify(['x', 'gl:alice-token']);
    const old = await refreshTokens.issue({ sub: 'alice', source: 'gl', proof: forgeProof }, 'registry');
    const result = await authority.issue(request({ kind: 'refresh', token: old }, ['repository:alice/app:push']));
    assert.deepEqual(result.decisions.map(grantedActions), [['push']]);
  });

  test("a static account's refresh token, old or new, opens; a forge credential under its name does not", async () => {
    const { authority, refreshTokens } = await authorityWith({ htpasswd: `alice:${HASH_ALICE}\n` });
    const issued = await authority.issue(request(password('alice', 'alice-pass'), [], true));
    const proof = JSON.parse((await refreshTokens.open(issued.refreshToken!, 'registry')).proof) as { digest: string };
    const old = await refreshTokens.issue({ sub: 'alice', source: 'static', proof: proof.digest }, 'registry');
    for (const token of [issued.refreshToken!, old]) {
      const result = await authority.issue(request({ kind: 'refresh', token }, []));
      assert.equal(result.authentication.caller.kind, 'static');
    }
    const forgeProof = JSON.stringify(['alice', 'x']);
    const forged = await refreshTokens.issue({ sub: 'alice', source: 'static', proof: forgeProof }, 'registry');
    await assert.rejects(authority.issue(request({ kind: 'refresh', token: forged }, [])), AuthenticationFailed);
  });
});
