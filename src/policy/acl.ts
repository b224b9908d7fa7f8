import { compileGlob, compilePattern, escapeRegex, globSource, type Matcher } from './glob.js';
import { allowing, decide, type Allowance } from './grant.js';
import type { Action, Decision, Scope } from './types.js';

// Static ACL rules (`acl` in docs/configuration.md): first match wins, default deny. A rule matches on
// account, resource type and name; its actions then decide every requested action.

export interface AclRule {
  account: string; // glob or /regex/; "" matches only anonymous callers
  type: string;
  name: string; // glob; ${account} expands to the caller's name
  actions: Action[];
}

interface CompiledRule {
  index: number;
  rule: AclRule;
  account: Matcher;
  name: (account: string) => RegExp;
  /** What the rule allows, and why: the same for every request it matches, so built once. */
  allowance: Allowance;
}

export class Acl {
  private readonly rules: CompiledRule[];

  constructor(rules: readonly AclRule[]) {
    this.rules = rules.map((rule, index) => ({
      index,
      rule,
      account: rule.account === '' ? (a: string) => a === '' : compileAccount(rule.account),
      name: compileName(rule.name),
      allowance: {
        actions: rule.actions,
        rule: 'acl-rule',
        because: `acl rule #${index + 1} (account "${rule.account}", ${rule.type} "${rule.name}") allows [${rule.actions.join(', ')}]`,
      },
    }));
  }

  /** The first rule matching (account, scope), or null. */
  match(account: string, scope: Pick<Scope, 'type' | 'name'>): { index: number; rule: AclRule } | null {
    return this.first(account, scope) ?? null;
  }

  decide(account: string, scope: Scope): Decision {
    return decide(scope, allowing(this.first(account, scope)?.allowance ?? defaultDeny(account, scope)));
  }

  private first(account: string, scope: Pick<Scope, 'type' | 'name'>): CompiledRule | undefined {
    for (const compiled of this.rules) {
      if (compiled.rule.type !== scope.type) continue;
      if (!compiled.account(account)) continue;
      if (!compiled.name(account).test(scope.name)) continue;
      return compiled;
    }
    return undefined;
  }
}

function defaultDeny(account: string, scope: Scope): Allowance {
  const who = account === '' ? 'anonymous' : `account "${account}"`;
  return {
    actions: [],
    rule: 'acl-default-deny',
    because: `no acl rule matches ${who} on ${scope.type} ${scope.name}`,
  };
}

// A glob `*` must not match the anonymous caller's empty name: anonymous access is opt-in.
function compileAccount(pattern: string): Matcher {
  const matches = compilePattern(pattern);
  return (account) => account !== '' && matches(account);
}

function compileName(pattern: string): (account: string) => RegExp {
  if (!pattern.includes('${account}')) {
    const regex = compileGlob(pattern);
    return () => regex;
  }
  // The account is substituted as a literal: a name like "a*" must not become a glob.
  const parts = pattern.split('${account}').map(globSource);
  const cache = new Map<string, RegExp>();
  return (account) => {
    let regex = cache.get(account);
    if (!regex) {
      regex = new RegExp(`^${parts.join(escapeRegex(account))}$`);
      if (cache.size >= 1000) cache.clear();
      cache.set(account, regex);
    }
    return regex;
  };
}
