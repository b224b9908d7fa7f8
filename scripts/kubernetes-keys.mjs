#!/usr/bin/env node
// forgegate's key directory <-> the Kubernetes Secret forgegate-keys.
//
// A Secret holds flat names only (`kubectl create secret --from-file=DIR` skips
// subdirectories), but a key rotation keeps next/ and retired/<id>/ beside key.pem. So the
// Secret names each file flat (next.key.pem, retired-1.cert.pem, ...) and the Deployment's
// keys volume puts every name back at its path (deploy/kubernetes/deployment.yaml, `items`).
//
//   node scripts/kubernetes-keys.mjs secret ./keys | kubectl apply -f -
//   kubectl get secret forgegate-keys -o json | node scripts/kubernetes-keys.mjs restore ./keys
//
// Retired keys take slots retired-1 to retired-3, newest first: the names of their
// directories do not matter to forgegate (retired.json says which key each is).
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const RETIRED_SLOTS = 3;
const KEY_FILES = ['key.pem', 'cert.pem'];

/** Secret data name -> path in the key directory, for every file the Deployment mounts. */
function layout() {
  const entries = [
    ['key.pem', 'key.pem'],
    ['cert.pem', 'cert.pem'],
    ['jwks.json', 'jwks.json'],
    ...KEY_FILES.map((file) => [`next.${file}`, `next/${file}`]),
  ];
  for (let slot = 1; slot <= RETIRED_SLOTS; slot++) {
    for (const file of [...KEY_FILES, 'retired.json']) {
      entries.push([`retired-${slot}.${file}`, `retired/${slot}/${file}`]);
    }
  }
  return new Map(entries);
}

async function secret(keyDir, name) {
  const files = new Map(); // data name -> path under keyDir
  for (const file of ['key.pem', 'cert.pem', 'jwks.json']) {
    if (!existsSync(join(keyDir, file))) fail(`${join(keyDir, file)} is missing: run "forgegate keys generate" first`);
    files.set(file, file);
  }
  if (existsSync(join(keyDir, 'next', 'key.pem'))) {
    for (const file of KEY_FILES) files.set(`next.${file}`, join('next', file));
  }
  const retired = [];
  for (const id of await readdir(join(keyDir, 'retired')).catch(() => [])) {
    const record = join(keyDir, 'retired', id, 'retired.json');
    if (existsSync(record)) retired.push({ id, retiredAt: JSON.parse(await readFile(record, 'utf8')).retiredAt });
  }
  if (retired.length > RETIRED_SLOTS) {
    const prune = 'run "forgegate keys prune" once they are past keepUntil';
    fail(`${retired.length} retired keys, but the Deployment mounts ${RETIRED_SLOTS}: ${prune}`);
  }
  retired.sort((a, b) => Date.parse(b.retiredAt) - Date.parse(a.retiredAt));
  retired.forEach(({ id }, i) => {
    for (const file of [...KEY_FILES, 'retired.json']) files.set(`retired-${i + 1}.${file}`, join('retired', id, file));
  });
  const data = {};
  for (const [key, path] of files) data[key] = (await readFile(join(keyDir, path))).toString('base64');
  return { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name }, data };
}

async function restore(keyDir, manifest) {
  if (existsSync(join(keyDir, 'key.pem'))) fail(`${keyDir} already holds a key; restore into an empty directory`);
  const paths = layout();
  for (const [key, value] of Object.entries(manifest.data ?? {})) {
    const path = paths.get(key);
    if (path === undefined) fail(`the Secret holds "${key}", which is not a forgegate key file`);
    await mkdir(dirname(join(keyDir, path)), { recursive: true, mode: 0o700 });
    // Private keys stay private: 0600, as forgegate writes them.
    const mode = path.endsWith('key.pem') ? 0o600 : 0o644;
    await writeFile(join(keyDir, path), Buffer.from(value, 'base64'), { mode });
  }
}

function fail(message) {
  process.stderr.write(`kubernetes-keys: ${message}\n`);
  process.exit(1);
}

async function stdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const [command, keyDir, name = 'forgegate-keys'] = process.argv.slice(2);
if (command === 'secret' && keyDir) process.stdout.write(JSON.stringify(await secret(keyDir, name), null, 2) + '\n');
else if (command === 'restore' && keyDir) await restore(keyDir, JSON.parse(await stdin()));
else if (command === 'layout') process.stdout.write(JSON.stringify(Object.fromEntries(layout()), null, 2) + '\n');
else fail('usage: kubernetes-keys.mjs secret KEYDIR [NAME] | restore KEYDIR < secret.json | layout');
