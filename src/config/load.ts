import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';

// Where configuration comes from (README "Configuration"): --config FILE, else $FORGEGATE_CONFIG,
// else built-in defaults. Every failure is one line that names the key and the problem.

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface LoadedConfig {
  config: Config;
  /** The file read, or null for the built-in defaults. */
  file: string | null;
}

export async function loadConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedConfig> {
  const path = file ?? (env.FORGEGATE_CONFIG || undefined);
  if (path === undefined) return { config: parseConfig({}, env, 'defaults'), file: null };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`config ${path}: cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return { config: parseConfigText(text, env, path), file: path };
}

export function parseConfigText(text: string, env: NodeJS.ProcessEnv, origin: string): Config {
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const problem = document.errors[0];
  if (problem) {
    const line = problem.linePos?.[0].line;
    throw new ConfigError(
      `config ${origin}${line ? ` line ${line}` : ''}: invalid YAML: ${problem.message.split('\n')[0]}`,
    );
  }
  return parseConfig(document.toJS() ?? {}, env, origin);
}

export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv, origin: string): Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(
      `config ${origin}: expected a mapping of sections (server, token, cache, users, acl, forges)`,
    );
  }
  const result = configSchema.safeParse(interpolate(raw, env, [], origin), { reportInput: true });
  if (!result.success) throw new ConfigError(`config ${origin}: ${describeIssue(result.error.issues[0]!)}`);
  return result.data;
}

// ${VAR} with an upper-case name is an environment variable; lower-case ones such as the
// ACL's ${account} are left for their own layer. Interpolating after parsing keeps a secret
// with YAML-special characters from changing the document's structure.
const VARIABLE = /\$\{([A-Z_][A-Z0-9_]*)\}/g;

function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: (string | number)[], origin: string): unknown {
  if (typeof value === 'string') {
    return value.replace(VARIABLE, (_, name: string) => {
      const replacement = env[name];
      if (replacement === undefined)
        throw new ConfigError(`config ${origin}: ${formatPath(path)}: environment variable ${name} is not set`);
      return replacement;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolate(item, env, [...path, i], origin));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolate(item, env, [...path, key], origin)]),
    );
  }
  return value;
}

const SECRET_KEY = /token|secret|password|key$/i;

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((key) => formatPath([...issue.path, key]));
    return `${keys.join(', ')}: unknown key${keys.length > 1 ? 's' : ''}`;
  }
  const key = formatPath(issue.path);
  const last = String(issue.path.at(-1) ?? '');
  const input = 'input' in issue ? issue.input : undefined;
  const shown =
    input === undefined || SECRET_KEY.test(last) || typeof input === 'object' ? '' : ` (got ${JSON.stringify(input)})`;
  return `${key}: ${issue.message}${shown}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out || '(top level)';
}
