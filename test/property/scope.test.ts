import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Acl, type AclRule } from '../../src/policy/acl.js';
import { grantedActions } from '../../src/policy/grant.js';
import { formatScope, MAX_SCOPES, parseResourceScope, parseScopes, ScopeError } from '../../src/policy/scope.js';
import type { Action } from '../../src/policy/types.js';
import { EXPLICIT, expectedGrant } from './oracle.js';

// The scope grammar of docs/protocol.md section 5: valid scopes round-trip through format and
// parse; arbitrary text either parses or fails with a ScopeError (a 400), never anything
// else; the order and repetition of scope values never change what is asked for. And the
// static ACL: first match wins, default deny, anonymous only by explicit rule.

const alnum = fc.stringMatching(/^[a-z0-9]{1,6}$/);
const component = fc
  .tuple(alnum, fc.array(fc.tuple(fc.constantFrom('.', '_', '__', '-', '--'), alnum), { maxLength: 2 }))
  .map(([head, rest]) => head + rest.map(([s, c]) => s + c).join(''));
const host = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9]{1,5}(\.[a-z0-9]{1,5}){1,2}$/),
    fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
  )
  .map(([h, p]) => (p === undefined ? h : `${h}:${p}`));
const name = fc
  .tuple(fc.option(host, { nil: undefined }), fc.array(component, { minLength: 1, maxLength: 4 }))
  .map(([h, parts]) => [...(h ? [h] : []), ...parts].join('/'))
  .filter((n) => n.length <= 255);
const actions = fc.uniqueArray(
  fc.oneof(fc.constantFrom('pull', 'push', 'delete', '*'), fc.stringMatching(/^[a-z]{1,8}$/)),
  { minLength: 1, maxLength: 5 },
);
const scope = fc
  .record({
    type: fc.constantFrom('repository', 'registry', 'plugin'),
    class: fc.option(fc.constantFrom('plugin', 'image'), { nil: undefined }),
    name,
    actions,
  })
  .map(({ class: cls, ...rest }) => (cls === undefined ? { ...rest } : { ...rest, class: cls }));

/** What a request asks for, independent of order: resource -> set of actions. */
function asked(scopes: ReturnType<typeof parseScopes>): Record<string, string[]> {
  const entries: [string, string[]][] = scopes.map((s) => [
    `${s.type}(${s.class ?? ''}):${s.name}`,
    [...s.actions].sort(),
  ]);
  return Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
}

function parsesOrScopeError(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ScopeError, `threw ${(error as Error)?.name}: ${(error as Error)?.message}`);
  }
}

describe('scope parser', () => {
  test('valid scopes round-trip: parse(format(s)) = s', () => {
    fc.assert(
      fc.property(scope, (s) => {
        assert.deepEqual(parseResourceScope(formatScope(s)), s, 'round trip');
      }),
      { numRuns: 3000 },
    );
  });

  test('anything that parses formats back to text that parses to the same scope', () => {
    const texty = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.stringMatching(/^[a-z(): ,*/.\-_0-9]{0,80}$/),
    );
    fc.assert(
      fc.property(texty, (text) => {
        let parsed;
        try {
          parsed = parseResourceScope(text);
        } catch (error) {
          assert.ok(error instanceof ScopeError, `threw ${(error as Error)?.name}`);
          return;
        }
        assert.deepEqual(parseResourceScope(formatScope(parsed)), parsed, 'reparse');
      }),
      { numRuns: 5000 },
    );
  });

  test('never throws anything but ScopeError on arbitrary strings and lists of them', () => {
    const junk = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.constantFrom(
        'repository:a/b:',
        ':::',
        'a:b:c:d:e',
        `repository:${'a/'.repeat(200)}b:pull`,
        'repository(x:a:pull',
        'repository:a:,,,',
        'repository:a:pull,,*',
        '__proto__:constructor:pull',
        'repository:__proto__:pull',
      ),
      scope.map(formatScope),
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.array(junk, { maxLength: 4 }).map((a) => a.join(' ')),
          { maxLength: 5 },
        ),
        (values) => {
          parsesOrScopeError(() => parseScopes(values));
          for (const v of values) parsesOrScopeError(() => parseResourceScope(v));
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('order, splitting and repetition of scope values never change what is asked', () => {
    fc.assert(
      fc.property(fc.array(scope, { minLength: 1, maxLength: 8 }), fc.infiniteStream(fc.boolean()), (scopes, coin) => {
        const texts = scopes.map(formatScope);
        const reference = asked(parseScopes(texts));
        const shuffled = [...texts].sort(() => (coin.next().value ? 1 : -1));
        assert.deepEqual(asked(parseScopes(shuffled)), reference, 'shuffled');
        assert.deepEqual(asked(parseScopes([shuffled.join(' ')])), reference, 'space-joined');
        assert.deepEqual(asked(parseScopes([...texts, ...shuffled])), reference, 'repeated');
      }),
      { numRuns: 1000 },
    );
  });

  test(`more than ${MAX_SCOPES} distinct resources is a ScopeError`, () => {
    const many = Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `repository:r/n${i}:pull`);
    assert.throws(() => parseScopes(many), ScopeError);
  });
});

