import assert from 'node:assert/strict';
import { test } from 'node:test';
import { perTurn } from '../../src/token/per-turn.js';

// Signatures are grouped: what one turn of the event loop asks for is made together after it,
// or as soon as a group is full; each caller gets its own result, and a failure stays its caller's.

/** A doubling made through perTurn, recording which inputs each run of the work saw together. */
function recorded(limit: number) {
  const groups: number[][] = [];
  let current: number[] = [];
  const double = perTurn((n: number) => {
    current.push(n);
    return n * 2;
  }, limit);
  const close = () => {
    if (current.length > 0) groups.push(current);
    current = [];
  };
  return { double, groups, close, made: () => current };
}

test('what one turn asks for is made together, after the turn, each for its own caller', async () => {
  const { double, groups, close, made } = recorded(100);
  const first = [double(1), double(2), double(3)];
  assert.deepEqual(made(), [], 'nothing is made while the turn still runs');
  assert.deepEqual(await Promise.all(first), [2, 4, 6]);
  close();
  // Asked from the continuations of the first group: a group of their own, in a later turn.
  assert.deepEqual(await Promise.all([double(4), double(5)]), [8, 10]);
  close();
  assert.deepEqual(groups, [
    [1, 2, 3],
    [4, 5],
  ]);
});

test('a full group is made at once; the rest of the turn waits for its end', async () => {
  const { double, made } = recorded(3);
  const asked = [double(1), double(2)];
  assert.deepEqual(made(), []);
  asked.push(double(3));
  assert.deepEqual(made(), [1, 2, 3], 'the third fills the group');
  asked.push(double(4), double(5));
  assert.deepEqual(made(), [1, 2, 3]);
  assert.deepEqual(await Promise.all(asked), [2, 4, 6, 8, 10]);
  assert.deepEqual(made(), [1, 2, 3, 4, 5]);
});

test('a throw rejects only the input that caused it', async () => {
  const checked = perTurn((word: string) => {
    if (word === 'bad') throw new Error(`cannot make ${word}`);
    return word.toUpperCase();
  }, 100);
  const results = await Promise.allSettled([checked('a'), checked('bad'), checked('b')]);
  assert.deepEqual(
    results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message)),
    ['A', 'cannot make bad', 'B'],
  );
});
