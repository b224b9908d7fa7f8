import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { afterAnswers, runAfterAnswers } from '../../src/http/after-answers.js';
import { loopIsBusy } from '../../src/token/per-turn.js';

// A token request's audit line and metrics are written a few milliseconds after the answer,
// with the rest of its burst's, not before the next answer.

/** Lets the event loop spend a window of `loopIsBusy` waiting, so that it has time again. */
async function idleLoop(): Promise<void> {
  loopIsBusy(); // opens a window, whatever came before
  await sleep(150);
  assert.equal(loopIsBusy(), false, 'a window spent waiting');
}

test('work waits, then runs in order, a throw stopping none of the rest', async () => {
  const done: string[] = [];
  afterAnswers(() => done.push('first line'));
  afterAnswers(() => {
    throw new Error('a broken line');
  });
  afterAnswers(() => done.push('second line'));
  assert.deepEqual(done, [], 'nothing runs while the burst is still being answered');
  const [warning] = (await once(process, 'warning')) as [Error];
  assert.match(warning.message, /a broken line/);
  assert.deepEqual(done, ['first line', 'second line']);
});

test('work waits 5 ms for the rest of the burst while the loop has time, or for the end of the turn when much waits', async (t) => {
  await idleLoop();
  t.mock.timers.enable({ apis: ['setTimeout'] }); // the turns are real, the 5 ms are told
  const done: number[] = [];
  afterAnswers(() => done.push(1));
  await nextTurn();
  t.mock.timers.tick(4);
  assert.equal(done.length, 0, 'a burst answers its next requests first');
  t.mock.timers.tick(1);
  assert.deepEqual([...done], [1]);

  for (let i = 0; i < 64; i++) afterAnswers(() => done.push(2));
  await nextTurn();
  assert.equal(done.length, 65, 'a long queue runs after the turn that filled it');
});

test('while the loop is busy, work runs after the turn that answered: what it holds dies young', async () => {
  loopIsBusy(); // opens a window, whatever came before
  const until = performance.now() + 150;
  while (performance.now() < until); // working, the loop held
  const done: number[] = [];
  afterAnswers(() => done.push(1));
  afterAnswers(() => done.push(2));
  assert.deepEqual(done, [], 'not before the rest of the turn');
  await nextTurn();
  assert.deepEqual(done, [1, 2], 'no 5 ms wait');
  await idleLoop(); // for the tests after this one
});

test('what waits can be run at once (a reader of the log, the exit hook)', () => {
  const done: number[] = [];
  afterAnswers(() => done.push(1));
  afterAnswers(() => done.push(2));
  runAfterAnswers();
  assert.deepEqual(done, [1, 2]);
  runAfterAnswers();
  assert.deepEqual(done, [1, 2], 'each runs once');
});

test('a process ended by process.exit() still runs what waits, before the other exit hooks', () => {
  const script = [
    "import { afterAnswers } from './src/http/after-answers.ts';",
    "process.on('exit', () => process.stdout.write('log passed on\\n'));",
    "afterAnswers(() => process.stdout.write('audit line\\n'));",
    'process.exit(0);',
  ].join('\n');
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout, 'audit line\nlog passed on\n');
});
