// What a forge event means for the cache: the projects and accounts whose cached entries it
// makes wrong, or why it changes nothing. Pure: no I/O, so every payload shape is testable.

/** Entries to drop: projects as the forge names them (lowercased later), accounts as sessions carry them. */
export interface Affected {
  projects: string[];
  accounts: string[];
}

export type Interpretation = Affected | { ignored: string };

/** A relevant event without the fields it needs: the sender is broken, not us (400). */
export class MalformedEvent extends Error {
  override name = 'MalformedEvent';
}

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The string at `path` (a.b.c), or undefined when any step is missing or not of that shape. */
export function field(payload: unknown, path: string): string | undefined {
  let at: unknown = payload;
  for (const step of path.split('.')) {
    if (!isObject(at)) return undefined;
    at = at[step];
  }
  return typeof at === 'string' && at !== '' ? at : undefined;
}

export function required(payload: unknown, path: string, event: string): string {
  const value = field(payload, path);
  if (value === undefined) throw new MalformedEvent(`${event} event without ${path}`);
  return value;
}

export function affected(projects: (string | undefined)[], accounts: (string | undefined)[]): Affected {
  const present = (values: (string | undefined)[]) => [...new Set(values.filter((v): v is string => v !== undefined))];
  return { projects: present(projects), accounts: present(accounts) };
}
