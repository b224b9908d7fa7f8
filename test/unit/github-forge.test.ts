import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { forgeSchema } from '../../src/config/schema.js';
import { AuthenticationFailed, Unavailable } from '../../src/errors.js';
import type { ForgeJudgement } from '../../src/forges/forge.js';
import { GitHubForge } from '../../src/forges/github/forge.js';
import { FakeGitHub } from '../fakes/github.js';
import { summary } from '../support/judgements.js';

// GitHubForge on its own, against a FakeGitHub: what it judges for a token and an image, with
// the reasons, without forgegate's HTTP server, cache or audit lines in between.

const gh = new FakeGitHub();
let forge: GitHubForge;
let optIn: GitHubForge;

for (const login of ['writer', 'reader', 'boss', 'registry-bot']) gh.addUser({ login });
gh.addOrg({ login: 'acme', base_permission: 'none' });
gh.addRepo({ full_name: 'acme/app', collaborators: { writer: 'write', reader: 'read', boss: 'admin' } });
gh.addRepo({ full_name: 'acme/other', collaborators: { boss: 'admin' } });
gh.addRepo({ full_name: 'acme/site', visibility: 'public', collaborators: { writer: 'write' } });
gh.addRepo({ full_name: 'acme/old', archived: true, collaborators: { writer: 'write' } });
const classic = (login: string, scopes: string[]): string => {
  const token = `ghp_unit${login.replace('-', '')}`.padEnd(40, '0');
  return gh.addToken({ token, kind: 'classic', user: login, scopes }).token;
};
const INSTALLATION = 'ghs_unitinstallation'.padEnd(40, '0');
const TOKENS = {
  service: classic('registry-bot', ['repo']),
  writer: classic('writer', ['repo']),
  reader: classic('reader', ['repo']),
  boss: classic('boss', ['repo', 'delete:packages']),
  installation: gh.addToken({ token: INSTALLATION, kind: 'installation', repositories: ['acme/app'] }).token,
};

before(async () => {
  const url = await gh.start();
  const make = (extra: Record<string, unknown>) =>
    new GitHubForge({ ...forgeSchema.parse({ type: 'github', url, ...extra }), name: 'github' });
  forge = make({ serviceToken: TOKENS.service, timeout: 1 });
  optIn = make({ serviceToken: TOKENS.service, installationTokenPush: ['acme/app'] });
});
after(() => gh.stop());

/** The one place these tests meet the Forge interface: authenticate (unless anonymous), then judge. */
async function judge(password: string | null, image: string, on = forge): Promise<ForgeJudgement> {
  const session =
    password === null ? null : await on.authenticate({ kind: 'password', username: 'anything', password });
  return on.judge(session, image);
}

describe('GitHubForge', () => {
  test("a collaborator with write pulls and pushes; delete is denied for the token's scopes", async () => {
    const answer = await judge(TOKENS.writer, 'acme/app/web');
    assert.equal(answer.project, 'acme/app');
    const { granted, denied } = summary(answer);
    assert.deepEqual(granted, ['pull', 'push']);
    assert.equal(denied.delete, 'token scopes [repo] do not include delete:packages');
  });

  test('a collaborator with read pulls only: push is denied for the role', async () => {
    const { granted, denied } = summary(await judge(TOKENS.reader, 'acme/app'));
    assert.deepEqual(granted, ['pull']);
    assert.equal(denied.push, 'reader lacks push on acme/app (has read)');
  });

  test('an admin whose token has delete:packages deletes', async () => {
    assert.deepEqual(summary(await judge(TOKENS.boss, 'acme/app/web')).granted, ['pull', 'push', 'delete']);
  });

  test('an archived repository: pull only, push denied as archived', async () => {
    const { granted, denied } = summary(await judge(TOKENS.writer, 'acme/old/web'));
    assert.deepEqual(granted, ['pull']);
    assert.equal(denied.push, 'acme/old is archived');
  });

  test('a repository the caller cannot see: nothing, saying it is not visible to them', async () => {
    const { granted, denied } = summary(await judge(TOKENS.writer, 'acme/other/web'));
    assert.deepEqual(granted, []);
    assert.equal(denied.pull, 'no GitHub repository acme/other visible to writer');
  });

  test('an image path of one segment belongs to no repository', async () => {
    const answer = await judge(TOKENS.writer, 'web');
    assert.equal(answer.project, null);
    assert.match(summary(answer).denied.pull!, /it needs owner\/repo/);
  });

  test('anonymous callers pull public repositories and get nothing of private ones', async () => {
    assert.deepEqual(summary(await judge(null, 'acme/site/web')).granted, ['pull']);
    assert.deepEqual(summary(await judge(null, 'acme/app/web')).granted, []);
  });

  test('an installation token pulls its own repository; pushes only where installationTokenPush names it', async () => {
    assert.deepEqual(summary(await judge(TOKENS.installation, 'acme/app/web')).granted, ['pull']);
    assert.deepEqual(summary(await judge(TOKENS.installation, 'acme/app/web', optIn)).granted, ['pull', 'push']);
  });

  test('a token GitHub does not know fails authentication', async () => {
    await assert.rejects(judge('ghp_unitunknown'.padEnd(40, '0'), 'acme/app'), AuthenticationFailed);
  });

  test('GitHub answering 502: unavailable, naming the forge, never a judgement', async () => {
    gh.inject({ endpoint: 'GET /repos/:owner/:repo', kind: 'status', status: 502 });
    try {
      await assert.rejects(judge(TOKENS.writer, 'acme/app/web'), (error: unknown) => {
        assert.ok(error instanceof Unavailable);
        assert.match(error.message, /^GitHub "github" /);
        return true;
      });
    } finally {
      gh.clearInjections();
    }
  });
});
