import type { Scope } from './types.js';

// The scope grammar of docs/protocol.md section 5, parsed leniently where real clients differ
// (ports in names, several scopes per value, unknown actions) and strictly where a
// mistake could grant the wrong thing (the name).

export const MAX_NAME_LENGTH = 255;
/** Real clients ask for one to a handful; a bound keeps tokens under proxy header limits. */
export const MAX_SCOPES = 64;

const TYPE = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/;
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const PATH = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const HOST = /^[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*(?::[0-9]{1,5})?$/;
const ACTION = /^(?:[a-z]+|\*)$/;

export class ScopeError extends Error {
  override name = 'ScopeError';
}

/** Parses one `type:name:actions` resource scope. */
export function parseResourceScope(text: string): Scope {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) throw new ScopeError(`scope "${clip(text)}" is not type:name:actions`);
  const typeText = text.slice(0, first);
  const name = text.slice(first + 1, last);
  const actionText = text.slice(last + 1);

  const type = TYPE.exec(typeText);
  if (!type) throw new ScopeError(`scope "${clip(text)}" has an invalid resource type "${clip(typeText)}"`);
  if (name.length === 0) throw new ScopeError(`scope "${clip(text)}" has an empty name`);
  if (name.length > MAX_NAME_LENGTH) throw new ScopeError(`scope name is longer than ${MAX_NAME_LENGTH} characters`);
  if (!isName(name)) throw new ScopeError(`scope "${clip(text)}" has an invalid name "${clip(name)}"`);

  const actions = unique(actionText.split(',').filter((a) => a !== ''));
  if (actions.length === 0) throw new ScopeError(`scope "${clip(text)}" names no action`);
  const bad = actions.find((a) => !ACTION.test(a));
  if (bad !== undefined) throw new ScopeError(`scope "${clip(text)}" has an invalid action "${clip(bad)}"`);

  const scope: Scope = { type: type[1]!, name, actions };
  if (type[2] !== undefined) scope.class = type[2];
  return scope;
}

/**
 * Parses every `scope` value of a request: each value may hold several space-separated
 * scopes, and the same resource may be asked for more than once (the union is taken).
 */
export function parseScopes(values: readonly string[]): Scope[] {
  const byResource = new Map<string, Scope>();
  for (const value of values) {
    for (const text of value.split(' ')) {
      if (text === '') continue;
      const scope = parseResourceScope(text);
      const key = resourceKey(scope);
      const seen = byResource.get(key);
      if (seen) seen.actions = unique([...seen.actions, ...scope.actions]);
      else byResource.set(key, scope);
      if (byResource.size > MAX_SCOPES) throw new ScopeError(`more than ${MAX_SCOPES} scopes in one request`);
    }
  }
  return [...byResource.values()];
}

export function formatScope(scope: { type: string; class?: string; name: string; actions: readonly string[] }): string {
  const type = scope.class === undefined ? scope.type : `${scope.type}(${scope.class})`;
  return `${type}:${scope.name}:${scope.actions.join(',')}`;
}

// As in distribution's reference grammar, the first component is a host only when it looks
// like one (a dot, a port, or "localhost"); otherwise it is an ordinary lower-case component.
function isName(name: string): boolean {
  const slash = name.indexOf('/');
  const first = slash < 0 ? name : name.slice(0, slash);
  const hostLike = first.includes('.') || first.includes(':') || first === 'localhost';
  if (slash > 0 && hostLike && HOST.test(first)) return PATH.test(name.slice(slash + 1));
  return PATH.test(name);
}

function resourceKey(scope: Scope): string {
  return `${scope.type}(${scope.class ?? ''}):${scope.name}`;
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}

/** Keeps error messages (which reach clients and logs) short even for huge inputs. */
function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
