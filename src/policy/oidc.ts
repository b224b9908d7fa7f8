import { compilePattern, type Matcher } from './glob.js';
import type { Judge, Judgement } from './grant.js';
import type { ProtectedCaller } from './protection.js';
import type { Action } from './types.js';

// What a verified CI ID token earns: the rules of its issuer, matched on the job's project
// (and its immutable id), grant actions on that project's images; anything beyond pull also
// needs the rule's claim conditions (protected ref, no pull-request event...). Pure: the
// verified claims come in, judgements go out.

/** The facts a verified ID token gives, named through the issuer's claim mapping. */
export interface OidcCaller {
  /** The configured issuer's label. */
  issuer: string;
  /** The job's project path, lower-cased as the forges do. */
  project: string;
  projectId: string | null;
  ref: string | null;
  workflow: string | null;
  /** Every scalar claim as text, for rule conditions. */
  claims: Record<string, string>;
}

export interface OidcRule {
  /** "rules[0]": where in the configuration, for reasons. */
  label: string;
  project: Matcher;
  projectId: string | null;
  actions: readonly Action[];
  when: Record<string, Matcher[]>;
  unless: Record<string, Matcher[]>;
  unlessText: Record<string, string[]>;
  whenText: Record<string, string[]>;
  alsoPull: Matcher[];
}

/** How image paths hang under a project: GitLab allows 2 more segments, GitHub any number. */
export type ImageStyle = 'gitlab' | 'github';

export function compileRule(
  rule: {
    project: string;
    projectId: string | null;
    actions: readonly Action[];
    when: Record<string, string[]>;
    unless: Record<string, string[]>;
    alsoPull: readonly string[];
  },
  index: number,
): OidcRule {
  const matchers = (map: Record<string, string[]>) =>
    Object.fromEntries(Object.entries(map).map(([claim, globs]) => [claim, globs.map(compilePattern)]));
  return {
    label: `rules[${index}]`,
    project: compilePattern(rule.project.toLowerCase()),
    projectId: rule.projectId,
    actions: rule.actions,
    when: matchers(rule.when),
    unless: matchers(rule.unless),
    whenText: rule.when,
    unlessText: rule.unless,
    alsoPull: rule.alsoPull.map((glob) => compilePattern(glob.toLowerCase())),
  };
}

/** The first rule naming the caller's project (and id, where the rule pins one). */
export function findRule(rules: readonly OidcRule[], caller: OidcCaller): OidcRule | null {
  return (
    rules.find(
      (rule) => rule.project(caller.project) && (rule.projectId === null || rule.projectId === caller.projectId),
    ) ?? null
  );
}

/** Whether an image path (prefix stripped, lower-cased) belongs to the project. */
export function ownsImage(project: string, imagePath: string, style: ImageStyle): boolean {
  if (imagePath === project) return true;
  if (!imagePath.startsWith(`${project}/`)) return false;
  // docs/forges.md, "From image to project": GitLab looks for the project among the path minus at most two segments.
  return style === 'github' || imagePath.split('/').length - project.split('/').length <= 2;
}

export function describeCaller(caller: OidcCaller): string {
  return `ID token of ${caller.project} (issuer ${caller.issuer}, ref ${caller.ref ?? '-'}, workflow ${caller.workflow ?? '-'})`;
}

/** The job's own project: the rule's actions, beyond pull only when its conditions hold; never `*` unless the rule says so. */
export function judgeOwnProject(rule: OidcRule, caller: OidcCaller): Judge {
  const who = describeCaller(caller);
  const unmet = unmetCondition(rule, caller);
  return (action): Judgement => {
    if (!rule.actions.includes(action) && !rule.actions.includes('*')) {
      return {
        granted: false,
        rule: 'oidc-rule',
        because: `${rule.label} grants ${who} only [${rule.actions.join(', ')}]`,
      };
    }
    if (action !== 'pull' && unmet !== null)
      return { granted: false, rule: 'oidc-condition', because: `${unmet} for ${who}: pull only` };
    return {
      granted: true,
      rule: 'oidc-own',
      because: `${who} may ${rule.actions.join(', ')} on its own project by ${rule.label}`,
    };
  };
}

/** An image the rule's alsoPull names: pull, nothing more. Null when it names none. */
export function judgeAlsoPull(rule: OidcRule, caller: OidcCaller, imagePath: string): Judge | null {
  if (!rule.alsoPull.some((match) => match(imagePath))) return null;
  const who = describeCaller(caller);
  return (action) =>
    action === 'pull'
      ? { granted: true, rule: 'oidc-also-pull', because: `${rule.label}.alsoPull lets ${who} pull ${imagePath}` }
      : {
          granted: false,
          rule: 'oidc-also-pull',
          because: `${rule.label}.alsoPull lets ${who} only pull ${imagePath}`,
        };
}

/** The first failed condition, as a sentence, or null when all hold. */
export function unmetCondition(rule: OidcRule, caller: OidcCaller): string | null {
  for (const [claim, matchers] of Object.entries(rule.when)) {
    const value = caller.claims[claim];
    if (value === undefined)
      return `claim ${claim} is missing, ${rule.label}.when needs one of [${rule.whenText[claim]!.join(', ')}]`;
    if (!matchers.some((match) => match(value)))
      return `${claim} is "${value}", ${rule.label}.when needs one of [${rule.whenText[claim]!.join(', ')}]`;
  }
  for (const [claim, matchers] of Object.entries(rule.unless)) {
    const value = caller.claims[claim];
    if (value !== undefined && matchers.some((match) => match(value)))
      return `${claim} is "${value}", which ${rule.label}.unless excludes`;
  }
  return null;
}

/** GitLab's `user_access_level` claim names the job user's role on the project. */
const ACCESS_LEVEL_CLAIM = 'user_access_level';
const LEVELS: Record<string, number> = {
  guest: 10,
  planner: 15,
  reporter: 20,
  developer: 30,
  maintainer: 40,
  owner: 50,
};

/** The job's user as protection rules see it: the claim's role; unknown (refused by any rule) without it. */
export function protectedCaller(caller: OidcCaller): ProtectedCaller {
  const claim = caller.claims[ACCESS_LEVEL_CLAIM];
  if (claim === undefined) {
    return { kind: 'unknown', why: `the ID token has no ${ACCESS_LEVEL_CLAIM} claim to say the job user's role` };
  }
  const level = LEVELS[claim.toLowerCase()];
  if (level === undefined) {
    const shown = claim.slice(0, 40);
    return { kind: 'unknown', why: `the ID token's ${ACCESS_LEVEL_CLAIM} "${shown}" is no role forgegate knows` };
  }
  return { kind: 'member', level, as: `the ID token's ${ACCESS_LEVEL_CLAIM} is` };
}
