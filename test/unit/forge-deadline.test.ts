import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
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

describe('a forge answering a byte at a time, with garbage collections during the call', () => {
  describe('GitLab', () => {
    let gitlab: FakeGitLab;
    let api: GitLabApi;
    before(async () => {
      gitlab = new FakeGitLab();
      const url = await gitlab.start();
      const user = gitlab.addUser({ username: 'dev' });
      gitlab.addToken({ token: 'glpat-dripping', user_id: user.id, scopes: ['api'] });
      api = new GitLabApi('gitlab', url, TIMEOUT_S);
    });
    after(() => gitlab.stop());

    test('the call ends at the forge timeout: Unavailable, no answer in time', async () => {
      for (let i = 0; i < 3; i++) {
        gitlab.inject({ kind: 'drip', ms: 100 });
        try {
          assertNoAnswerInTime(await endsInTime(api.currentUser('glpat-dripping')));
        } finally {
          gitlab.clearInjections();
        }
      }
    });
  });

  describe('GitHub', () => {
    let github: FakeGitHub;
    let api: GitHubApi;
    before(async () => {
      github = new FakeGitHub();
      const url = await github.start();
      github.addUser({ login: 'dev' });
      github.addToken({ token: 'ghp_dripping', kind: 'classic', user: 'dev', scopes: ['repo'] });
      api = new GitHubApi('github', url, TIMEOUT_S);
    });
    after(() => github.stop());

    test('the call ends at the forge timeout: Unavailable, no answer in time', async () => {
      for (let i = 0; i < 3; i++) {
        github.inject({ kind: 'drip', ms: 100 });
        try {
          assertNoAnswerInTime(await endsInTime(api.authenticatedUser('ghp_dripping')));
        } finally {
          github.clearInjections();
        }
      }
    });
  });
});
