import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { allowing, judgeAll } from '../../src/policy/grant.js';
import { demandOn, needsRole, patternMatches, protect, type ProtectionFacts } from '../../src/policy/protection.js';
import { protectedCaller } from '../../src/policy/oidc.js';

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
    for (const [pattern, path, matches] of cases) assert.equal(patternMatches(pattern, path), matches, `${pattern} ~ ${path}`);
  });

  test('the strictest matching rule decides, per action; null leaves the action open', () => {
    const rules = [
      { pattern: 'acme/app/*', push: 'maintainer' as const, delete: null },
      { pattern: 'acme/app/release*', push: 'owner' as const, delete: 'maintainer' as const },
      { pattern: 'acme/app/release-9', push: null, delete: 'admin' as const },
    ];
    assert.deepEqual(demandOn(rules, 'acme/app/release-1', 'push'), { pattern: 'acme/app/release*', level: 'owner' });
    assert.deepEqual(demandOn(rules, 'acme/app/release-9', 'delete'), { pattern: 'acme/app/release-9', level: 'admin' });
    assert.deepEqual(demandOn(rules, 'acme/app/web', 'push'), { pattern: 'acme/app/*', level: 'maintainer' });
    assert.equal(demandOn(rules, 'acme/app/web', 'delete'), null);
    assert.equal(demandOn(rules, 'acme/app', 'push'), null, 'acme/app/* needs something after the slash');
  });
});

describe('protect', () => {
  const rules: ProtectionFacts = { kind: 'rules', rules: [{ pattern: 'acme/app/release*', push: 'maintainer', delete: 'owner' }] };
  const writer = allowing({ actions: ['pull', 'push', 'delete'], rule: 'role', because: 'role Maintainer (40) >= Maintainer (40) on acme/app' });

  test('a denial names the rule, the minimum and the caller; a grant keeps its rule and says the minimum was met', () => {
    const judged = judgeAll(protect(writer, 'acme/app/release', 'acme/app', rules, { kind: 'member', level: 40, as: 'you are' }, 'best-effort'));
    assert.deepEqual(judged.delete, { granted: false, rule: 'protected', because: 'acme/app/release* is protected: Owner required, you are Maintainer' });
    assert.deepEqual(judged.push, {
      granted: true,
      rule: 'role',
      because: 'role Maintainer (40) >= Maintainer (40) on acme/app; acme/app/release* is protected: Maintainer required, you are Maintainer',
    });
    assert.equal(judged.pull.granted, true);
  });

  test('an unknown role is refused by any rule that applies, and only by those', () => {
    const unknown = { kind: 'unknown' as const, why: 'nobody could say' };
    const judged = judgeAll(protect(writer, 'acme/app/release', 'acme/app', rules, unknown, 'best-effort'));
    assert.equal(judged.push.because, 'acme/app/release* is protected: Maintainer required, and nobody could say');
    assert.equal(judgeAll(protect(writer, 'acme/app/web', 'acme/app', rules, unknown, 'best-effort')).push.granted, true);
    assert.equal(needsRole(writer, rules, 'acme/app/release'), true);
    assert.equal(needsRole(writer, rules, 'acme/app/web'), false);
    assert.equal(needsRole(allowing({ actions: ['pull'], rule: 'role', because: '' }), rules, 'acme/app/release'), false, 'no write granted: no role needed');
  });

  test('unreadable rules: best-effort keeps the grant, strict refuses writes with the cause; admins pass either way', () => {
    const unreadable: ProtectionFacts = { kind: 'unreadable', cause: 'forbidden' };
    const member = { kind: 'member' as const, level: 30, as: 'you are' };
    assert.equal(judgeAll(protect(writer, 'acme/app/x', 'acme/app', unreadable, member, 'best-effort')).push.granted, true);
    const strict = judgeAll(protect(writer, 'acme/app/x', 'acme/app', unreadable, member, 'strict'));
    assert.deepEqual(strict.push, {
      granted: false,
      rule: 'protection-unreadable',
      because: 'the protection rules of acme/app cannot be read: the serviceToken may not list them (it needs Maintainer on acme/app, or admin); protectedRepositories is strict',
    });
    assert.equal(strict.pull.granted, true);
    assert.equal(judgeAll(protect(writer, 'acme/app/x', 'acme/app', unreadable, { kind: 'admin' }, 'strict')).delete.granted, true);
  });
});

describe('the role of an ID token', () => {
  const caller = (claims: Record<string, string>) => ({ issuer: 'gitlab', project: 'acme/app', projectId: null, ref: null, workflow: null, claims });
  test('user_access_level names it; missing or unknown is unknown', () => {
    assert.deepEqual(protectedCaller(caller({ user_access_level: 'maintainer' })), { kind: 'member', level: 40, as: "the ID token's user_access_level is" });
    assert.equal(protectedCaller(caller({})).kind, 'unknown');
    assert.equal(protectedCaller(caller({ user_access_level: 'superuser' })).kind, 'unknown');
  });
});
