import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { oidcSchema } from '../../src/config/oidc.js';
import { judgeAll } from '../../src/policy/grant.js';
import {
  compileRule,
  findRule,
  judgeAlsoPull,
  judgeOwnProject,
  ownsImage,
  type OidcCaller,
} from '../../src/policy/oidc.js';

// The pure half of CI ID tokens (OIDC): which rule a job's ID token falls under, what it earns on its own
// project, and when push is reduced to pull; plus the `oidc:` configuration's defaults and
// its one-line errors.

const [github] = oidcSchema.parse([
  { issuer: 'https://token.actions.githubusercontent.com', audience: 'registry.test', preset: 'github-actions' },
]);
const [gitlab] = oidcSchema.parse([{ issuer: 'https://gitlab.example', audience: 'registry.test', preset: 'gitlab' }]);

function caller(claims: Record<string, string>, project = 'acme/app', projectId: string | null = '4242'): OidcCaller {
  return { issuer: 'github-actions', project, projectId, ref: claims.ref ?? null, workflow: null, claims };
}

const PUSH_TO_MAIN = { ref: 'refs/heads/main', ref_protected: 'true', event_name: 'push' };

describe('configuration', () => {
  test('a preset brings its claim names and a safe default rule', () => {
    assert.deepEqual(github!.claims, {
      project: 'repository',
      projectId: 'repository_id',
      ref: 'ref',
      workflow: 'workflow_ref',
    });
    assert.equal(github!.name, 'github-actions');
    assert.deepEqual(github!.algorithms, ['RS256', 'ES256']);
    assert.equal(github!.clockSkew, 60);
    assert.equal(github!.jwksUrl, null);
    assert.deepEqual(github!.rules, [
      {
        project: '**',
        projectId: null,
        actions: ['pull', 'push'],
        when: { ref_protected: ['true'] },
        unless: { event_name: ['pull_request', 'pull_request_target'] },
        alsoPull: [],
      },
    ]);
    assert.deepEqual(gitlab!.claims, {
      project: 'project_path',
      projectId: 'project_id',
      ref: 'ref',
      workflow: 'ci_config_ref_uri',
    });
    assert.deepEqual(gitlab!.rules[0]!.unless, { pipeline_source: ['merge_request_event'] });
  });

  test('YAML scalars in conditions read as claim text; ids may be numbers', () => {
    const [entry] = oidcSchema.parse([
      {
        issuer: 'https://i.example',
        audience: 'a',
        preset: 'gitlab',
        rules: [{ project: 'g/p', projectId: 901, when: { ref_protected: true, ref: ['main', 'release/*'] } }],
      },
    ]);
    assert.deepEqual(entry!.rules[0]!.when, { ref_protected: ['true'], ref: ['main', 'release/*'] });
    assert.equal(entry!.rules[0]!.projectId, '901');
  });

  const rejects = (oidc: unknown, message: RegExp, forges: unknown[] = []) =>
    assert.throws(
      () => parseConfig({ forges, oidc }, {}, 'test'),
      (e: Error) => e instanceof ConfigError && message.test(e.message) && !e.message.includes('\n'),
    );

  test('bad entries are one-line errors naming the key', () => {
    rejects([{ issuer: 'https://i.example', preset: 'gitlab' }], /oidc\[0\]\.audience: /);
    rejects(
      [{ issuer: 'https://i.example', audience: 'a' }],
      /oidc\[0\]\.claims\.project: name the claim that gives the project/,
    );
    rejects(
      [{ issuer: 'https://i.example', audience: 'a', preset: 'gitlab', algorithms: ['HS256'] }],
      /oidc\[0\]\.algorithms\[0\]: /,
    );
    rejects(
      [{ issuer: 'https://i.example', audience: 'a', preset: 'gitlab', algorithms: ['none'] }],
      /oidc\[0\]\.algorithms\[0\]: /,
    );
    rejects(
      [{ issuer: 'https://i.example', audience: 'a', preset: 'gitlab', forge: 'nope' }],
      /oidc\[0\]\.forge: no forge named "nope"/,
    );
    rejects(
      [{ issuer: 'https://i.example', audience: 'a', preset: 'gitlab', surprise: 1 }],
      /oidc\[0\]\.surprise: unknown key/,
    );
    rejects(
      [{ issuer: 'https://i.example', audience: 'a', claims: { project: 'repo' }, rules: [{ projectId: '1' }] }],
      /oidc\[0\]\.rules\[0\]\.projectId: needs claims\.projectId/,
    );
    rejects(
      [
        { issuer: 'https://i.example', audience: 'a', preset: 'gitlab' },
        { issuer: 'https://i.example', audience: 'b', preset: 'gitlab', name: 'other' },
      ],
      /oidc\[1\]\.issuer: duplicate issuer/,
    );
  });

  test('with any forge configured (the default gitlab.com included), every issuer names one', () => {
    const issuer = { issuer: 'https://token.actions.githubusercontent.com', audience: 'r', preset: 'github-actions' };
    const forges = [
      { type: 'github', url: 'https://api.github.com', prefix: 'gh/' },
      { type: 'gitlab', url: 'https://gitlab.example' },
    ];
    const required = "required when forges are configured: name the forge whose images this issuer's tokens may match";
    rejects([issuer], new RegExp(`^config test: oidc\\[0\\]\\.forge: ${required} \\("github", "gitlab"\\)$`), forges);
    const second = { ...issuer, issuer: 'https://gitlab.example', preset: 'gitlab' };
    rejects([{ ...issuer, forge: 'github' }, second], /^config test: oidc\[1\]\.forge: required/, forges);
    const byDefault = /oidc\[0\]\.forge: required when forges are configured: .*\("gitlab"\)/;
    assert.throws(() => parseConfig({ oidc: [issuer] }, {}, 'test'), byDefault, 'the default forge counts');
    const alone = parseConfig({ forges: [], oidc: [issuer] }, {}, 'test');
    assert.equal(alone.oidc[0]!.forge, null, 'no forge at all: an OIDC-only server');
  });

  test('the section defaults to no issuers, and a forge it names must exist', () => {
    assert.deepEqual(parseConfig({}, {}, 'test').oidc, []);
    const config = parseConfig(
      {
        forges: [{ type: 'github', url: 'https://api.github.com', prefix: 'gh/' }],
        oidc: [
          {
            issuer: 'https://token.actions.githubusercontent.com',
            audience: 'r',
            preset: 'github-actions',
            forge: 'github',
          },
        ],
      },
      {},
      'test',
    );
    assert.equal(config.oidc[0]!.forge, 'github');
  });
});