// ---- the static ACL -----------------------------------------------------------------------

const ACCOUNTS = ['', 'alice', 'bob', 'ci-bot', 'a*'];
const aclRule: fc.Arbitrary<AclRule> = fc.record({
  account: fc.constantFrom('', 'alice', 'bob', '*', 'ci-*', '/b.b/', 'a*'),
  type: fc.constantFrom('repository', 'registry'),
  name: fc.constantFrom('team/app', 'team/*', 'team/**', '**', '${account}/**', 'catalog', 'other/x'),
  actions: fc.uniqueArray(fc.constantFrom<Action>('pull', 'push', 'delete', '*'), { minLength: 1, maxLength: 4 }),
});

/** Static accounts' `acl` rules (docs/configuration.md), by hand: literal-or-simple glob, first match, default deny. */
function oracleMatch(rule: AclRule, account: string, type: string, image: string): boolean {
  if (rule.type !== type) return false;
  const accountOk =
    rule.account === ''
      ? account === ''
      : account !== '' &&
        (rule.account === '*'
          ? !account.includes('/')
          : rule.account === 'ci-*'
            ? account.startsWith('ci-') && !account.includes('/')
            : rule.account === '/b.b/'
              ? /^b.b$/.test(account)
              : rule.account === 'a*'
                ? account.startsWith('a') && !account.includes('/')
                : rule.account === account);
  if (!accountOk) return false;
  const segments = image.split('/');
  switch (rule.name) {
    case '**':
      return true;
    case 'team/**':
      return image.startsWith('team/');
    case 'team/*':
      return segments.length === 2 && segments[0] === 'team';
    case '${account}/**':
      return image.startsWith(`${account}/`);
    default:
      return rule.name === image;
  }
}

describe('static ACL', () => {
  test('first matching rule decides, default deny, anonymous only by an explicit "" rule', () => {
    fc.assert(
      fc.property(
        fc.array(aclRule, { maxLength: 6 }),
        fc.constantFrom(...ACCOUNTS),
        fc.constantFrom('repository', 'registry'),
        fc.constantFrom('team/app', 'team/app/x', 'alice/x', 'a*/x', 'ab/x', 'bob/y', 'catalog', 'other/x'),
        fc.uniqueArray(fc.constantFrom('pull', 'push', 'delete', '*'), { minLength: 1 }),
        (rules, account, type, image, requested) => {
          const got = grantedActions(new Acl(rules).decide(account, { type, name: image, actions: requested }));
          const rule = rules.find((r) => oracleMatch(r, account, type, image));
          const holds = new Set(rule?.actions ?? []);
          const explicit = new Set(EXPLICIT.filter((a) => holds.has(a) || holds.has('*')));
          const expected = expectedGrant(requested, { explicit, star: holds.has('*') });
          assert.deepEqual(got, expected, `rules ${JSON.stringify(rules)}`);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
