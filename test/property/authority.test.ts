import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Authentication } from '../../src/authority.js';
import type { OidcSession } from '../../src/oidc/authenticator.js';
import { Authority } from '../../src/authority.js';
import { oidcSchema } from '../../src/config/oidc.js';
import { OidcAuthenticator } from '../../src/oidc/authenticator.js';
import type { Forge, ForgeJudgement, ForgeSession } from '../../src/forges/forge.js';
import { ForgeRouter } from '../../src/forges/router.js';
import { Acl } from '../../src/policy/acl.js';
import { judgeGitHubCatalog } from '../../src/policy/github.js';
import { judgeGitLabCatalog } from '../../src/policy/gitlab.js';
import { allowing, grantedActions, judgeAll } from '../../src/policy/grant.js';
import { formatScope, parseScopes } from '../../src/policy/scope.js';
import { ANONYMOUS, type Action } from '../../src/policy/types.js';
import { authorityAllows, expectedGrant, routeOf, type AuthAclRule, type AuthCaller } from './oracle.js';

// The real Authority against the oracle's reading of whom each rule speaks for: static
// accounts answer to the ACL only; the ACL never speaks for a forge user, whatever its name;
// a forge caller's catalog is its forge's (admins through a registry-scoped token); a CI ID
// token owns its project only on its issuer's forge and is anonymous elsewhere; and one
// request has at most 16 images judged by forges. The forges are stubs whose matrix the
// oracle restates (the matrices themselves are policy.test.ts's).

interface StubSession extends ForgeSession {
  login: string;
  scopes: string[] | null;
}

function stubForge(name: 'gitlab' | 'github', prefix: string): Forge<StubSession> {
  return {
    name,
    type: name,
    prefix,
    recognises: () => false,
    authenticate: () => Promise.reject(new Error('unused')),
    // The oracle's stand-in matrix: anyone pulls pub/...; the forge's own user pushes <login>/...
    judge: async (session, path): Promise<ForgeJudgement> => {
      const actions: ('pull' | 'push')[] = [];
      if (path.startsWith('pub/') || (session !== null && path.startsWith(`${session.login}/`))) actions.push('pull');
      if (session !== null && path.startsWith(`${session.login}/`)) actions.push('push');
      return { judgements: judgeAll(allowing({ actions, rule: 'stub', because: 'stub' })), project: null };
    },
    judgeCatalog: (session) =>
      judgeAll(
        name === 'gitlab'
          ? judgeGitLabCatalog({ username: session.login, admin: session.admin, scopes: session.scopes ?? [] })
          : judgeGitHubCatalog({ kind: 'user', login: session.login, scopes: session.scopes, admin: session.admin }),
      ),
  };
}

const LAYOUT = [
  { name: 'gitlab', type: 'gitlab' as const, prefix: '' },
  { name: 'github', type: 'github' as const, prefix: 'gh/' },
];
const router = new ForgeRouter([stubForge('gitlab', ''), stubForge('github', 'gh/')]);
const ISSUERS = { gitlab: 'https://gitlab.ci.example', github: 'https://actions.example' } as const;
const oidc = new OidcAuthenticator(
  oidcSchema.parse(
    (['gitlab', 'github'] as const).map((forge) => ({
      issuer: ISSUERS[forge],
      audience: 'r',
      forge,
      claims: { project: 'project' },
      rules: [{ project: '**', actions: ['pull', 'push'] }],
    })),
  ),
  LAYOUT,
);

function authenticationOf(caller: AuthCaller): Authentication {
  switch (caller.kind) {
    case 'anonymous':
      return { identity: ANONYMOUS, caller: { kind: 'anonymous' }, via: 'anonymous', cached: false, refresh: null };
    case 'static':
      const identity = { subject: caller.name, kind: 'static', source: 'static' };
      return { identity, caller: { kind: 'static' }, via: 'password', cached: false, refresh: null };
    case 'forge': {
      const session: StubSession = {
        identity: { subject: caller.login, kind: `${caller.forge}-token`, source: caller.forge },
        admin: caller.admin,
        account: caller.login,
        login: caller.login,
        scopes: caller.scopes === null ? null : [...caller.scopes],
      };
      return {
        identity: session.identity,
        caller: { kind: 'forge', session },
        via: 'password',
        cached: false,
        refresh: null,
      };
    }
    case 'oidc': {
      // A verified token's session, without signing one: verification is oidc-verifier.test.ts's.
      type Internals = { issuers: Map<string, unknown>; sessionOf(trusted: unknown, payload: object): OidcSession };
      const internals = oidc as unknown as Internals;
      const payload = { project: caller.project, sub: `job:${caller.project}`, exp: 4_000_000_000 };
      const session = internals.sessionOf(internals.issuers.get(ISSUERS[caller.forge]), payload);
      return {
        identity: session.identity,
        caller: { kind: 'oidc', session },
        via: 'password',
        cached: false,
        refresh: null,
      };
    }
  }
}

