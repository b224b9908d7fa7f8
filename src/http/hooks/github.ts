import { affected, field, MalformedEvent, required, type Interpretation, type Json } from './events.js';

// GitHub webhooks, by X-GitHub-Event, with the payload shapes of GitHub's "Webhook events
// and payloads" (as octokit/webhooks' payload-schemas transcribe them):
// - member (added, removed, edited): a repository collaborator; `member`, `repository`.
// - membership (added, removed): team membership; `member`, `team`.
// - organization (member_added, member_removed): `membership.user`; member_invited grants
//   nothing until the invitation is accepted, which sends member_added.
// - team (added_to_repository, removed_from_repository, edited with
//   changes.repository.permissions, ...): `repository` when one is concerned.
// - repository (publicized, privatized, renamed with changes.repository.name.from,
//   transferred with changes.owner.from.{user|organization}.login, deleted, archived,
//   unarchived, edited, created) and public: `repository.full_name`.
// - installation, installation_repositories: what an installation reaches.
//
// GitHub sessions are cached under `user:<lowercased login>` (installations: `installation`),
// decisions under the repository's `owner/repo`.

const REPOSITORY_ACTIONS = new Set([
  'publicized',
  'privatized',
  'renamed',
  'transferred',
  'deleted',
  'archived',
  'unarchived',
  'edited',
  'created',
]);

export function interpretGitHub(event: string, payload: Json): Interpretation {
  const action = field(payload, 'action');
  const named = action === undefined ? event : `${event}.${action}`;
  switch (event) {
    case 'ping':
      return { ignored: 'ping' };
    case 'member':
      return affected([required(payload, 'repository.full_name', named)], [login(payload, 'member.login', named)]);
    case 'membership':
      return affected([], [login(payload, 'member.login', named)]);
    case 'organization':
      if (action === 'member_added' || action === 'member_removed')
        return affected([], [login(payload, 'membership.user.login', named)]);
      return {
        ignored: `${named}: ${action === 'member_invited' ? 'an invitation grants nothing until accepted' : 'entries are not indexed by organization; they expire with cache.decisionTtl'}`,
      };
    case 'team': {
      const repository = field(payload, 'repository.full_name');
      if (repository !== undefined) return affected([repository], []);
      return { ignored: `${named}: names no repository; team members' entries expire with cache.decisionTtl` };
    }
    case 'repository':
      if (action === undefined || !REPOSITORY_ACTIONS.has(action))
        return { ignored: `${named}: does not change access` };
      return affected(repositoryNames(payload, named), []);
    case 'public':
      return affected([required(payload, 'repository.full_name', named)], []);
    case 'installation':
    case 'installation_repositories':
      // Installation events name no session we could match: they drop every installation session.
      return affected([], ['installation']);
    default:
      return { ignored: `${named}: does not change access` };
  }
}

/** The repository's name now, and before a rename or a transfer. */
function repositoryNames(payload: Json, named: string): string[] {
  const fullName = required(payload, 'repository.full_name', named);
  const [owner, name] = splitFullName(fullName, named);
  const renamedFrom = field(payload, 'changes.repository.name.from');
  const transferredFrom =
    field(payload, 'changes.owner.from.user.login') ?? field(payload, 'changes.owner.from.organization.login');
  return [
    fullName,
    ...(renamedFrom ? [`${owner}/${renamedFrom}`] : []),
    ...(transferredFrom ? [`${transferredFrom}/${name}`] : []),
  ];
}

function splitFullName(fullName: string, named: string): [string, string] {
  const [owner, name, ...rest] = fullName.split('/');
  if (!owner || !name || rest.length > 0)
    throw new MalformedEvent(`${named} event with repository.full_name "${fullName.slice(0, 200)}", not owner/repo`);
  return [owner, name];
}

function login(payload: Json, path: string, named: string): string {
  return `user:${required(payload, path, named).toLowerCase()}`;
}
