import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

// The repository stands alone: every relative link of its Markdown resolves to a file (and a
// heading) inside it, and no file points at documents a user of forgegate does not have: a
// sibling checkout of shared notes, a document that is not in the repository, or this
// project's own issue tracker by number. Public upstream issues (containerd#12163) are fine.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What a clone holds: tracked files and new ones not ignored. */
function repositoryFiles(): string[] {
  const args = ['ls-files', '-z', '--cached', '--others', '--exclude-standard'];
  const listed = execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  return listed
    .split('\0')
    .filter((file) => file !== '' && existsSync(join(ROOT, file)) && statSync(join(ROOT, file)).isFile());
}

function text(file: string): string | null {
  const bytes = readFileSync(join(ROOT, file));
  return bytes.includes(0) ? null : bytes.toString('utf8');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6} (.+)$/.exec(line);
    if (heading) found.add(slug(heading[1]!));
  }
  return found;
}

/** Markdown links `[text](target)`, outside fenced code. */
function links(markdown: string): string[] {
  const found: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (!fenced) for (const match of line.matchAll(/\]\(([^)\s]+)\)/g)) found.push(match[1]!);
  }
  return found;
}

describe('the repository stands alone', () => {
  test('every relative link in README.md, the other top-level pages and docs/ resolves inside the repository', () => {
    const topOrDocs = (file: string) => !file.includes('/') || file.startsWith('docs/');
    const pages = repositoryFiles().filter((file) => file.endsWith('.md') && topOrDocs(file));
    assert.ok(pages.includes('README.md') && pages.includes('docs/protocol.md') && pages.includes('docs/forges.md'));
    const broken: string[] = [];
    for (const page of pages) {
      for (const target of links(text(page)!)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const resolved = path === '' ? page : normalize(join(dirname(page), path));
        if (resolved.startsWith(`..${sep}`) || resolved === '..') {
          broken.push(`${page} -> ${target}: outside the repository`);
        } else if (!existsSync(join(ROOT, resolved))) {
          broken.push(`${page} -> ${target}: no such file`);
        } else if (anchor !== undefined && resolved.endsWith('.md') && !anchors(text(resolved)!).has(anchor)) {
          broken.push(`${page} -> ${target}: no heading "${anchor}" in ${relative('.', resolved)}`);
        }
      }
    }
    assert.deepEqual(broken, [], 'broken links');
  });

  test('no file names a shared checkout, a document the repository lacks, or an issue number of this project', () => {
    const rules: [RegExp, string][] = [
      [new RegExp(['\\.\\.', 'shared'].join('/')), 'a sibling shared/ checkout'],
      [new RegExp(['', 'work', 'shared'].join('/')), 'a shared/ directory outside the repository'],
      [new RegExp(`\\b${'interface'}\\.md\\b`), 'a document the repository does not contain'],
      [new RegExp(`\\b${'issues?'}\\s*#?\\s*\\d+`, 'i'), 'an issue of this project, by number'],
    ];
    const problems: string[] = [];
    for (const file of repositoryFiles()) {
      const content = text(file);
      if (content === null) continue;
      let fenced = false;
      content.split('\n').forEach((line, index) => {
        const problem = (what: string) => problems.push(`${file}:${index + 1}: ${what}: ${line.trim().slice(0, 100)}`);
        if (line.startsWith('```')) fenced = !fenced;
        for (const [pattern, what] of rules) if (pattern.test(line)) problem(what);
        // docs/forges.md and docs/protocol.md exist; outside docs/ they are named with their folder.
        const bare = /(^|[^\w./-])(forges|protocol)\.md/.exec(line);
        if (bare && !file.startsWith('docs/')) problem(`name it docs/${bare[2]}.md`);
        // GitHub links a bare #N in Markdown prose (not in code) to this project's issue N.
        const prose = fenced ? '' : line.replace(/`[^`]*`/g, '');
        if (file.endsWith('.md') && /(^|[\s(])#\d+\b/.test(prose)) problem("a bare #N links this project's issues");
      });
    }
    assert.deepEqual(problems, [], 'references outside the repository');
  });
});
