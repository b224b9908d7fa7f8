import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { censorSecrets, CENSORED, createLogger, isoTime, writeInfo } from '../../src/log.js';
import { LineBlocks } from '../../src/log-blocks.js';
import { textSink } from '../support/text-sink.js';

// The logger's safety net: a field named like a secret is never written, at the top level or
// one object down, whoever logged it.

test('secret-named fields are censored at the top level and one level down, any case', () => {
  const input = {
    msg: 'x',
    password: 'hunter2',
    Authorization: 'Basic abc',
    headers: { authorization: 'Bearer t', accept: 'json' },
    request: { token: 'glpat-123', refresh_token: 'r', access_token: 'a', path: '/token' },
    list: [{ token: 'deeper arrays are data' }],
    absent: undefined,
    password2: 'kept: another name',
  };
  const copy = structuredClone(input);
  const out = censorSecrets(input);
  assert.deepEqual(out, {
    msg: 'x',
    password: CENSORED,
    Authorization: CENSORED,
    headers: { authorization: CENSORED, accept: 'json' },
    request: { token: CENSORED, refresh_token: CENSORED, access_token: CENSORED, path: '/token' },
    list: [{ token: 'deeper arrays are data' }],
    absent: undefined,
    password2: 'kept: another name',
  });
  assert.deepEqual(input, copy, 'the caller’s object is untouched');
});

test('a line without secret-named fields is passed through as it is', () => {
  const line = { reqId: '1', subject: 'alice', oidc: { issuer: 'https://ci' }, granted: ['repository:a/b:pull'] };
  assert.equal(censorSecrets(line), line);
});

test('an error carrying a secret keeps its message and stack', () => {
  const err = Object.assign(new Error('forge said no'), { token: 'ghp_secret' });
  const out = censorSecrets({ err }).err as Record<string, unknown>;
  assert.equal(out.token, CENSORED);
  assert.equal(out.message, 'forge said no');
  assert.match(String(out.stack), /forge said no/);
});

test('the logger writes censored lines', async () => {
  const { sink, text } = textSink();
  const logger = createLogger('info', sink);
  logger.info({ user: 'alice', password: 'hunter2', request: { authorization: 'Basic xyz' } }, 'login');
  logger.flush();
  await new Promise((resolve) => setImmediate(resolve));
  const line = JSON.parse(text()) as Record<string, unknown>;
  assert.equal(line.user, 'alice');
  assert.equal(line.password, CENSORED);
  assert.deepEqual(line.request, { authorization: CENSORED });
  assert.ok(!text().includes('hunter2') && !text().includes('Basic xyz'));
});

test('writeInfo writes what logger.info writes, byte for byte but the time', async () => {
  const lines: Record<string, unknown>[] = [
    {},
    { reqId: 'r-1', clientIp: '192.0.2.7', subject: undefined, requested: [], granted: ['repository:a/b:pull,push'] },
    {
      userAgent:
        'docker/27 "quoted" \\ back\u0000slash \u00e9\u4e2d\ud83d\ude00 and a longer tail past forty-two chars',
      oidc: { issuer: 'https://ci', repository: 'g/p', repositoryId: 7, ref: null, rule: null },
      offline: false,
      latencyMs: 0.125,
      denied: ['a/b: push denied: "no" rule'],
      password: 'hunter2',
      nested: { token: 'glpat-x', kept: 1 },
    },
  ];
  for (const [level, child] of [
    ['info', false],
    ['info', true],
    ['warn', false],
  ] as const) {
    const pinoSink = textSink();
    const ownSink = textSink();
    const base = [createLogger(level, pinoSink.sink), createLogger(level, ownSink.sink)];
    const [viaPino, viaOwn] = child ? base.map((l) => l.child({ component: 'audit' })) : base;
    for (const fields of lines) {
      viaPino!.info(fields, 'token request');
      writeInfo(viaOwn!, fields, 'token request');
    }
    for (const logger of base) logger.flush();
    await new Promise((resolve) => setImmediate(resolve));
    const untimed = (text: string) => text.replace(/"time":"[^"]*"/g, '"time":"T"');
    assert.equal(untimed(ownSink.text()), untimed(pinoSink.text()), `${level}${child ? ', child logger' : ''}`);
    assert.equal(ownSink.text().split('\n').length - 1, level === 'info' ? lines.length : 0);
  }
});

