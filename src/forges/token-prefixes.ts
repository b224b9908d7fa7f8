// Every forge's token prefixes, in one table: a forge recognises the credentials it issued by
// them, and the audit log redacts any username shaped like one (people paste tokens there).
// Beside them, the one username that says what a credential is: GitLab's CI job login.

export type ForgeType = 'gitlab' | 'github';

export const TOKEN_PREFIXES: Record<ForgeType, readonly string[]> = {
  // personal/project/group, OAuth app secret, CI build, trigger, deploy, feed, service account,
  // runner, incoming mail, agent, workspace, feature flags client
  gitlab: [
    'glpat-',
    'gloas-',
    'glcbt-',
    'glptt-',
    'gldt-',
    'glft-',
    'glsoat-',
    'glrt-',
    'glimt-',
    'glagent-',
    'glwt-',
    'glffct-',
  ],
  // classic, OAuth, App user, installation, refresh, fine-grained
  github: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'],
};

/** Personal, project, group and service account tokens: the GitLab tokens that may read projects. */
export const GITLAB_ACCESS_TOKEN_PREFIX = 'glpat-';

/** The username of every GitLab CI job token login (the brute-force guard never counts it). */
export const JOB_TOKEN_USER = 'gitlab-ci-token';

/** Whether `secret` bears a prefix of the tokens `forge` issues. */
export function issuedBy(forge: ForgeType, secret: string): boolean {
  return TOKEN_PREFIXES[forge].some((prefix) => secret.startsWith(prefix));
}

/** Whether `text` bears any forge's token prefix. */
export function forgeTokenShaped(text: string): boolean {
  return Object.values(TOKEN_PREFIXES).some((prefixes) => prefixes.some((prefix) => text.startsWith(prefix)));
}
