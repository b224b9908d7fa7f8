import type { FakeGitHub, GitHubToken } from '../fakes/github.js';

// GitHub-shaped secrets for a FakeGitHub: forgegate tells GitHub's token kinds apart by prefix.

const PREFIX: Record<GitHubToken['kind'], string> = {
  classic: 'ghp_',
  fine_grained: 'github_pat_',
  oauth: 'gho_',
  app_user: 'ghu_',
  installation: 'ghs_',
};

/** Adds tokens to `g`, each a new secret of its kind's prefix ending in `tail` (so a test file's secrets differ). */
export function tokenMinter(g: FakeGitHub, tail: string) {
  let n = 0;
  return (kind: GitHubToken['kind'], user: string | undefined, init: Partial<GitHubToken> = {}): GitHubToken =>
    g.addToken({
      token: `${PREFIX[kind]}${user ?? 'app'}${++n}${tail}`,
      kind,
      ...(user ? { user } : {}),
      ...init,
    });
}

/** A classic token with every scope a registry needs (repo, delete:packages). */
export function addFullClassicToken(g: FakeGitHub, token: string, user: string): GitHubToken {
  return g.addToken({ token, kind: 'classic', user, scopes: ['repo', 'delete:packages'] });
}
