/**
 * Thin wrappers around the skopeo 1.9 CLI (containers/image 5.23) for e2e tests.
 *
 * What containers/image sends to the token realm (docker/docker_client.go,
 * pkg/docker/config/config.go; pinned by test/e2e/harness.test.ts):
 *
 * (a) username + password (--creds, or an auth.json "auth" entry without an
 *     identitytoken): GET <realm>?account=<user>&scope=<scope>&service=<service>
 *     with `Authorization: Basic base64(user:password)`. One `scope` parameter
 *     per resource, e.g. repository:team/app:pull,push (an anonymous inspect
 *     once sent the same scope twice). No offline_token, no client_id: skopeo
 *     never asks for a refresh token. Anonymous (--no-creds) is the same GET
 *     without `account` and without the Authorization header.
 *
 * (b) an identity token (auth.json "identitytoken"): POST <realm> with
 *     Content-Type application/x-www-form-urlencoded and the form
 *     service, scope (repeated), grant_type=refresh_token,
 *     refresh_token=<identitytoken>, client_id=containers/image; no
 *     Authorization header and no username anywhere, even when auth.json has one.
 *     The POST is used whenever an identity token is present, and a non-200
 *     answer (404 included) is an error: no fallback to GET.
 *
 * Deleting requests the scope repository:<name>:* (not `delete`).
 *
 * Only a 401 from the realm reads as bad credentials ("invalid username/password:
 * unauthorized: <errors[0].message of a JSON body>", or "authentication required"
 * for an RFC 6749 {"error": ...} body); any other non-200, 201
 * and 403 included, fails as "invalid status code from registry N" and is never
 * retried. A float expires_in fails JSON decoding; a missing one means 60 s.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { makeTempDir, reapAtExit, removeTempDir } from './processes.js';

export interface SkopeoResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SkopeoAuth {
  /** user:password */
  creds?: string;
  /** A containers auth.json, e.g. from writeAuthFile(). */
  authfile?: string;
  /** Talk to the registry anonymously. */
  noCreds?: boolean;
}

const TIMEOUT_MS = 60_000;

/** `skopeo copy`; the auth options apply to whichever side is a docker:// reference. */
export function copy(src: string, dest: string, auth: SkopeoAuth = {}): Promise<SkopeoResult> {
  return skopeo([
    'copy',
    ...(auth.authfile === undefined ? [] : ['--authfile', auth.authfile]),
    ...(isRegistryRef(src) ? registryFlags(auth, '--src-') : []),
    ...(isRegistryRef(dest) ? registryFlags(auth, '--dest-') : []),
    src,
    dest,
  ]);
}

export function inspect(ref: string, auth: SkopeoAuth = {}): Promise<SkopeoResult> {
  return skopeo(['inspect', ...singleRefFlags(ref, auth), ref]);
}

export function deleteImage(ref: string, auth: SkopeoAuth = {}): Promise<SkopeoResult> {
  return skopeo(['delete', ...singleRefFlags(ref, auth), ref]);
}

/**
 * Writes a containers auth.json holding one entry for `host`, replacing the file.
 * containers/image drops an entry whose "auth" does not decode to "user:password"
 * (identitytoken included), so "auth" is always written, as docker login does.
 */
export async function writeAuthFile(
  path: string,
  host: string,
  entry: { username?: string; password?: string; identityToken?: string },
): Promise<void> {
  const auth = Buffer.from(`${entry.username ?? ''}:${entry.password ?? ''}`).toString('base64');
  const hostEntry = entry.identityToken === undefined ? { auth } : { auth, identitytoken: entry.identityToken };
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, JSON.stringify({ auths: { [host]: hostEntry } }, null, 2), { mode: 0o600 });
}

function isRegistryRef(ref: string): boolean {
  return ref.startsWith('docker://');
}

function singleRefFlags(ref: string, auth: SkopeoAuth): string[] {
  return [
    ...(auth.authfile === undefined ? [] : ['--authfile', auth.authfile]),
    ...(isRegistryRef(ref) ? registryFlags(auth, '--') : []),
  ];
}

// Test registries speak plain http; with tls-verify off skopeo tries https, then http.
function registryFlags(auth: SkopeoAuth, prefix: string): string[] {
  return [
    `${prefix}tls-verify=false`,
    ...(auth.creds === undefined ? [] : [`${prefix}creds`, auth.creds]),
    ...(auth.noCreds === true ? [`${prefix}no-creds`] : []),
  ];
}

async function skopeo(args: string[]): Promise<SkopeoResult> {
  const home = await makeTempDir('skopeo');
  try {
    const registriesConf = join(home, 'registries.conf');
    await writeFile(registriesConf, '');
    return await run(['--insecure-policy', '--registries.d', home, '--tmpdir', home, ...args], {
      PATH: process.env.PATH,
      // A fresh environment: no user auth.json, docker config.json,
      // registries.conf or REGISTRY_AUTH_FILE can change what a test sees.
      HOME: home,
      XDG_RUNTIME_DIR: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      CONTAINERS_REGISTRIES_CONF: registriesConf,
      TMPDIR: home,
    });
  } finally {
    await removeTempDir(home);
  }
}

// As root, skopeo keeps its blob-info cache in /var/lib/containers/cache whatever HOME says: it
// remembers which repositories of which registry held a blob, and later copies to a registry on
// the same port ask for those repositories too (a cross-repository mount), runs and suites
// apart. Root runs it in a mount namespace of its own, with the cache directory of this call's
// HOME mounted there.
const SYSTEM_BLOB_CACHE = '/var/lib/containers/cache';

function command(args: string[], env: NodeJS.ProcessEnv): [string, string[]] {
  if (process.getuid?.() !== 0) return ['skopeo', args];
  const isolated = `mkdir -p "$BLOB_CACHE" ${SYSTEM_BLOB_CACHE} && mount --bind "$BLOB_CACHE" ${SYSTEM_BLOB_CACHE} && exec skopeo "$@"`;
  env.BLOB_CACHE = join(String(env.HOME), 'blob-info-cache');
  return ['unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', isolated, 'skopeo', ...args]];
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<SkopeoResult> {
  const [file, argv] = command(args, env);
  return new Promise((resolve) => {
    const child = execFile(
      file,
      argv,
      { env, timeout: TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ code: 0, stdout, stderr });
        } else if (typeof error.code === 'number') {
          resolve({ code: error.code, stdout, stderr });
        } else {
          // Killed by the timeout, or skopeo could not be started at all.
          resolve({ code: -1, stdout, stderr: `${stderr}\n[skopeo ${args.join(' ')}: ${error.message}]` });
        }
      },
    );
    reapAtExit(child);
  });
}
