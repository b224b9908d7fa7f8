import assert from 'node:assert/strict';
import { createSecretKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAuthorization } from '../../src/credentials/credential.js';
import { HtpasswdError, HtpasswdFile, parseHtpasswd } from '../../src/credentials/htpasswd.js';
import { StaticAccounts } from '../../src/credentials/static.js';
import { AuthenticationFailed, BadRequest } from '../../src/errors.js';
import { makeTempDir } from '../support/processes.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');
const HASH_ALICE = '$2y$04$qQ4owHC15qhFECEqTPywuO/hSaK/KeIcNYnBwexrALhSMkKQOiTCO'; // alice-pass

describe('Authorization header', () => {
  test('absent or blank is anonymous', () => {
    assert.deepEqual(parseAuthorization(undefined), { kind: 'anonymous' });
    assert.deepEqual(parseAuthorization('  '), { kind: 'anonymous' });
  });

  test('Basic splits on the first colon; the scheme is case-insensitive', () => {
    assert.deepEqual(parseAuthorization(`Basic ${b64('alice:pa:ss:word')}`), {
      kind: 'password',
      username: 'alice',
      password: 'pa:ss:word',
    });
    assert.deepEqual(parseAuthorization(`bAsIc  ${b64('a:b')}`), { kind: 'password', username: 'a', password: 'b' });
  });

  test('an empty user with a refresh-token-shaped password is a refresh credential', () => {
    const jwe = 'eyJhbGciOiJkaXIifQ..aaaa.bbbb.cccc';
    assert.deepEqual(parseAuthorization(`Basic ${b64(`:${jwe}`)}`), { kind: 'refresh', token: jwe });
    assert.deepEqual(parseAuthorization(`Basic ${b64(':glpat-xyz')}`), {
      kind: 'password',
      username: '',
      password: 'glpat-xyz',
    });
  });

  const malformed: [string, RegExp][] = [
    ['Bearer abc', /unsupported authorization scheme "Bearer"/],
    ['Basic', /malformed Basic/],
    ['Basic !!!!', /malformed Basic/],
    [`Basic ${b64('nocolon')}`, /no ":"/],
    [`Basic ${b64('user:')}`, /password is empty/],
    [`Basic ${b64(`${'u'.repeat(300)}:p`)}`, /username is longer/],
    [`Basic ${b64(`u:${'p'.repeat(9000)}`)}`, /password is longer/],
    [`Basic ${b64('a:b')} extra`, /malformed Basic/],
  ];
  for (const [header, message] of malformed) {
    test(`rejects ${header.slice(0, 30)}`, () => {
      assert.throws(
        () => parseAuthorization(header),
        (error: Error) => error instanceof BadRequest && message.test(error.message),
      );
    });
  }
});

describe('htpasswd', () => {
  test('bcrypt lines of every prefix, comments and blank lines', () => {
    const users = parseHtpasswd(
      `# robots\n\nalice:${HASH_ALICE}\nbob:${HASH_ALICE.replace('$2y$', '$2b$')}\r\ncarol:${HASH_ALICE.replace('$2y$', '$2a$')}\n`,
      'f',
    );
    assert.deepEqual([...users.keys()], ['alice', 'bob', 'carol']);
  });

  const refused: [string, RegExp][] = [
    ['alice:$apr1$abc$def', /line 1 \(user alice\): unsupported hash type \$apr1\$ \(MD5\)/],
    ['alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', /unsupported hash type \{SHA\}/],
    ['alice:plaintext', /unsupported hash type \(crypt or plain text\)/],
    ['alice:$5$salt$hash', /unsupported hash type \$5\$/],
    ['# ok\njustaname', /line 2: expected user:hash/],
    [`alice:${HASH_ALICE}\nalice:${HASH_ALICE}`, /line 2: user alice is listed twice/],
  ];
  for (const [text, message] of refused) {
    test(`refuses ${text.split('\n').at(-1)!.slice(0, 30)}`, () => {
      assert.throws(
        () => parseHtpasswd(text, '/etc/htpasswd'),
        (error: Error) =>
          error instanceof HtpasswdError && message.test(error.message) && error.message.includes('/etc/htpasswd'),
      );
    });
  }

  test('the file is re-read when it changes; a broken edit keeps the last good content', async () => {
    const dir = await makeTempDir('htpasswd');
    const path = join(dir, 'htpasswd');
    await writeFile(path, `alice:${HASH_ALICE}\n`);
    const errors: string[] = [];
    const file = await HtpasswdFile.load(path, (e) => errors.push(e.message));
    assert.equal(await file.has('alice'), true);
    await writeFile(path, `bob:${HASH_ALICE}\n`);
    await sleep(1100);
    assert.equal(await file.has('alice'), false);
    assert.equal(await file.has('bob'), true);
    await writeFile(path, 'bob:$apr1$x$y\n');
    await sleep(1100);
    assert.equal(await file.has('bob'), true);
    assert.match(errors[0]!, /unsupported hash/);
  });
});