describe('rules', () => {
  const rules = [
    compileRule(
      {
        project: 'acme/pinned',
        projectId: '1',
        actions: ['pull', 'push', 'delete'],
        when: {},
        unless: {},
        alsoPull: [],
      },
      0,
    ),
    compileRule({ ...github!.rules[0]!, alsoPull: ['acme/base/**'] }, 1),
  ];

  test('the first rule naming the project (and its pinned id) decides', () => {
    assert.equal(findRule(rules, caller(PUSH_TO_MAIN, 'acme/pinned', '1'))?.label, 'rules[0]');
    // The same name under another id (a re-registered repository) falls to the next rule.
    assert.equal(findRule(rules, caller(PUSH_TO_MAIN, 'acme/pinned', '2'))?.label, 'rules[1]');
    assert.equal(findRule([rules[0]!], caller(PUSH_TO_MAIN, 'acme/pinned', '2')), null);
  });

  test('own project from a protected ref on push: pull and push, never delete or *', () => {
    const j = judgeAll(judgeOwnProject(rules[1]!, caller(PUSH_TO_MAIN)));
    assert.equal(j.pull.granted, true);
    assert.equal(j.push.granted, true);
    assert.match(
      j.push.because,
      /ID token of acme\/app \(issuer github-actions, ref refs\/heads\/main, workflow -\) may pull, push on its own project by rules\[1\]/,
    );
    assert.equal(j.delete.granted, false);
    assert.equal(j['*'].granted, false);
    assert.equal(j.delete.rule, 'oidc-rule');
  });

  test('an unprotected ref reduces the grant to pull', () => {
    const j = judgeAll(
      judgeOwnProject(rules[1]!, caller({ ...PUSH_TO_MAIN, ref: 'refs/heads/feature', ref_protected: 'false' })),
    );
    assert.equal(j.pull.granted, true);
    assert.equal(j.push.granted, false);
    assert.equal(j.push.rule, 'oidc-condition');
    assert.match(
      j.push.because,
      /ref_protected is "false", rules\[1\]\.when needs one of \[true\] for ID token of acme\/app .*: pull only/,
    );
  });

  test('a pull-request event reduces the grant to pull, even on a protected ref', () => {
    for (const event of ['pull_request', 'pull_request_target']) {
      const j = judgeAll(judgeOwnProject(rules[1]!, caller({ ...PUSH_TO_MAIN, event_name: event })));
      assert.equal(j.pull.granted, true, event);
      assert.equal(j.push.granted, false, event);
      assert.match(j.push.because, new RegExp(`event_name is "${event}", which rules\\[1\\]\\.unless excludes`));
    }
  });

  test('a missing condition claim fails the condition (fail closed)', () => {
    const j = judgeAll(judgeOwnProject(rules[1]!, caller({ ref: 'refs/heads/main', event_name: 'push' })));
    assert.equal(j.push.granted, false);
    assert.match(j.push.because, /claim ref_protected is missing/);
  });

  test('ref and environment globs', () => {
    const rule = compileRule(
      {
        project: '**',
        projectId: null,
        actions: ['pull', 'push'],
        when: { ref: ['refs/heads/main', 'refs/tags/v*'], environment: ['prod*'] },
        unless: {},
        alsoPull: [],
      },
      0,
    );
    const push = (claims: Record<string, string>) => judgeOwnProject(rule, caller(claims))('push').granted;
    assert.equal(push({ ref: 'refs/tags/v1.2.0', environment: 'production' }), true);
    assert.equal(push({ ref: 'refs/tags/nightly', environment: 'production' }), false);
    assert.equal(push({ ref: 'refs/heads/main', environment: 'staging' }), false);
  });

  test('alsoPull names more images the job may pull, and only pull', () => {
    const who = caller(PUSH_TO_MAIN);
    const j = judgeAll(judgeAlsoPull(rules[1]!, who, 'acme/base/node')!);
    assert.equal(j.pull.granted, true);
    assert.equal(j.push.granted, false);
    assert.equal(judgeAlsoPull(rules[1]!, who, 'acme/other'), null);
  });

  test('images of a project: GitLab allows two more segments, GitHub any', () => {
    assert.equal(ownsImage('g/p', 'g/p', 'gitlab'), true);
    assert.equal(ownsImage('g/p', 'g/p/a/b', 'gitlab'), true);
    assert.equal(ownsImage('g/p', 'g/p/a/b/c', 'gitlab'), false);
    assert.equal(ownsImage('o/r', 'o/r/a/b/c', 'github'), true);
    assert.equal(ownsImage('o/r', 'o/rx', 'github'), false);
    assert.equal(ownsImage('o/r', 'o', 'github'), false);
  });
});
