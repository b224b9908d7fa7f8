import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { inOwnNetwork, ownNetworkAvailable } from '../support/netns.js';
import { makeTempDir, removeTempDir } from '../support/processes.js';

// README.md's "Try it locally" block, run as written, in a copy of the repository as a fresh
// clone has it (tracked files, no data/, no htpasswd), with the dist/ that `npm run build`
// made. In a network namespace of its own when possible, since the block uses fixed ports.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MARKER = '<!-- try-it-locally';

/** The fenced block right after the marker comment. */
export function tryItLocallyBlock(readme: string): string {
  const at = readme.indexOf(MARKER);
  assert.ok(at >= 0, `README.md has a "${MARKER} ... -->" marker`);
  const match = /^```sh\n([\s\S]*?)^```$/m.exec(readme.slice(at));
  assert.ok(match, 'a ```sh block follows the marker');
  return match[1]!;
}

/** What `git clone` of the working tree would hold: tracked and new, not ignored, files. */
async function freshClone(): Promise<string> {
  const dir = await makeTempDir('readme-clone');
  const args = ['ls-files', '-z', '--cached', '--others', '--exclude-standard'];
  const listed = execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  const files = listed.split('\0').filter((file) => file !== '' && existsSync(join(ROOT, file)));
  for (const file of files) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await cp(join(ROOT, file), join(dir, file));
  }
  // `npm ci && npm run build` already ran here: the block starts after them.
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  await cp(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  return dir;
}

interface Run {
  code: number | null;
  output: string;
}

function runBlock(dir: string, block: string, home: string): Promise<Run> {
  // Nothing from this shell changes what the block does: its own HOME (no auth.json), no
  // REGISTRY_* (docker-registry reads them as configuration), no FORGEGATE_CONFIG.
  const ours = (name: string) => !name.startsWith('REGISTRY_') && name !== 'FORGEGATE_CONFIG';
  const kept = Object.entries(process.env).filter(([name]) => ours(name));
  const env: NodeJS.ProcessEnv = Object.fromEntries(kept);
  Object.assign(env, { HOME: home, XDG_RUNTIME_DIR: home, XDG_CONFIG_HOME: join(home, '.config') });
  const bash: [string, string[]] = ['bash', ['-e', '-c', block]];
  const [command, args] = ownNetworkAvailable() ? inOwnNetwork(...bash) : bash;
  // Its own process group: whatever the block leaves running is stopped with it.
  const child = spawn(command, args, { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const guard = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 180_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(guard);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is gone already: the block stopped its servers itself
      }
      resolve({ code, output });
    }),
  );
}

describe('README.md "Try it locally"', () => {
  test('runs as written from a fresh clone: a push and a pull through a local registry', async () => {
    const block = tryItLocallyBlock(await readFile(join(ROOT, 'README.md'), 'utf8'));
    const dir = await freshClone();
    const home = await makeTempDir('readme-home');
    try {
      assert.ok(!existsSync(join(dir, 'data')), 'a fresh clone has no data/');
      const run = await runBlock(dir, block, home);
      const read = (file: string) => readFile(join(dir, 'data', file), 'utf8').catch(() => '');
      const tail = async (file: string) => `--- ${file}\n${(await read(file)).slice(-3000)}`;
      const logs = `${await tail('forgegate.log')}\n${await tail('registry.log')}`;
      assert.equal(run.code, 0, `the block failed:\n${run.output}\n${logs}`);
      assert.ok(existsSync(join(dir, 'data', 'pulled', 'index.json')), 'the image was pulled back');
      assert.match(run.output, /push granted: acl rule/);
      assert.match(run.output, /delete denied: acl rule/);
      const localRealm = /realm: http:\/\/127\.0\.0\.1:5001\/token\s/;
      assert.match(run.output, localRealm, 'the banner shows a realm that works locally');
      const audit = (await read('forgegate.log')).split('\n').filter((l) => l.includes('"token request"'));
      const granted = '"granted":["repository:team/hello:pull,push"]';
      const pushed = audit.some((l) => l.includes('"subject":"ci-bot"') && l.includes(granted));
      assert.ok(pushed, 'forgegate granted the push');
    } finally {
      await removeTempDir(dir);
      await removeTempDir(home);
    }
  });
});