// Names shared by ACL accounts, forge logins and static accounts: the point is that they collide.
const NAMES = ['registry-admin', 'alice', 'bob'];
const TOKEN_SCOPES = [
  ...['api', 'read_api', 'read_registry', 'write_registry', 'read_user'],
  ...['repo', 'read:packages', 'write:packages', 'gist'],
];
const caller: fc.Arbitrary<AuthCaller> = fc.oneof(
  fc.constant({ kind: 'anonymous' as const }),
  fc.record({ kind: fc.constant('static' as const), name: fc.constantFrom(...NAMES) }),
  fc.record({
    kind: fc.constant('forge' as const),
    forge: fc.constantFrom('gitlab' as const, 'github' as const),
    login: fc.constantFrom(...NAMES),
    admin: fc.boolean(),
    scopes: fc.option(fc.subarray(TOKEN_SCOPES), { nil: null }),
  }),
  fc.record({
    kind: fc.constant('oidc' as const),
    forge: fc.constantFrom('gitlab' as const, 'github' as const),
    project: fc.constantFrom('alice/app', 'pub/lib', 'acme/app'),
  }),
);
const aclRule: fc.Arbitrary<AuthAclRule> = fc.record({
  account: fc.constantFrom('', '*', ...NAMES),
  type: fc.constantFrom('repository', 'registry'),
  name: fc.constantFrom('**' as const, 'catalog' as const, 'pub/**' as const, 'alice/**' as const),
  actions: fc.uniqueArray(fc.constantFrom<Action>('pull', 'push', 'delete', '*'), { minLength: 1, maxLength: 4 }),
});
const IMAGES = [
  ...['pub/lib', 'pub/lib/x', 'alice/app', 'alice/app/a/b/c', 'acme/app', 'acme/app/x/y'],
  ...['gh/pub/lib', 'gh/alice/app', 'gh/acme/app', 'gh/acme/app/x/y/z', 'gh/bob/tool'],
];
const ACTIONS = ['pull', 'push', 'pull,push', '*', 'delete'];
const scopeText = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.constantFrom(...IMAGES), fc.constantFrom(...ACTIONS))
      .map(([name, actions]) => `repository:${name}:${actions}`),
  },
  { weight: 1, arbitrary: fc.constant('registry:catalog:*') },
  // Fillers, to push a request past 16 images.
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('gh/pub/f', 'pub/f', 'gh/alice/f'), fc.nat({ max: 30 }))
      .map(([base, i]) => `repository:${base}${i}:pull`),
  },
);

const requests = (maxLength: number) => fc.array(scopeText, { minLength: 1, maxLength });

function authorityWith(rules: AuthAclRule[]): Authority {
  // Deciding needs no static accounts, signer or refresh tokens.
  const unused = {} as never;
  const acl = new Acl(rules);
  const parts = { staticAccounts: unused, signer: unused, refreshTokens: unused };
  return new Authority({ service: 's', acl, router, oidc, ...parts });
}

describe('the authority against the oracle', () => {
  test('granted actions equal what the oracle lets each caller hold, scope by scope, in request order', async () => {
    await fc.assert(
      fc.asyncProperty(caller, fc.array(aclRule, { maxLength: 5 }), requests(40), async (who, rules, texts) => {
        const scopes = parseScopes(texts);
        const authority = authorityWith(rules);
        const decisions = await authority.decide(authenticationOf(who), scopes);
        const holds = authorityAllows(who, scopes, rules);
        decisions.forEach((decision, i) => {
          const expected = expectedGrant(decision.scope.actions, holds[i]!);
          const where = `${JSON.stringify(who)} on ${formatScope(decision.scope)} (rules ${JSON.stringify(rules)})`;
          assert.deepEqual(grantedActions(decision), expected, where);
        });
      }),
      { numRuns: 1500 },
    );
  });

  test('a forge user named like an ACL account never gets more than the same user with another name', async () => {
    const forges = fc.constantFrom('gitlab' as const, 'github' as const);
    await fc.assert(
      fc.asyncProperty(forges, fc.boolean(), requests(10), async (forge, admin, texts) => {
        const scopes = parseScopes(texts);
        const authority = authorityWith([
          { account: 'registry-admin', type: 'registry', name: 'catalog', actions: ['*'] },
          { account: 'registry-admin', type: 'repository', name: '**', actions: ['*'] },
        ]);
        const grants = async (login: string) => {
          const authentication = authenticationOf({ kind: 'forge', forge, login, admin, scopes: ['read_user'] });
          return (await authority.decide(authentication, scopes)).map((d) => grantedActions(d).length);
        };
        const namesake = await grants('registry-admin');
        // The stand-in grants pushes in the login's own namespace: compare on images outside it.
        const other = await grants('someone-else');
        scopes.forEach((scope, i) => {
          if (routeOf(scope.name).path.startsWith('registry-admin/')) return;
          assert.ok(namesake[i]! <= other[i]!, `${scope.type}:${scope.name}: the namesake got more`);
        });
      }),
      { numRuns: 300 },
    );
  });
});
