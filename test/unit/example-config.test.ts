import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { parseConfig, parseConfigText } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { documentPaths, keyPaths } from '../support/schema-keys.js';

// config/forgegate.example.yaml against the zod schema in src/config/schema.ts: as it stands it
// is exactly the built-in defaults (so it loads with no variable set), and with its commented
// examples uncommented it is still valid and names every key the schema accepts. A new key
// fails here until the example shows it.

const EXAMPLE = fileURLToPath(new URL('../../config/forgegate.example.yaml', import.meta.url));

/**
 * The example with its commented list items in use: `key: []` followed by lines commented at
 * the key's own indentation (`# - item` and its `#   continuation` lines) becomes `key:` and
 * those lines, as a reader would uncomment them.
 */
export function uncommentExamples(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const empty = /^(\s*)([A-Za-z]\w*): \[\](\s+#.*)?$/.exec(lines[i]!);
    const indent = empty?.[1] ?? '';
    const item = (line = '') => line.startsWith(`${indent}# - `) || line.startsWith(`${indent}#   `);
    if (!empty || !item(lines[i + 1])) {
      out.push(lines[i]!);
      continue;
    }
    out.push(`${indent}${empty[2]}:`);
    while (item(lines[i + 1])) out.push(indent + lines[++i]!.slice(indent.length + 2));
  }
  return out.join('\n');
}

describe('config/forgegate.example.yaml', () => {
  test('as it stands, it is the built-in defaults, and needs no environment variable', async () => {
    const text = await readFile(EXAMPLE, 'utf8');
    assert.deepEqual(parseConfigText(text, {}, 'example'), parseConfig({}, {}, 'defaults'));
  });

  test('with its examples uncommented it is valid and names every key of the schema', async () => {
    const expanded = uncommentExamples(await readFile(EXAMPLE, 'utf8'));
    const config = parseConfigText(expanded, {}, 'example, uncommented');
    assert.equal(config.acl.length, 1, 'the acl example is used');
    assert.equal(config.oidc.length, 1, 'the oidc example is used');
    assert.equal(config.forges[0]!.jobTokenPushAllowlist.length, 1, 'the jobTokenPushAllowlist example is used');
    const shown = new Set(documentPaths(parse(expanded)));
    const missing = keyPaths(configSchema).filter((path) => !shown.has(path));
    const hint = 'keys the schema accepts but config/forgegate.example.yaml does not show (add each with its default)';
    assert.deepEqual(missing, [], hint);
  });

  test('uncommentExamples turns a commented item under `key: []` into a list', () => {
    const text = 'a: []   # note\n# - x: 1\n#   y: [2]\nb: []\n# prose\nc:\n  d: []\n  # - z: 3\n';
    assert.deepEqual(parse(uncommentExamples(text)), { a: [{ x: 1, y: [2] }], b: [], c: { d: [{ z: 3 }] } });
  });
});
