import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MalformedEvent } from '../../src/http/hooks/events.js';
import { interpretGitHub } from '../../src/http/hooks/github.js';
import { interpretGitLab } from '../../src/http/hooks/gitlab.js';

// What each forge event means for the cache, payload by payload (the HTTP side is in
// test/http/hooks.test.ts).

describe('GitLab events', () => {
  const cases: [string, Record<string, unknown>, unknown][] = [
    [
      'user_add_to_team',
      { event_name: 'user_add_to_team', project_path_with_namespace: 'jsmith/StoreCloud', user_id: 41 },
      { projects: ['jsmith/StoreCloud'], accounts: ['user:41'] },
    ],
    [
      'user_remove_from_team',
      { event_name: 'user_remove_from_team', project_path_with_namespace: 'a/b', user_id: 7 },
      { projects: ['a/b'], accounts: ['user:7'] },
    ],
    [
      'user_update_for_group',
      { event_name: 'user_update_for_group', group_path: 'g', user_id: 64 },
      { projects: [], accounts: ['user:64'] },
    ],
    [
      'project_rename',
      {
        event_name: 'project_rename',
        path_with_namespace: 'jsmith/underscore',
        old_path_with_namespace: 'jsmith/overscore',
      },
      { projects: ['jsmith/underscore', 'jsmith/overscore'], accounts: [] },
    ],
    [
      'project_transfer',
      {
        event_name: 'project_transfer',
        path_with_namespace: 'scores/underscore',
        old_path_with_namespace: 'jsmith/overscore',
      },
      { projects: ['scores/underscore', 'jsmith/overscore'], accounts: [] },
    ],
    [
      'project_create',
      { event_name: 'project_create', path_with_namespace: 'group1/project1' },
      { projects: ['group1/project1'], accounts: [] },
    ],
    [
      'user_rename',
      { event_name: 'user_rename', user_id: 58, username: 'new', old_username: 'old' },
      { projects: [], accounts: ['user:58'] },
    ],
    [
      'user_failed_login (blocked)',
      { event_name: 'user_failed_login', user_id: 26, state: 'blocked' },
      { projects: [], accounts: ['user:26'] },
    ],
    ['user_id as a string', { event_name: 'user_destroy', user_id: '41' }, { projects: [], accounts: ['user:41'] }],
  ];
  for (const [name, payload, expected] of cases) test(name, () => assert.deepEqual(interpretGitLab(payload), expected));

  test('object_kind when there is no event_name; events of no consequence are ignored with a reason', () => {
    assert.match((interpretGitLab({ object_kind: 'push' }) as { ignored: string }).ignored, /^push: /);
    assert.match(
      (interpretGitLab({ event_name: 'group_rename', full_path: 'a', old_full_path: 'b' }) as { ignored: string })
        .ignored,
      /decisionTtl/,
    );
  });

  test('relevant events without their fields are malformed', () => {
    for (const payload of [
      {},
      { event_name: 'user_add_to_team', user_id: 1 },
      { event_name: 'user_add_to_team', project_path_with_namespace: 'a/b' },
      { event_name: 'user_add_to_team', project_path_with_namespace: 'a/b', user_id: 'x' },
      { event_name: 'project_transfer', path_with_namespace: 'a/b' },
      { event_name: 'project_update', path_with_namespace: '' },
    ]) {
      assert.throws(() => interpretGitLab(payload), MalformedEvent, JSON.stringify(payload));
    }
  });
});

describe('GitHub events', () => {
  const repository = { full_name: 'Acme/App', name: 'App', owner: { login: 'Acme' } };
  const cases: [string, string, Record<string, unknown>, unknown][] = [
    [
      'member added',
      'member',
      { action: 'added', member: { login: 'OctoCat' }, repository },
      { projects: ['Acme/App'], accounts: ['user:octocat'] },
    ],
    [
      'membership removed',
      'membership',
      { action: 'removed', scope: 'team', member: { login: 'Bob' }, team: { id: 1 } },
      { projects: [], accounts: ['user:bob'] },
    ],
    [
      'organization member_added',
      'organization',
      { action: 'member_added', membership: { user: { login: 'Eve' } } },
      { projects: [], accounts: ['user:eve'] },
    ],
    [
      'team edited (permissions on a repository)',
      'team',
      { action: 'edited', changes: { repository: { permissions: { from: { push: false } } } }, repository },
      { projects: ['Acme/App'], accounts: [] },
    ],
    [
      'repository renamed',
      'repository',
      { action: 'renamed', changes: { repository: { name: { from: 'Old' } } }, repository },
      { projects: ['Acme/App', 'Acme/Old'], accounts: [] },
    ],
    [
      'repository transferred from a user',
      'repository',
      { action: 'transferred', changes: { owner: { from: { user: { login: 'someone' } } } }, repository },
      { projects: ['Acme/App', 'someone/App'], accounts: [] },
    ],
    [
      'repository transferred from an org',
      'repository',
      { action: 'transferred', changes: { owner: { from: { organization: { login: 'beta' } } } }, repository },
      { projects: ['Acme/App', 'beta/App'], accounts: [] },
    ],
    ['repository deleted', 'repository', { action: 'deleted', repository }, { projects: ['Acme/App'], accounts: [] }],
    ['public', 'public', { repository }, { projects: ['Acme/App'], accounts: [] }],
    [
      'installation deleted',
      'installation',
      { action: 'deleted', installation: { id: 1 } },
      { projects: [], accounts: ['installation'] },
    ],
  ];
  for (const [name, event, payload, expected] of cases)
    test(name, () => assert.deepEqual(interpretGitHub(event, payload), expected));

  test('ignored: ping, invitations, teams naming no repository, other actions and events', () => {
    assert.deepEqual(interpretGitHub('ping', { zen: 'x' }), { ignored: 'ping' });
    for (const [event, payload] of [
      ['organization', { action: 'member_invited', user: { login: 'x' } }],
      ['organization', { action: 'renamed' }],
      ['team', { action: 'deleted', team: { id: 1 } }],
      ['repository', { action: 'starred', repository }],
      ['push', { ref: 'refs/heads/main', repository }],
    ] as const) {
      assert.equal(
        typeof (interpretGitHub(event, payload) as { ignored?: string }).ignored,
        'string',
        `${event} ${JSON.stringify(payload)}`,
      );
    }
  });

  test('relevant events without their fields are malformed', () => {
    for (const [event, payload] of [
      ['member', { action: 'added', repository }],
      ['member', { action: 'added', member: { login: 'x' } }],
      ['membership', { action: 'added' }],
      ['organization', { action: 'member_removed', membership: {} }],
      ['repository', { action: 'deleted' }],
      ['repository', { action: 'renamed', repository: { full_name: 'no-slash' } }],
    ] as const) {
      assert.throws(() => interpretGitHub(event, payload), MalformedEvent, `${event} ${JSON.stringify(payload)}`);
    }
  });
});
