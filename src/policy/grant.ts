import { KNOWN_ACTIONS, type Action, type Decision, type Grant, type Scope, type Verdict } from './types.js';

// Turning "what may this caller do" into verdicts on what was asked: the intersection of
// requested and allowed actions, with the `*` rule of docs/protocol.md (a `*` that is not held
// is narrowed to the explicit actions the caller does hold).

export interface Judgement {
  granted: boolean;
  /** A short stable code for the rule that decided ("role", "scope", "acl-rule"...): a metrics label. */
  rule: string;
  because: string;
}

/** Judges one action for one scope. Policies implement this; `decide` applies it. */
export type Judge = (action: Action) => Judgement;

const EXPLICIT: readonly Action[] = ['pull', 'push', 'delete'];

/** A judge's answer for every action: plain data, so it can be cached and replayed. */
export type Judgements = Record<Action, Judgement>;

export function judgeAll(judge: Judge): Judgements {
  return { pull: judge('pull'), push: judge('push'), delete: judge('delete'), '*': judge('*') };
}

export function replay(judgements: Judgements): Judge {
  return (action) => judgements[action];
}

export function decide(scope: Scope, judge: Judge): Decision {
  const verdicts: Verdict[] = [];
  for (const action of scope.actions) {
    if (!isAction(action)) {
      verdicts.push({ action, granted: false, rule: 'unknown-action', reason: `${action} denied: unknown action` });
      continue;
    }
    const judgement = judge(action);
    verdicts.push(verdict(action, judgement));
    if (action !== '*' || judgement.granted) continue;
    // Every explicit action gets its verdict, denied ones too: a client that asked for `*`
    // to delete (skopeo does) deserves to see why delete was refused.
    for (const explicit of EXPLICIT) {
      if (scope.actions.includes(explicit)) continue; // judged in its own right
      verdicts.push(verdict(explicit, judge(explicit)));
    }
  }
  return { scope, verdicts };
}

/** A plain set of actions with one reason: what an ACL rule or an admin role allows. */
export interface Allowance {
  actions: readonly Action[];
  rule: string;
  because: string;
}

/** A judge for policies that hold an Allowance. */
export function allowing(allowance: Allowance): Judge {
  const all = allowance.actions.includes('*');
  return (action) => ({
    granted: all || allowance.actions.includes(action),
    rule: allowance.rule,
    because: allowance.because,
  });
}

export const yes = (rule: string, because: string): Judgement => ({ granted: true, rule, because });
export const no = (rule: string, because: string): Judgement => ({ granted: false, rule, because });

/** Push and delete on something archived are refused, whatever else allows them. */
export function writable(place: string, archived: boolean, rule: string, because: string): Judgement {
  return archived ? no('archived', `${place} is archived`) : yes(rule, because);
}

/** A judge that denies everything with one reason (no project, failed gate, ...). */
export function denying(rule: string, because: string): Judge {
  return () => ({ granted: false, rule, because });
}

export function grantedActions(decision: Decision): Action[] {
  return KNOWN_ACTIONS.filter((action) => decision.verdicts.some((v) => v.granted && v.action === action));
}

/** The JWT `access` claim: one entry per scope with at least one granted action. */
export function toGrants(decisions: readonly Decision[]): Grant[] {
  const grants: Grant[] = [];
  for (const decision of decisions) {
    const actions = grantedActions(decision);
    if (actions.length === 0) continue;
    const { type, name } = decision.scope;
    const grant: Grant = { type, name, actions };
    if (decision.scope.class !== undefined) grant.class = decision.scope.class;
    grants.push(grant);
  }
  return grants;
}

function isAction(action: string): action is Action {
  return (KNOWN_ACTIONS as readonly string[]).includes(action);
}

function verdict(action: Action, judgement: Judgement): Verdict {
  return {
    action,
    granted: judgement.granted,
    rule: judgement.rule,
    reason: `${action} ${judgement.granted ? 'granted' : 'denied'}: ${judgement.because}`,
  };
}
