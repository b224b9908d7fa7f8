import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loopIsBusy, perTurn } from '../../src/token/per-turn.js';

// Signatures are grouped while the event loop is busy: what one turn asks for is made together
// after it, or as soon as a group is full; each caller gets its own result, and a failure stays
// its caller's. With time to spare, each is made as it is asked for.

const busy = () => true;

/** A doubling made through perTurn, recording which inputs each run of the work saw together. */
function recorded(limit: number, grouping = busy) {
  const groups: number[][] = [];
  let current: number[] = [];
  const double = perTurn(
    (n: number) => {
      current.push(n);
      return n * 2;
    },
    limit,
    grouping,
  );
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
  const checked = perTurn(
    (word: string) => {
      if (word === 'bad') throw new Error(`cannot make ${word}`);
      return word.toUpperCase();
    },
    100,
    busy,
  );
  const results = await Promise.allSettled([checked('a'), checked('bad'), checked('b')]);
  assert.deepEqual(
    results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message)),
    ['A', 'cannot make bad', 'B'],
  );
});

test('an idle loop makes each at once, when asked; a group already waiting takes the rest of its turn', async () => {
  let grouping = false;
  const { double, made } = recorded(100, () => grouping);
  const first = double(1);
  assert.deepEqual(made(), [1], 'made when asked');
  assert.equal(await first, 2);
  grouping = true;
  const asked = [double(2)];
  grouping = false;
  asked.push(double(3));
  assert.deepEqual(made(), [1], 'the group of 2 waits for the turn, and 3 joins it');
  assert.deepEqual(await Promise.all(asked), [4, 6]);
  assert.deepEqual(made(), [1, 2, 3]);
});

test('the loop is busy after a window spent working, and idle after one spent waiting', async () => {
  loopIsBusy(); // opens a window, whatever came before
  await sleep(150);
  assert.equal(loopIsBusy(), false, 'a window spent waiting');
  const until = performance.now() + 150;
  while (performance.now() < until); // working, the loop held
  assert.equal(loopIsBusy(), true, 'a window spent working');
  assert.equal(loopIsBusy(), true, 'read once a window');
  await sleep(150);
  assert.equal(loopIsBusy(), false);
});
