import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { runCommand, type CommandResult } from './command.js';
import { assertNoMountsUnder, privateMountNamespace, startContainerd } from './containerd.js';
import { makeTempDir, removeTempDir, waitUntilReady } from './processes.js';

// A private Docker Engine (Debian's docker.io 20.10) beside its own containerd, driven by the
// docker CLI as a user would. Everything it owns lives in one temp dir: data root, exec root,
// pid file, socket, daemon.json, trust key and the CLI's config.json. It touches no host
// network setting (no iptables rules, no docker0 bridge, no ip_forward) and stores layers with
// the vfs driver (plain copies: no overlay mounts). It runs in a mount namespace of its own,
// so the bind mount it puts on its data root goes away with it, even when it is killed.
// The one trace it leaves on the host: an empty /run/docker/plugins (plugin discovery, fixed).

export interface DockerEngine {
  /** The docker CLI it is driven with. */
  cli: string;
  /** `docker <args>` against this engine, with a private DOCKER_CONFIG and HOME. */
  docker(args: readonly string[], input?: string | Buffer): Promise<CommandResult>;
  /** The CLI's config.json as it stands ({} before the first login). */
  cliConfig(): Promise<DockerCliConfig>;
  logs(): string;
  stop(): Promise<void>;
}

export interface DockerCliConfig {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
  credsStore?: string;
}

/**
 * The distinct docker CLIs on PATH, by the file they resolve to: a machine may carry a newer
 * static client in /usr/local/bin besides the Debian package's /usr/bin/docker.
 */
export function dockerClis(): { path: string; version: string }[] {
  let found: string[];
  try {
    found = execFileSync('which', ['-a', 'docker'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return [];
  }
  const byTarget = new Map<string, string>();
  for (const path of found) {
    const target = realpathSync(path);
    if (!byTarget.has(target)) byTarget.set(target, path);
  }
  return [...byTarget.values()].map((path) => ({
    path,
    version: execFileSync(path, ['--version'], { encoding: 'utf8' }).trim(),
  }));
}

export async function startDockerEngine(cli = 'docker'): Promise<DockerEngine> {
  const dir = await makeTempDir('docker');
  const containerd = await startContainerd(dir);
  const socket = join(dir, 'docker.sock');
  const daemonJson = join(dir, 'daemon.json');
  // dockerd 20.10 writes a trust key to /etc/docker/key.json unless told otherwise, and only
  // daemon.json can tell it. A daemon.json of our own also keeps the host's out.
  await writeFile(daemonJson, JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') }));
  const configDir = join(dir, 'cli');
  await mkdir(configDir);

  const proc = privateMountNamespace(
    'dockerd',
    [
      `--containerd=${containerd.address}`,
      `--data-root=${join(dir, 'data')}`,
      `--exec-root=${join(dir, 'exec')}`,
      `--pidfile=${join(dir, 'docker.pid')}`,
      `--host=unix://${socket}`,
      `--config-file=${daemonJson}`,
      // vfs copies layers instead of mounting them; the host's network stays as it is.
      '--storage-driver=vfs',
      '--iptables=false',
      '--ip6tables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      '--bridge=none',
    ],
    dir,
  );
  const stop = async (): Promise<void> => {
    await proc.stop('SIGTERM', 15_000);
    await containerd.stop();
    assertNoMountsUnder(dir);
    await removeTempDir(dir);
  };
  try {
    await waitUntilReady('dockerd', proc, () => ping(socket), 30_000);
  } catch (error) {
    await stop();
    throw error;
  }

  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    DOCKER_HOST: `unix://${socket}`,
    DOCKER_CONFIG: configDir,
    DOCKER_CLI_HINTS: 'false',
  };
  const docker = (args: readonly string[], input?: string | Buffer) => runCommand(cli, args, { env, input });
  return {
    cli,
    docker,
    cliConfig: async () => {
      const text = await readFile(join(configDir, 'config.json'), 'utf8').catch(() => '{}');
      return JSON.parse(text) as DockerCliConfig;
    },
    logs: () => `${proc.logs().slice(-4000)}\ncontainerd:\n${containerd.logs().slice(-2000)}`,
    stop,
  };
}

/** The engine API's GET /_ping over its unix socket: "OK" once it serves. */
function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 1_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(response.statusCode === 200 && body === 'OK'));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
