import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Unavailable } from '../../src/errors.js';
import { GitHubApi } from '../../src/forges/github/api.js';
import { GitLabApi } from '../../src/forges/gitlab/api.js';
import { FakeGitHub } from '../fakes/github.js';
import { FakeGitLab } from '../fakes/gitlab.js';

// A forge that answers a byte at a time keeps every idle timeout happy; only a deadline on the
// whole call ends it. The client libraries set one (an AbortSignal), but undici can lose its
// abort: a Request built from another Request follows that signal through weak references, and
// a garbage collection in between cuts it, after which the call lasts as long as the forge keeps
// sending. Collections are forced here while the call runs, as a busy server has them.

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

const TIMEOUT_S = 0.3;
/** Far beyond the timeout, far below the drip's end (a body of hundreds of bytes, 100 ms each). */
const HUNG_MS = 3000;

async function endsInTime(call: Promise<unknown>): Promise<unknown> {
  const collecting = setInterval(collectGarbage, 20);
  let hung: NodeJS.Timeout | undefined;
  try {
    const outcome = await Promise.race([
      call.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      new Promise((resolve) => (hung = setTimeout(() => resolve('hung'), HUNG_MS))),
    ]);
    assert.notEqual(outcome, 'hung', `the call outlived its ${TIMEOUT_S} s timeout by far`);
    return (outcome as { error?: unknown }).error;
  } finally {
    clearInterval(collecting);
    clearTimeout(hung);
  }
}

function assertNoAnswerInTime(error: unknown): void {
  assert.ok(error instanceof Unavailable, `expected Unavailable, got ${String(error)}`);
  assert.match(error.message, /no answer within 300 ms/);
}

/** A fake forge that knows one token, and a call with it through forgegate's client. */
interface Dripping {
  fake: FakeGitLab | FakeGitHub;
  call: () => Promise<unknown>;
}

const forges: Record<string, () => Promise<Dripping>> = {
  GitLab: async () => {
    const fake = new FakeGitLab();
    const api = new GitLabApi('gitlab', await fake.start(), TIMEOUT_S);
    fake.addToken({ token: 'glpat-dripping', user_id: fake.addUser({ username: 'dev' }).id, scopes: ['api'] });
    return { fake, call: () => api.currentUser('glpat-dripping') };
  },
  GitHub: async () => {
    const fake = new FakeGitHub();
    const api = new GitHubApi('github', await fake.start(), TIMEOUT_S);
    fake.addUser({ login: 'dev' });
    fake.addToken({ token: 'ghp_dripping', kind: 'classic', user: 'dev', scopes: ['repo'] });
    return { fake, call: () => api.authenticatedUser('ghp_dripping') };
  },
};

describe('a forge answering a byte at a time, with garbage collections during the call', () => {
  for (const [name, start] of Object.entries(forges)) {
    test(`${name}: the call ends at the forge timeout: Unavailable, no answer in time`, async () => {
      const { fake, call } = await start();
      try {
        for (let i = 0; i < 3; i++) {
          fake.inject({ kind: 'drip', ms: 100 });
          assertNoAnswerInTime(await endsInTime(call()));
          fake.clearInjections();
        }
      } finally {
        await fake.stop();
      }
    });
  }
});
