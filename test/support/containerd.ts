import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { runCommand, type CommandResult } from './command.js';
import { makeTempDir, removeTempDir, spawnManaged, waitUntilReady, type ManagedProcess } from './processes.js';

// A private containerd (Debian's containerd 1.6): its own root, state, socket and plugin
// directory under one temp dir, nothing under /var/lib, /run or /opt. It runs in a mount
// namespace of its own (`unshare --mount`), so any mount it makes (a layer applied to a
// snapshot) goes away with it, even when it is killed.

export interface RunningContainerd {
  /** The gRPC socket: `ctr --address`, `dockerd --containerd`. */
  address: string;
  /** Runs `ctr` against this containerd, with `CONTAINERD_SNAPSHOTTER=native` (no overlay mounts). */
  ctr(args: readonly string[]): Promise<CommandResult>;
  logs(): string;
  stop(): Promise<void>;
}

/** Started beside the root dir of its owner when `parentDir` is given (docker's engine), else in a new temp dir. */
export async function startContainerd(parentDir?: string): Promise<RunningContainerd> {
  const dir = parentDir === undefined ? await makeTempDir('containerd') : join(parentDir, 'containerd');
  const address = join(dir, 'containerd.sock');
  const configPath = join(dir, 'config.toml');
  await mkdir(dir, { recursive: true });
  await writeFile(configPath, config(dir, address));
  const proc = privateMountNamespace('containerd', ['--config', configPath], dir);
  const stop = async (): Promise<void> => {
    await proc.stop('SIGTERM', 10_000);
    assertNoMountsUnder(dir);
    if (parentDir === undefined) await removeTempDir(dir);
  };
  try {
    await waitUntilReady('containerd', proc, () => socketAccepts(address));
  } catch (error) {
    await stop();
    throw error;
  }
  const env = { PATH: process.env.PATH, HOME: dir, CONTAINERD_SNAPSHOTTER: 'native' };
  return {
    address,
    ctr: (args) => runCommand('ctr', ['--address', address, '--namespace', 'forgegate-e2e', ...args], { env }),
    logs: () => proc.logs(),
    stop,
  };
}

// Only what the tests use: content, images, the native snapshotter, leases. CRI (Kubernetes)
// would want CNI and cgroups, and the other snapshotters probe the host's kernel and disks.
function config(dir: string, address: string): string {
  return `version = 2
root = ${JSON.stringify(join(dir, 'root'))}
state = ${JSON.stringify(join(dir, 'state'))}
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = ${JSON.stringify(address)}

[ttrpc]
  address = ${JSON.stringify(`${address}.ttrpc`)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${JSON.stringify(join(dir, 'opt'))}
`;
}

/**
 * Starts `command` in a new mount namespace whose mounts do not propagate back: whatever it
 * mounts disappears when it exits. `unshare` execs the command, so the pid is the daemon's.
 */
export function privateMountNamespace(command: string, args: readonly string[], cwd: string): ManagedProcess {
  return spawnManaged('unshare', ['--mount', '--propagation', 'private', '--', command, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: cwd },
  });
}

export function socketAccepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Mounts in this process's namespace at or below `dir`: there must be none once a daemon has stopped. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mountPoint): mountPoint is string => mountPoint !== undefined)
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`));
}

export function assertNoMountsUnder(dir: string): void {
  const left = mountsUnder(dir);
  if (left.length > 0) throw new Error(`mounts left behind under ${dir}: ${left.join(', ')}`);
}
