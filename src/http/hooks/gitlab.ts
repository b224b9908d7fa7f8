import { affected, field, MalformedEvent, required, type Interpretation, type Json } from './events.js';

// GitLab system hooks and group webhooks. Event names and fields as GitLab documents them:
// doc/administration/system_hooks.md ("Hooks request example": user_add_to_team carries
// project_path_with_namespace and user_id; user_add_to_group carries group_path and user_id;
// project_rename/project_transfer carry path_with_namespace and old_path_with_namespace;
// user_rename, user_destroy, user_failed_login carry user_id), and
// doc/user/project/integrations/webhook_events.md ("Group member events": the same
// event_name and user_id under X-Gitlab-Event: Member Hook; "Project events":
// project_create/project_destroy with path_with_namespace). Newer schema-based events name
// themselves in object_kind instead of event_name.
//
// GitLab sessions are cached under the account `user:<user id>`, and decisions under the
// project's path_with_namespace.

export function interpretGitLab(payload: Json): Interpretation {
  const event = field(payload, 'event_name') ?? field(payload, 'object_kind');
  if (event === undefined) throw new MalformedEvent('a GitLab hook names its event in event_name or object_kind');
  switch (event) {
    // Project membership: the member's role on this project.
    case 'user_add_to_team':
    case 'user_remove_from_team':
    case 'user_update_for_team':
      return affected([required(payload, 'project_path_with_namespace', event)], [userAccount(payload, event)]);
    // Group membership reaches every project below the group, which no index names: the
    // member's own entries are exactly those it can change.
    case 'user_add_to_group':
    case 'user_remove_from_group':
    case 'user_update_for_group':
      return affected([], [userAccount(payload, event)]);
    case 'project_rename':
    case 'project_transfer':
      return affected(
        [required(payload, 'path_with_namespace', event), required(payload, 'old_path_with_namespace', event)],
        [],
      );
    // Visibility and settings (project_update), deletion, and creation (a path cached as
    // having no project may now have one).
    case 'project_update':
    case 'project_destroy':
    case 'project_create':
      return affected([required(payload, 'path_with_namespace', event)], []);
    // The user's identity: renamed (the subject tokens carry), deleted, or blocked
    // (user_failed_login is sent when a blocked user is refused).
    case 'user_rename':
    case 'user_destroy':
    case 'user_failed_login':
      return affected([], [userAccount(payload, event)]);
    case 'group_rename':
    case 'group_destroy':
    case 'group_transfer':
    case 'subgroup_destroy':
      return {
        ignored: `${event}: entries are not indexed by group; those of projects below it expire with cache.decisionTtl`,
      };
    default:
      return { ignored: `${event}: does not change access` };
  }
}

function userAccount(payload: Json, event: string): string {
  const id = payload.user_id;
  if ((typeof id === 'number' && Number.isSafeInteger(id)) || (typeof id === 'string' && /^\d+$/.test(id)))
    return `user:${id}`;
  throw new MalformedEvent(`${event} event without a numeric user_id`);
}