test("the time field is pino's isoTime, remade each millisecond", (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.UTC(2026, 10, 30, 23, 59, 59, 998) });
  for (let step = 0; step < 4; step++) {
    assert.equal(isoTime(), pino.stdTimeFunctions.isoTime());
    assert.equal(isoTime(), pino.stdTimeFunctions.isoTime(), 'the same millisecond, again');
    t.mock.timers.tick(1);
  }
  assert.equal(isoTime(), ',"time":"2026-12-01T00:00:00.002Z"');
});

test('lines reach stdout as the buffer fills, within the same turn: a busy server keeps no backlog in memory', async () => {
  // Written asynchronously, a block waits for the event loop's next turn, and a server whose
  // turns each answer dozens of requests produced lines faster than they left: its heap grew
  // by the backlog for as long as the load lasted.
  const lines = 2_000;
  const { stdout, stderr } = await runLogging(`
    import { fstatSync } from 'node:fs';
    const logger = createLogger('info');
    for (let i = 0; i < ${lines}; i++) logger.info({ reqId: String(i), requested: ['repository:a/b:pull'] }, 'token request');
    process.stderr.write(String(fstatSync(1).size));
  `);
  const lineBytes = stdout.split('\n')[0]!.length + 1;
  const sizeInTurn = Number(stderr.trim());
  assert.ok(
    sizeInTurn >= lines * lineBytes - 64 * 1024,
    `written before the turn ended: ${sizeInTurn} of ${lines * lineBytes} bytes`,
  );
});

test('a line written just before the process exits reaches stdout, and two loggers keep their order', async () => {
  const { stdout } = await runLogging(`
    const [first, second] = [createLogger('info'), createLogger('info')];
    for (let i = 0; i < 5; i++) (i % 2 ? second : first).info({ n: i }, 'line');
    process.exit(0);
  `);
  assert.deepEqual(
    stdout
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as { n: number }).n),
    [0, 1, 2, 3, 4],
  );
});

/** Runs `body` (an ES module with createLogger in scope) in a node of its own, stdout to a file. */
async function runLogging(body: string): Promise<{ stdout: string; stderr: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'forgegate-log-'));
  const file = join(dir, 'stdout');
  const script = `import { createLogger } from ${JSON.stringify(new URL('../../src/log.ts', import.meta.url).href)};\n${body}`;
  try {
    const out = openSync(file, 'w');
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', out, 'pipe'],
    });
    closeSync(out);
    assert.equal(child.status, 0, String(child.stderr));
    return { stdout: readFileSync(file, 'utf8'), stderr: String(child.stderr) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('LineBlocks passes whole blocks in order, and what is left on flush', () => {
  const passed: string[] = [];
  let flushed = 0;
  const blocks = new LineBlocks(
    { write: (block: string) => void passed.push(block), flush: (cb) => (flushed++, cb?.()) },
    10,
    60_000,
  );
  blocks.write('aaaa\n');
  assert.deepEqual(passed, [], 'a block waits until it is full');
  blocks.write('bbbbbb\n');
  assert.deepEqual(passed, ['aaaa\nbbbbbb\n']);
  blocks.write('c\n');
  blocks.flush();
  assert.deepEqual(passed, ['aaaa\nbbbbbb\n', 'c\n']);
  assert.equal(flushed, 1);
  blocks.flush();
  assert.equal(passed.length, 2, 'nothing left, nothing passed');
});
