import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { allowing, judgeAll, type Judgements } from '../../src/policy/grant.js';
import { protectedCaller } from '../../src/policy/oidc.js';
import {
  demandOn,
  needsRole,
  patternMatches,
  protect,
  type ProtectedCaller,
  type ProtectionFacts,
  type ProtectionMode,
} from '../../src/policy/protection.js';

// The pure rule semantics of GitLab's protected container repositories (policy/protection.ts):
// how a pattern matches, which rule decides, and what each decision says.

describe('patterns', () => {
  test('`*` is any run of characters, `/` included; everything else is literal; case does not matter', () => {
    const cases: [string, string, boolean][] = [
      ['acme/app/release*', 'acme/app/release', true],
      ['acme/app/release*', 'acme/app/release-1/sub', true],
      ['acme/app/release*', 'acme/app/web', false],
      ['acme/app/*/prod', 'acme/app/svc/prod', true],
      ['acme/app/*/prod', 'acme/app/prod', false],
      ['acme/app*', 'acme/app', true],
      ['acme/app*', 'acme/application/x', true],
      ['acme/app', 'acme/app/x', false],
      ['Acme/App/Web', 'acme/app/web', true],
      ['acme/app.x', 'acme/appzx', false], // a dot is a dot
      ['acme/app+x', 'acme/appx', false],
      ['acme/a(p)p', 'acme/a(p)p', true],
      ['*', 'anything/at/all', true],
    ];
    for (const [pattern, path, matches] of cases) {
      assert.equal(patternMatches(pattern, path), matches, `${pattern} ~ ${path}`);
    }
  });

  test('the strictest matching rule decides, per action; null leaves the action open', () => {
    const rules = [
      { pattern: 'acme/app/*', push: 'maintainer' as const, delete: null },
      { pattern: 'acme/app/release*', push: 'owner' as const, delete: 'maintainer' as const },
      { pattern: 'acme/app/release-9', push: null, delete: 'admin' as const },
    ];
    assert.deepEqual(demandOn(rules, 'acme/app/release-1', 'push'), { pattern: 'acme/app/release*', level: 'owner' });
    const release9 = { pattern: 'acme/app/release-9', level: 'admin' };
    assert.deepEqual(demandOn(rules, 'acme/app/release-9', 'delete'), release9);
    assert.deepEqual(demandOn(rules, 'acme/app/web', 'push'), { pattern: 'acme/app/*', level: 'maintainer' });
    assert.equal(demandOn(rules, 'acme/app/web', 'delete'), null);
    assert.equal(demandOn(rules, 'acme/app', 'push'), null, 'acme/app/* needs something after the slash');
  });
});

describe('protect', () => {
  const rules: ProtectionFacts = {
    kind: 'rules',
    rules: [{ pattern: 'acme/app/release*', push: 'maintainer', delete: 'owner' }],
  };
  const granting = 'role Maintainer (40) >= Maintainer (40) on acme/app';
  const writer = allowing({ actions: ['pull', 'push', 'delete'], rule: 'role', because: granting });
  const maintainer: ProtectedCaller = { kind: 'member', level: 40, as: 'you are' };
  type Judged = (image: string, facts: ProtectionFacts, caller: ProtectedCaller, mode?: ProtectionMode) => Judgements;
  const judged: Judged = (image, facts, caller, mode = 'best-effort') =>
    judgeAll(protect(writer, image, 'acme/app', facts, caller, mode));

  test('a denial names the rule, the minimum and the caller; a grant keeps its rule and says it was met', () => {
    const { pull, push, delete: remove } = judged('acme/app/release', rules, maintainer);
    assert.deepEqual(remove, {
      granted: false,
      rule: 'protected',
      because: 'acme/app/release* is protected: Owner required, you are Maintainer',
    });
    assert.deepEqual(push, {
      granted: true,
      rule: 'role',
      because: `${granting}; acme/app/release* is protected: Maintainer required, you are Maintainer`,
    });
    assert.equal(pull.granted, true);
  });

  test('an unknown role is refused by any rule that applies, and only by those', () => {
    const unknown: ProtectedCaller = { kind: 'unknown', why: 'nobody could say' };
    const refused = judged('acme/app/release', rules, unknown).push;
    assert.equal(refused.because, 'acme/app/release* is protected: Maintainer required, and nobody could say');
    assert.equal(judged('acme/app/web', rules, unknown).push.granted, true);
    assert.equal(needsRole(writer, rules, 'acme/app/release'), true);
    assert.equal(needsRole(writer, rules, 'acme/app/web'), false);
    const reader = allowing({ actions: ['pull'], rule: 'role', because: '' });
    assert.equal(needsRole(reader, rules, 'acme/app/release'), false, 'no write granted: no role needed');
  });

  test('unreadable rules: best-effort keeps the grant, strict refuses writes with the cause; admins pass', () => {
    const unreadable: ProtectionFacts = { kind: 'unreadable', cause: 'forbidden' };
    const developer: ProtectedCaller = { kind: 'member', level: 30, as: 'you are' };
    assert.equal(judged('acme/app/x', unreadable, developer).push.granted, true);
    const strict = judged('acme/app/x', unreadable, developer, 'strict');
    assert.deepEqual(strict.push, {
      granted: false,
      rule: 'protection-unreadable',
      because:
        'the protection rules of acme/app cannot be read: the serviceToken may not list them ' +
        '(it needs Maintainer on acme/app, or admin); protectedRepositories is strict',
    });
    assert.equal(strict.pull.granted, true);
    assert.equal(judged('acme/app/x', unreadable, { kind: 'admin' }, 'strict').delete.granted, true);
  });
});

describe('the role of an ID token', () => {
  const caller = (claims: Record<string, string>) => ({
    issuer: 'gitlab',
    project: 'acme/app',
    projectId: null,
    ref: null,
    workflow: null,
    claims,
  });
  test('user_access_level names it; missing or unknown is unknown', () => {
    const maintainer = protectedCaller(caller({ user_access_level: 'maintainer' }));
    assert.deepEqual(maintainer, { kind: 'member', level: 40, as: "the ID token's user_access_level is" });
    assert.equal(protectedCaller(caller({})).kind, 'unknown');
    assert.equal(protectedCaller(caller({ user_access_level: 'superuser' })).kind, 'unknown');
  });
});
