import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisLevel } from '../../src/cache/redis.js';
import { silentLogger } from '../../src/log.js';
import { ScriptedRedis } from '../fakes/redis.js';
import { eventually } from '../support/eventually.js';

// The subscriber connection across reconnections, on a Redis scripted to stop at the ready
// check: a connection may be closed (a restart, a shutdown) while its INFO is still to be
// answered, and the answer may still arrive.

test('the subscriber joins again after a reconnection, and a connection closed during its ready check ends quietly', async () => {
  const redis = new ScriptedRedis();
  const url = await redis.start();
  const rejections: unknown[] = [];
  const record = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', record);
  const level = new RedisLevel(url, 'scripted:', silentLogger);
  try {
    level.subscribe('invalidate', () => {});
    const subscriptions = () => redis.sent('SUBSCRIBE');
    await eventually('the subscriber has joined', () => subscriptions().length === 1);
    const first = subscriptions()[0]!;
    assert.deepEqual(
      first.commands.find(([name]) => name === 'SUBSCRIBE'),
      ['SUBSCRIBE', 'scripted:invalidate'],
    );

    first.socket.destroy(); // Redis drops the subscriber: it reconnects and joins again, once
    await eventually('the subscriber has joined again', () => subscriptions().length === 2);
    const second = subscriptions()[1]!;
    assert.equal(second.commands.filter(([name]) => name === 'SUBSCRIBE').length, 1);

    redis.holdInfo = true;
    const known = redis.connections.length;
    second.socket.destroy(); // the only connection that reconnects now is the subscriber's
    const checking = () => redis.connections.slice(known).find((c) => c.commands.some(([name]) => name === 'INFO'));
    await eventually('the subscriber is at its ready check', () => checking() !== undefined);
    await level.close(); // shut down while the ready check is out...
    redis.answerInfo(checking()!); // ...and its answer comes anyway
    await sleep(50);
    assert.deepEqual(rejections, [], 'nothing was left unhandled');
  } finally {
    process.off('unhandledRejection', record);
    await level.close();
    await redis.stop();
  }
});
