import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_SCOPES, ScopeError, formatScope, parseResourceScope, parseScopes } from '../../src/policy/scope.js';

describe('scope grammar (docs/protocol.md section 5)', () => {
  test('plain repository scope', () => {
    assert.deepEqual(parseResourceScope('repository:group/project/app:pull,push'), {
      type: 'repository',
      name: 'group/project/app',
      actions: ['pull', 'push'],
    });
  });

  test('a port in the name: type ends at the first colon, actions start after the last', () => {
    assert.deepEqual(parseResourceScope('repository:localhost:5000/team/app:pull'), {
      type: 'repository',
      name: 'localhost:5000/team/app',
      actions: ['pull'],
    });
  });

  test('repository(plugin) keeps its class', () => {
    assert.deepEqual(parseResourceScope('repository(plugin):vieux/sshfs:pull'), {
      type: 'repository',
      class: 'plugin',
      name: 'vieux/sshfs',
      actions: ['pull'],
    });
  });

  test('registry catalog with *', () => {
    assert.deepEqual(parseResourceScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
  });

  test('action order is kept, duplicates and empty entries dropped', () => {
    assert.deepEqual(parseResourceScope('repository:a/b:push,,pull,push').actions, ['push', 'pull']);
  });

  test('unknown actions parse (they are denied later, not rejected)', () => {
    assert.deepEqual(parseResourceScope('repository:a/b:pull,frobnicate').actions, ['pull', 'frobnicate']);
  });

  test('name components allow the separators of the reference grammar', () => {
    for (const name of ['a', 'a.b', 'a_b', 'a__b', 'a-b', 'a---b', 'my.org/my_app/x-1', 'registry.example.com/a/b']) {
      assert.equal(parseResourceScope(`repository:${name}:pull`).name, name);
    }
  });

  test('several scopes in one value, repeated values, union per resource', () => {
    const scopes = parseScopes([
      'repository:a/b:pull repository:c/d:push',
      'repository:a/b:push,pull',
      'registry:catalog:*',
    ]);
    assert.deepEqual(scopes, [
      { type: 'repository', name: 'a/b', actions: ['pull', 'push'] },
      { type: 'repository', name: 'c/d', actions: ['push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
  });

  test('the same name under another class is another resource', () => {
    assert.equal(parseScopes(['repository:a/b:pull repository(plugin):a/b:pull']).length, 2);
  });

  test('absent or empty scope means a login token', () => {
    assert.deepEqual(parseScopes([]), []);
    assert.deepEqual(parseScopes(['']), []);
    assert.deepEqual(parseScopes(['  ']), []);
  });

  test('names are never rewritten (no library/ prefix)', () => {
    assert.equal(parseResourceScope('repository:ubuntu:pull').name, 'ubuntu');
  });

  const malformed: [string, string][] = [
    ['repository', 'not type:name:actions'],
    ['repository:a/b', 'not type:name:actions'],
    [':a/b:pull', 'not type:name:actions'],
    ['repository::pull', 'empty name'],
    ['repository:a/b:', 'names no action'],
    ['repository:a/b:,', 'names no action'],
    ['Repository:a/b:pull', 'invalid resource type'],
    ['repository(:a/b:pull', 'invalid resource type'],
    ['repository:A/b:pull', 'invalid name'],
    ['repository:a//b:pull', 'invalid name'],
    ['repository:a/b/:pull', 'invalid name'],
    ['repository:-a/b:pull', 'invalid name'],
    ['repository:a:b:c/d:pull', 'invalid name'],
    ['repository:a/b:pu ll', 'not type:name:actions'],
    ['repository:a/b:PULL', 'invalid action'],
    ['repository:a/b:pull;rm', 'invalid action'],
  ];
  for (const [text, message] of malformed) {
    test(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseScopes([text]),
        (error: Error) => error instanceof ScopeError && error.message.includes(message),
      );
    });
  }

  test('names longer than 255 characters are rejected', () => {
    assert.throws(() => parseResourceScope(`repository:${'a'.repeat(256)}:pull`), /longer than 255/);
    assert.equal(parseResourceScope(`repository:${'a'.repeat(255)}:pull`).name.length, 255);
  });

  test(`at most ${MAX_SCOPES} resources per request`, () => {
    const many = Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `repository:r/n${i}:pull`);
    assert.throws(() => parseScopes(many), /more than 64 scopes/);
    assert.equal(parseScopes(many.slice(0, MAX_SCOPES)).length, MAX_SCOPES);
    // Repeats of one resource are one scope, however many there are.
    assert.equal(parseScopes(Array(500).fill('repository:a/b:pull')).length, 1);
  });

  test('pathological names are rejected quickly (no catastrophic backtracking)', () => {
    const started = process.hrtime.bigint();
    for (const evil of [
      'a'.repeat(250) + '!',
      'a-'.repeat(120) + '-',
      `${'a.'.repeat(100)}a:${'9'.repeat(50)}/x!`,
      'a__'.repeat(80) + '_',
    ]) {
      assert.throws(() => parseResourceScope(`repository:${evil}:pull`), ScopeError);
    }
    // Generous bound: exponential backtracking would take seconds to hours.
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 1000);
  });

  test('error messages clip huge input', () => {
    assert.throws(
      () => parseScopes([`repository:${'A'.repeat(200)}:pull`]),
      (error: Error) => error.message.length < 300,
    );
  });

  test('formatScope is the inverse of parsing', () => {
    for (const text of [
      'repository:a/b:pull,push',
      'repository(plugin):x/y:pull',
      'registry:catalog:*',
      'repository:host:5000/a:delete',
    ]) {
      assert.equal(formatScope(parseResourceScope(text)), text);
    }
  });
});
