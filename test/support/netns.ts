import { spawnSync } from 'node:child_process';

// A private network namespace (loopback only) for commands that listen on fixed ports, such as
// forgegate on its built-in defaults (0.0.0.0:5001) or README's "Try it locally" path: nothing
// else on this machine can hold their ports, and they reach nothing but themselves.

let available: boolean | undefined;

/** Whether `unshare -n` works here (root, or user namespaces allowed). */
export function ownNetworkAvailable(): boolean {
  available ??= spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' }).status === 0;
  return available;
}

/** [command, args] that run `command args...` in a new network namespace with loopback up. */
export function inOwnNetwork(command: string, args: readonly string[]): [string, string[]] {
  return ['unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', command, ...args]];
}
