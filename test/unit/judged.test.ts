import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judged } from '../../src/forges/judged.js';
import { allowing, no, yes, type Judge } from '../../src/policy/grant.js';

// A cached decision's judgements are shared when equal: the same content, one frozen object.

test('equal judgements within a decision and across decisions are one frozen object', () => {
  const admin = judged(allowing({ actions: ['*'], rule: 'admin', because: 'ada is a GitLab instance admin' }), 'g/p');
  const { pull, push, delete: del } = admin.judgements;
  assert.equal(pull, push);
  assert.equal(pull, del);
  assert.equal(pull, admin.judgements['*']);
  assert.ok(Object.isFrozen(pull));
  assert.throws(() => ((pull as { granted: boolean }).granted = false), TypeError);

  const byRole: Judge = (action) =>
    action === 'pull'
      ? yes('role', 'role Developer >= Reporter on g/p')
      : no('role', 'role Developer < Maintainer on g/p');
  const first = judged(byRole, 'g/p');
  const second = judged(byRole, 'g/p');
  assert.notEqual(first.judgements, second.judgements, 'each decision has its own record');
  assert.equal(first.judgements.pull, second.judgements.pull, 'another caller judged alike shares the judgement');
  assert.equal(first.judgements.push, second.judgements.delete);
});

test('judgements that differ in any field stay apart, with their content', () => {
  const granted = judged(() => yes('role', 'same words'), null).judgements.pull;
  const denied = judged(() => no('role', 'same words'), null).judgements.pull;
  const otherRule = judged(() => yes('acl-rule', 'same words'), null).judgements.pull;
  assert.deepEqual(granted, { granted: true, rule: 'role', because: 'same words' });
  assert.deepEqual(denied, { granted: false, rule: 'role', because: 'same words' });
  assert.deepEqual(otherRule, { granted: true, rule: 'acl-rule', because: 'same words' });
  // A rule name that looks like part of the reason cannot collide with another judgement.
  const a = judged(() => yes('x\ny', 'z'), null).judgements.pull;
  const b = judged(() => yes('x', 'y\nz'), null).judgements.pull;
  assert.notEqual(a, b);
  assert.equal(a.rule, 'x\ny');
  assert.equal(b.because, 'y\nz');
});
