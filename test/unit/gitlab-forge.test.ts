import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { forgeSchema } from '../../src/config/schema.js';
import { AuthenticationFailed, Unavailable } from '../../src/errors.js';
import type { ForgeJudgement } from '../../src/forges/forge.js';
import { GitLabForge } from '../../src/forges/gitlab/forge.js';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import { summary } from '../support/judgements.js';

// GitLabForge on its own, against a FakeGitLab: what it judges for a credential and an image,
// with the reasons, without forgegate's HTTP server, cache or audit lines in between.

const gl = new FakeGitLab();
let forge: GitLabForge;
let noService: GitLabForge;
let noJobs: GitLabForge;

const carl = gl.addUser({ username: 'carl' });
const dev = gl.addUser({ username: 'dev' });
const rita = gl.addUser({ username: 'rita' });
const bot = gl.addUser({ username: 'forgegate-bot', bot: true, is_admin: true });
gl.addProject({ path_with_namespace: 'group/proj' });
gl.addProject({ path_with_namespace: 'group/public', visibility: 'public' });
gl.addProject({ path_with_namespace: 'group/archived', archived: true });
gl.addProject({ path_with_namespace: 'group/ci' });
gl.addMember('group/proj', dev.id, ACCESS.developer);
gl.addMember('group/proj', rita.id, ACCESS.reporter);
gl.addMember('group/archived', dev.id, ACCESS.maintainer);
const pat = (name: string, userId: number, scopes: string[], init: object = {}): string =>
  gl.addToken({ token: `glpat-unit-${name}-Qx7`, user_id: userId, scopes, ...init }).token;
const TOKENS = {
  service: pat('service', bot.id, ['read_api', 'admin_mode'], { kind: 'service_account' }),
  dev: pat('dev', dev.id, ['api']),
  rita: pat('rita', rita.id, ['api']),
  devRegistry: pat('dev-registry', dev.id, ['read_registry']),
  revoked: pat('revoked', dev.id, ['api'], { revoked: true }),
  job: gl.addJob({ token: 'glcbt-64_unit-job-Qx7', project: 'group/ci', user_id: carl.id }).token,
};

before(async () => {
  const url = await gl.start();
  const make = (extra: Record<string, unknown>) =>
    new GitLabForge({ ...forgeSchema.parse({ type: 'gitlab', url, ...extra }), name: 'gitlab' });
  forge = make({ serviceToken: TOKENS.service, timeout: 1 });
  noService = make({});
  noJobs = make({ serviceToken: TOKENS.service, jobTokens: false });
});
after(() => gl.stop());

/** The one place these tests meet the Forge interface: authenticate (unless anonymous), then judge. */
async function judge(password: string | null, image: string, on = forge, user = 'anything'): Promise<ForgeJudgement> {
  const session = password === null ? null : await on.authenticate({ kind: 'password', username: user, password });
  return on.judge(session, image);
}

describe('GitLabForge', () => {
  test('a Developer pulls and pushes in its project; delete is denied for its role', async () => {
    const answer = await judge(TOKENS.dev, 'group/proj/app');
    assert.equal(answer.project, 'group/proj');
    const { granted, denied } = summary(answer);
    assert.deepEqual(granted, ['pull', 'push']);
    assert.equal(denied.delete, 'role Developer (30) < Maintainer (40) on group/proj');
  });

  test('a Reporter pulls only: push is denied for its role', async () => {
    const { granted, denied } = summary(await judge(TOKENS.rita, 'group/proj'));
    assert.deepEqual(granted, ['pull']);
    assert.equal(denied.push, 'role Reporter (20) < Developer (30) on group/proj');
  });

  test('an archived project: pull only, push denied as archived', async () => {
    const { granted, denied } = summary(await judge(TOKENS.dev, 'group/archived/app'));
    assert.deepEqual(granted, ['pull']);
    assert.equal(denied.push, 'group/archived is archived');
  });

  test('a project the caller cannot see is reported as absent, naming no project', async () => {
    const answer = await judge(TOKENS.rita, 'group/ci/app');
    assert.equal(answer.project, null);
    const { granted, denied } = summary(answer);
    assert.deepEqual(granted, []);
    assert.match(denied.pull!, /^no GitLab project for image group\/ci\/app visible to rita/);
  });

  test('an image path of one segment belongs to no project', async () => {
    const answer = await judge(TOKENS.dev, 'app');
    assert.equal(answer.project, null);
    assert.match(summary(answer).denied.pull!, /it needs group\/project/);
  });

  test('anonymous callers pull public projects, and are told a private one does not exist', async () => {
    assert.deepEqual(summary(await judge(null, 'group/public/app')).granted, ['pull']);
    const { granted, denied } = summary(await judge(null, 'group/proj/app'));
    assert.deepEqual(granted, []);
    assert.equal(denied.pull, 'no GitLab project for image group/proj/app');
  });

  test('a read_registry token without a serviceToken: denied, saying a serviceToken is needed', async () => {
    const { granted, denied } = summary(await judge(TOKENS.devRegistry, 'group/proj/app', noService));
    assert.deepEqual(granted, []);
    assert.match(denied.pull!, /needs a serviceToken/);
  });

  test('a CI job pulls, pushes and deletes in its own project', async () => {
    const answer = await judge(TOKENS.job, 'group/ci/app', forge, 'gitlab-ci-token');
    assert.equal(answer.project, 'group/ci');
    assert.deepEqual(summary(answer).granted, ['pull', 'push', 'delete']);
  });

  test('job tokens turned off: authentication fails, saying so', async () => {
    await assert.rejects(judge(TOKENS.job, 'group/ci/app', noJobs, 'gitlab-ci-token'), (error: unknown) => {
      assert.ok(error instanceof AuthenticationFailed);
      assert.match(error.reason, /job tokens are turned off/);
      return true;
    });
  });

  test('a revoked token fails authentication', async () => {
    await assert.rejects(judge(TOKENS.revoked, 'group/proj/app'), AuthenticationFailed);
  });

  test('GitLab answering 500: unavailable, naming the forge, never a judgement', async () => {
    gl.inject({ endpoint: 'GET /projects/:id', kind: 'status', status: 500 });
    try {
      await assert.rejects(judge(TOKENS.dev, 'group/proj/app'), (error: unknown) => {
        assert.ok(error instanceof Unavailable);
        assert.match(error.message, /^GitLab "gitlab" /);
        return true;
      });
    } finally {
      gl.clearInjections();
    }
  });
});
