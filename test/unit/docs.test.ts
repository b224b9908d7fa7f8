import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { aclRuleSchema, configSchema, forgeSchema } from '../../src/config/schema.js';
import { keyPaths } from '../support/schema-keys.js';

// docs/configuration.md against the zod schema in src/config/schema.ts: every key the schema
// accepts has a row, every row names a key the schema accepts, and every default shown is the
// schema's default. A new config section or key fails here until it is documented.

const DOC = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));

/** The documented rows: `| \`key\` | type | default | meaning |`. */
function documentedRows(markdown: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of markdown.split('\n')) {
    const match = /^\| `([A-Za-z0-9.[\]]+)` \|[^|]*\| ([^|]*) \|/.exec(line);
    if (match) rows.set(match[1]!, match[2]!.trim());
  }
  return rows;
}

/** What a documentation cell shows for a default value. */
function shown(value: unknown): string {
  return `\`${typeof value === 'string' ? (value === '' ? '""' : value) : JSON.stringify(value)}\``;
}

/** The default of each leaf key, taken from the schema itself. */
function defaults(): Map<string, unknown> {
  const found = new Map<string, unknown>();
  const walk = (value: unknown, path: string) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, child] of Object.entries(value)) walk(child, path === '' ? key : `${path}.${key}`);
    } else if (value !== undefined) found.set(path, value);
  };
  const { forges: _forges, acl: _acl, ...sections } = configSchema.parse({ forges: [] });
  walk(sections, '');
  const forge = forgeSchema.parse({ type: 'gitlab', url: 'https://gitlab.example.com' });
  for (const [key, value] of Object.entries(forge))
    if (!['type', 'url'].includes(key) && value !== undefined) found.set(`forges[].${key}`, value);
  found.set('acl[].type', aclRuleSchema.parse({ account: 'a', name: 'n', actions: ['pull'] }).type);
  return found;
}

describe('docs/configuration.md', () => {
  test('documents every key of the configuration schema', async () => {
    const rows = documentedRows(await readFile(DOC, 'utf8'));
    const sections = keyPaths(configSchema).filter((path) => !path.includes('.') && !path.includes('['));
    const missing = keyPaths(configSchema).filter((path) => !rows.has(path) && !sections.includes(path));
    const missingSections = sections.filter(
      (section) =>
        !rows.has(section) &&
        ![...rows.keys()].some((key) => key.startsWith(`${section}.`) || key.startsWith(`${section}[]`)),
    );
    assert.deepEqual(
      [...missingSections, ...missing],
      [],
      `undocumented configuration keys: add a row "| \`key\` | type | default | meaning |" for each to docs/configuration.md ` +
        `(a new top-level section such as oidc:, ui: or limits: needs its own "## \`section\`" table)`,
    );
  });

  test('documents no key the schema does not accept', async () => {
    const known = new Set(keyPaths(configSchema));
    const stale = [...documentedRows(await readFile(DOC, 'utf8')).keys()].filter((key) => !known.has(key));
    assert.deepEqual(stale, [], 'docs/configuration.md names keys that src/config/schema.ts does not accept');
  });

  test("shows each key's default as the schema has it", async () => {
    const rows = documentedRows(await readFile(DOC, 'utf8'));
    const wrong: string[] = [];
    for (const [path, value] of defaults()) {
      const cell = rows.get(path);
      if (cell !== undefined && cell !== shown(value))
        wrong.push(`${path}: docs say ${cell}, schema has ${shown(value)}`);
    }
    assert.deepEqual(wrong, [], 'defaults in docs/configuration.md differ from src/config/schema.ts');
  });
});
