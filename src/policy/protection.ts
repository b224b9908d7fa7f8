import type { Judge, Judgement } from './grant.js';
import type { Action } from './types.js';

// GitLab's protected container repositories, as a pure function over facts the forge bridge
// gathered: a rule names a full image path pattern and the minimum role to push and to
// delete. A repository is protected when any rule matches it; a caller needs every matching
// rule's minimum; instance admins pass; pulls are never affected. Protection only ever takes
// away what the permission matrix granted.

/** The minimum role a rule sets for an action; `admin` is for instance admins only. */
export type ProtectionLevel = 'maintainer' | 'owner' | 'admin';

export interface ProtectionRule {
  /** The full image path, `*` standing for any characters, `/` included (GitLab matches it with ILIKE). */
  pattern: string;
  push: ProtectionLevel | null;
  delete: ProtectionLevel | null;
}

/** Why the rules of a project are not known: each cause has its own sentence. */
export type UnreadableCause =
  /** No service token, and the caller may not list the rules itself (that needs Maintainer). */
  | 'no-service-token'
  /** The token asked was refused (403): it is below Maintainer on the project. */
  | 'forbidden'
  /** GitLab has no such API: older than 17.9. */
  | 'no-api'
  /** The token asked cannot see the project (404 for the project). */
  | 'not-visible'
  /** More rules than forgegate reads. */
  | 'too-many';

/** What is known of one project's rules. */
export type ProtectionFacts =
  { kind: 'rules'; rules: readonly ProtectionRule[] } | { kind: 'unreadable'; cause: UnreadableCause };

/** `best-effort`: decide without unreadable rules; `strict`: refuse push and delete while they are. */
export type ProtectionMode = 'best-effort' | 'strict';

/** The caller as the rules see it. `as` words the role in reasons: "you are", "the job's user is". */
export type ProtectedCaller =
  | { kind: 'admin' }
  | { kind: 'member'; level: number; as: string }
  /** The role could not be learnt: any rule that applies refuses, with `why`. */
  | { kind: 'unknown'; why: string };

export const LEVEL_OF: Record<ProtectionLevel, number> = { maintainer: 40, owner: 50, admin: 60 };
const LEVEL_NAME: Record<ProtectionLevel, string> = {
  maintainer: 'Maintainer',
  owner: 'Owner',
  admin: 'an instance admin',
};
const ROLE_NAME: Record<number, string> = {
  10: 'Guest',
  15: 'Planner',
  20: 'Reporter',
  30: 'Developer',
  40: 'Maintainer',
  50: 'Owner',
};

/** The rule demanding the most for `action` on `imagePath`, or null when no rule restricts it. */
export interface Demand {
  pattern: string;
  level: ProtectionLevel;
}

/** GitLab's ILIKE glob: `*` is any run of characters (`/` too), everything else literal, case ignored. */
export function patternMatches(pattern: string, imagePath: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`, 'is').test(imagePath);
}

export function demandOn(
  rules: readonly ProtectionRule[],
  imagePath: string,
  action: 'push' | 'delete',
): Demand | null {
  let strictest: Demand | null = null;
  for (const rule of rules) {
    const level = rule[action];
    if (level === null || !patternMatches(rule.pattern, imagePath)) continue;
    if (strictest === null || LEVEL_OF[level] > LEVEL_OF[strictest.level]) strictest = { pattern: rule.pattern, level };
  }
  return strictest;
}

/** Whether the judge grants anything protection could take away: push, delete or `*`. */
export function grantsWrites(judge: Judge): boolean {
  return (['push', 'delete', '*'] as const).some((action) => judge(action).granted);
}

/** Whether judging this caller needs its role: a rule restricts a write the judge grants. */
export function needsRole(judge: Judge, facts: ProtectionFacts, imagePath: string): boolean {
  if (facts.kind !== 'rules') return false;
  const granted = (action: 'push' | 'delete') => judge(action).granted || judge('*').granted;
  return (['push', 'delete'] as const).some(
    (action) => granted(action) && demandOn(facts.rules, imagePath, action) !== null,
  );
}

export function unreadableText(cause: UnreadableCause, project?: string): string {
  const on = project === undefined ? 'the project' : project;
  switch (cause) {
    case 'no-service-token':
      return 'the forge has no serviceToken and listing them needs Maintainer';
    case 'forbidden':
      return `the serviceToken may not list them (it needs Maintainer on ${on}, or admin)`;
    case 'no-api':
      return 'GitLab has no API for them before 17.9';
    case 'not-visible':
      return `the serviceToken cannot see ${on}`;
    case 'too-many':
      return `${on} has more rules than forgegate reads`;
  }
}

/**
 * The judge with the project's protection rules applied to `imagePath` (the full path, prefix
 * stripped). `project` only names the project in reasons.
 */
export function protect(
  base: Judge,
  imagePath: string,
  project: string,
  facts: ProtectionFacts,
  caller: ProtectedCaller,
  mode: ProtectionMode,
): Judge {
  const objection = (action: 'push' | 'delete', granted: Judgement): Judgement | null => {
    if (caller.kind === 'admin') return null;
    if (facts.kind === 'unreadable') {
      if (mode === 'best-effort') return null;
      const why = unreadableText(facts.cause, project);
      const because = `the protection rules of ${project} cannot be read: ${why}; protectedRepositories is strict`;
      return { granted: false, rule: 'protection-unreadable', because };
    }
    const demand = demandOn(facts.rules, imagePath, action);
    if (demand === null) return null;
    const required = `${demand.pattern} is protected: ${LEVEL_NAME[demand.level]} required`;
    const refused = (because: string): Judgement => ({ granted: false, rule: 'protected', because });
    if (caller.kind === 'unknown') return refused(`${required}, and ${caller.why}`);
    const standing = `${caller.as} ${roleText(caller.level)}`;
    if (demand.level === 'admin' || caller.level < LEVEL_OF[demand.level]) return refused(`${required}, ${standing}`);
    return { ...granted, because: `${granted.because}; ${required}, ${standing}` };
  };
  return (action: Action): Judgement => {
    const judgement = base(action);
    if (action === 'pull' || !judgement.granted) return judgement;
    if (action !== '*') return objection(action, judgement) ?? judgement;
    // `*` holds push and delete: refused when either is, so that it narrows to what is held.
    for (const write of ['push', 'delete'] as const) {
      const refused = objection(write, judgement);
      if (refused !== null && !refused.granted) return refused;
    }
    return judgement;
  };
}

function roleText(level: number): string {
  return ROLE_NAME[level] ?? (level <= 0 ? 'not a member' : `level ${level}`);
}