describe('static accounts', () => {
  async function accounts(text: string) {
    const dir = await makeTempDir('static');
    const path = join(dir, 'htpasswd');
    await writeFile(path, text);
    return {
      path,
      accounts: new StaticAccounts(await HtpasswdFile.load(path), createSecretKey(new Uint8Array(32).fill(7)), 60),
    };
  }

  test('a verified credential is remembered; a wrong one is not', async () => {
    const { accounts: a } = await accounts(`alice:${HASH_ALICE}\n`);
    assert.equal((await a.authenticate('alice', 'alice-pass')).cached, false);
    assert.equal((await a.authenticate('alice', 'alice-pass')).cached, true);
    await assert.rejects(
      a.authenticate('alice', 'wrong'),
      (e: Error) =>
        e instanceof AuthenticationFailed &&
        /wrong password for static account "alice"/.test((e as AuthenticationFailed).reason),
    );
    await assert.rejects(a.authenticate('nobody', 'x'), AuthenticationFailed);
  });

  test('a password change invalidates the remembered credential and refresh proofs at once', async () => {
    const { path, accounts: a } = await accounts(`alice:${HASH_ALICE}\n`);
    const { proof } = await a.authenticate('alice', 'alice-pass');
    assert.equal((await a.recheck('alice', proof)).subject, 'alice');
    const bcrypt = (await import('bcryptjs')).default;
    await writeFile(path, `alice:${bcrypt.hashSync('new-pass', 4)}\n`);
    await sleep(1100);
    await assert.rejects(a.authenticate('alice', 'alice-pass'), AuthenticationFailed);
    await assert.rejects(a.recheck('alice', proof), /no longer valid/);
  });
});

describe('concurrent verification', () => {
  test('identical concurrent credentials share one bcrypt check', async () => {
    const bcrypt = (await import('bcryptjs')).default;
    const dir = await makeTempDir('flight');
    const path = join(dir, 'htpasswd');
    await writeFile(path, `alice:${HASH_ALICE}\n`);
    const accounts = new StaticAccounts(await HtpasswdFile.load(path), createSecretKey(new Uint8Array(32)), 60);
    let checks = 0;
    const original = bcrypt.compare;
    (bcrypt as { compare: typeof bcrypt.compare }).compare = ((...args: Parameters<typeof bcrypt.compare>) => {
      checks++;
      return original(...args);
    }) as typeof bcrypt.compare;
    try {
      const results = await Promise.all(Array.from({ length: 50 }, () => accounts.authenticate('alice', 'alice-pass')));
      assert.equal(results.length, 50);
      assert.equal(checks, 1);
      await assert.rejects(
        Promise.all([accounts.authenticate('alice', 'bad'), accounts.authenticate('alice', 'bad')]),
        AuthenticationFailed,
      );
      assert.equal(checks, 2, 'a wrong password is checked once for concurrent callers too');
    } finally {
      (bcrypt as { compare: typeof bcrypt.compare }).compare = original;
    }
  });
});
