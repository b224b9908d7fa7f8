import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readGet } from '../../src/http/token-request.js';
import { BadRequest } from '../../src/errors.js';

// A GET's reading is kept by its exact text (query string and Authorization header), frozen,
// so that a repeated request is found instead of read anew.

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

test('a repeated GET is read once: the same frozen request, scopes and credential', () => {
  const query = 'service=registry.test&scope=repository:team/app:pull,push&scope=repository:team/app:pull';
  const first = readGet(query, basic('robot', 'secret'));
  assert.deepEqual(first, {
    service: 'registry.test',
    scopes: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
    credential: { kind: 'password', username: 'robot', password: 'secret' },
    offline: false,
  });
  assert.equal(readGet(query, basic('robot', 'secret')), first);
  for (const part of [first, first.scopes, first.scopes[0], first.scopes[0]!.actions, first.credential])
    assert.ok(Object.isFrozen(part));
  assert.throws(() => {
    (first.scopes[0]!.actions as string[]).push('delete');
  }, TypeError);
});

test('another header or query is another request', () => {
  const query = 'service=registry.test&scope=repository:team/app:pull';
  const robot = readGet(query, basic('robot', 'secret'));
  assert.notEqual(readGet(query, basic('robot', 'other')), robot);
  assert.deepEqual(readGet(query, basic('robot', 'other')).credential, {
    kind: 'password',
    username: 'robot',
    password: 'other',
  });
  assert.deepEqual(readGet(query, undefined).credential, { kind: 'anonymous' });
  assert.deepEqual(readGet(`${query}&offline_token=true`, basic('robot', 'secret')).offline, true);
});

test('a request that fails to read fails every time', () => {
  for (let i = 0; i < 3; i++) {
    assert.throws(() => readGet('service=a&service=b', undefined), BadRequest);
    assert.throws(() => readGet('scope=repository::pull', undefined), /empty name/);
  }
  // Repeated with the same value is one value.
  assert.equal(readGet('service=a&service=a', undefined).service, 'a');
});

test('a long request is read anew each time, not kept', () => {
  const names = Array.from(
    { length: 40 },
    (_, i) => `scope=repository:team/a-rather-long-application-name-${i}:pull`,
  ).join('&');
  assert.ok(names.length > 2048);
  const first = readGet(names, undefined);
  assert.equal(first.scopes.length, 40);
  assert.notEqual(readGet(names, undefined), first);
  assert.deepEqual(readGet(names, undefined), first);
});
