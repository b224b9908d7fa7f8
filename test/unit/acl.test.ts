import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Acl, type AclRule } from '../../src/policy/acl.js';
import { compileGlob } from '../../src/policy/glob.js';
import { allowing, decide, grantedActions, toGrants } from '../../src/policy/grant.js';
import { parseResourceScope } from '../../src/policy/scope.js';

const RULES: AclRule[] = [
  { account: 'admin', type: 'repository', name: '**', actions: ['*'] },
  { account: 'admin', type: 'registry', name: 'catalog', actions: ['*'] },
  { account: 'ci-bot', type: 'repository', name: 'team/**', actions: ['pull', 'push'] },
  { account: '/robot-[0-9]+/', type: 'repository', name: 'robots/*', actions: ['pull'] },
  { account: '*', type: 'repository', name: '${account}/**', actions: ['pull', 'push', 'delete'] },
  { account: '*', type: 'repository', name: 'public/*', actions: ['pull'] },
  { account: '', type: 'repository', name: 'open/*', actions: ['pull'] },
];
const acl = new Acl(RULES);

function granted(account: string, scope: string): string[] {
  return grantedActions(acl.decide(account, parseResourceScope(scope)));
}

describe('glob', () => {
  const cases: [string, string, boolean][] = [
    ['**', 'a/b/c', true],
    ['team/**', 'team/app', true],
    ['team/**', 'team/a/b', true],
    ['team/**', 'team', false],
    ['team/**', 'teamx/app', false],
    ['team/*', 'team/app', true],
    ['team/*', 'team/a/b', false],
    ['*/app', 'x/app', true],
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false],
    ['a.b', 'axb', false],
    ['a+b', 'a+b', true],
  ];
  for (const [pattern, name, expected] of cases) {
    test(`${pattern} ${expected ? 'matches' : 'does not match'} ${name}`, () =>
      assert.equal(compileGlob(pattern).test(name), expected));
  }
});

describe('static ACL', () => {
  test('admin gets * on any repository and the catalog', () => {
    assert.deepEqual(granted('admin', 'repository:x/y:pull,push,delete'), ['pull', 'push', 'delete']);
    assert.deepEqual(granted('admin', 'repository:x/y:*'), ['*']);
    assert.deepEqual(granted('admin', 'registry:catalog:*'), ['*']);
  });

  test('the catalog needs an explicit registry rule', () => {
    assert.deepEqual(granted('ci-bot', 'registry:catalog:*'), []);
    assert.deepEqual(granted('alice', 'registry:catalog:*'), []);
  });

  test('first match wins: a matching rule without the action denies it, later rules are not consulted', () => {
    // ci-bot matches rule 3 for team/**; rule 5 (its own namespace) does not apply to team/app.
    assert.deepEqual(granted('ci-bot', 'repository:team/app:pull,push,delete'), ['pull', 'push']);
    const decision = acl.decide('ci-bot', parseResourceScope('repository:team/app:delete'));
    assert.match(
      decision.verdicts[0]!.reason,
      /^delete denied: acl rule #3 \(account "ci-bot", repository "team\/\*\*"\) allows \[pull, push\]$/,
    );
  });

  test('${account} gives every account its own namespace', () => {
    assert.deepEqual(granted('alice', 'repository:alice/app:pull,push'), ['pull', 'push']);
    assert.deepEqual(granted('alice', 'repository:bob/app:pull,push'), []);
    assert.deepEqual(granted('bob', 'repository:bob/deep/app:delete'), ['delete']);
  });

  test('${account} is substituted literally', () => {
    const literal = new Acl([{ account: '*', type: 'repository', name: '${account}/*', actions: ['pull'] }]);
    assert.deepEqual(grantedActions(literal.decide('a.b', parseResourceScope('repository:a.b/x:pull'))), ['pull']);
    assert.deepEqual(grantedActions(literal.decide('a.b', parseResourceScope('repository:axb/x:pull'))), []);
  });

  test('/regex/ accounts are anchored', () => {
    assert.deepEqual(granted('robot-7', 'repository:robots/x:pull'), ['pull']);
    assert.deepEqual(
      granted('evil-robot-7', 'repository:robots/x:pull'),
      ['pull'].filter(() => false),
    );
    assert.deepEqual(granted('robot-7x', 'repository:robots/x:pull'), []);
  });

  test('anonymous matches only rules whose account is ""', () => {
    assert.deepEqual(granted('', 'repository:public/x:pull'), []);
    assert.deepEqual(granted('', 'repository:open/x:pull,push'), ['pull']);
    assert.deepEqual(granted('alice', 'repository:open/x:pull'), []);
  });

  test('default deny, with a reason naming the account and resource', () => {
    const decision = acl.decide('mallory', parseResourceScope('repository:secret/x:pull'));
    assert.deepEqual(grantedActions(decision), []);
    assert.equal(
      decision.verdicts[0]!.reason,
      'pull denied: no acl rule matches account "mallory" on repository secret/x',
    );
  });

  test('type must match: a repository rule does not grant registry scopes', () => {
    const wide = new Acl([{ account: 'a', type: 'repository', name: '**', actions: ['*'] }]);
    assert.deepEqual(grantedActions(wide.decide('a', parseResourceScope('registry:catalog:*'))), []);
  });
});

describe('intersection and *', () => {
  const scope = (text: string) => parseResourceScope(text);

  test('requested ∩ allowed', () => {
    assert.deepEqual(
      grantedActions(
        decide(scope('repository:a/b:pull,push'), allowing({ actions: ['pull'], rule: 'test', because: 'x' })),
      ),
      ['pull'],
    );
  });

  test('* allowed grants each explicit action asked for', () => {
    assert.deepEqual(
      grantedActions(
        decide(scope('repository:a/b:pull,delete'), allowing({ actions: ['*'], rule: 'test', because: 'x' })),
      ),
      ['pull', 'delete'],
    );
  });

  test('* asked but not held narrows to the explicit actions held', () => {
    const decision = decide(
      scope('repository:a/b:*'),
      allowing({ actions: ['pull', 'push', 'delete'], rule: 'test', because: 'role' }),
    );
    assert.deepEqual(grantedActions(decision), ['pull', 'push', 'delete']);
    assert.equal(decision.verdicts[0]!.reason, '* denied: role');
  });

  test('unknown actions are denied, never an error', () => {
    const decision = decide(
      scope('repository:a/b:pull,frob'),
      allowing({ actions: ['*'], rule: 'test', because: 'x' }),
    );
    assert.deepEqual(grantedActions(decision), ['pull']);
    assert.equal(decision.verdicts[1]!.reason, 'frob denied: unknown action');
  });

  test('toGrants drops scopes with nothing granted and keeps the class', () => {
    const grants = toGrants([
      decide(scope('repository(plugin):a/b:pull'), allowing({ actions: ['pull'], rule: 'test', because: 'x' })),
      decide(scope('repository:c/d:push'), allowing({ actions: ['pull'], rule: 'test', because: 'x' })),
    ]);
    assert.deepEqual(grants, [{ type: 'repository', class: 'plugin', name: 'a/b', actions: ['pull'] }]);
  });

  test('every reason starts with the action and the verdict', () => {
    const decision = decide(
      scope('repository:a/b:pull,push'),
      allowing({ actions: ['pull'], rule: 'test', because: 'because' }),
    );
    assert.deepEqual(
      decision.verdicts.map((v) => v.reason),
      ['pull granted: because', 'push denied: because'],
    );
  });
});
