import assert from 'node:assert/strict';
import { test } from 'node:test';
import { perTurn } from '../../src/token/per-turn.js';

// Signatures are grouped by turns of the event loop: what is asked for in one turn is made
// together after it, each caller gets its own result, and one failure stays its caller's.

test('what one turn asks for is made together, after the turn, each for its own caller', async () => {
  const made: number[][] = [];
  let current: number[] = [];
  const double = perTurn((n: number) => {
    current.push(n);
    return n * 2;
  });
  const group = () => {
    made.push(current);
    current = [];
  };
  const first = [double(1), double(2), double(3)];
  assert.deepEqual(current, [], 'nothing is made while the turn still runs');
  assert.deepEqual(await Promise.all(first), [2, 4, 6]);
  group();
  // Asked from the continuations of the first group: a group of their own, in a later turn.
  const second = await Promise.all([double(4), double(5)]);
  group();
  assert.deepEqual(second, [8, 10]);
  assert.deepEqual(made, [
    [1, 2, 3],
    [4, 5],
  ]);
});

test('a throw rejects only the input that caused it', async () => {
  const checked = perTurn((word: string) => {
    if (word === 'bad') throw new Error(`cannot make ${word}`);
    return word.toUpperCase();
  });
  const results = await Promise.allSettled([checked('a'), checked('bad'), checked('b')]);
  assert.deepEqual(
    results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message)),
    ['A', 'cannot make bad', 'B'],
  );
});
