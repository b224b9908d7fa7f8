import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

// t.after hooks do not run when the test process exits early (process.exit,
// a crash outside a test); this still reaps every server and temp dir we made.
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Kills `child` at exit if it is still running then. */
export function reapAtExit(child: ChildProcess): void {
  live.add(child);
  child.on('exit', () => live.delete(child));
}

/** A new directory under the OS temp dir, removed at exit if removeTempDir() was never called. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `forgegate-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export interface ManagedProcess {
  readonly pid: number;
  running(): boolean;
  /** Interleaved stdout and stderr so far, for failure messages. */
  logs(): string;
  /** Sends `signal`, escalating to SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export function spawnManaged(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): ManagedProcess {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exitStatus: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on('error', (error) => {
      exitStatus ??= `failed to start: ${error.message}`;
      resolve();
    });
    child.on('exit', (code, signal) => {
      exitStatus = signal === null ? `exited with code ${code}` : `killed by ${signal}`;
      resolve();
    });
  });
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  reapAtExit(child);

  return {
    pid: child.pid ?? -1,
    running: () => exitStatus === undefined,
    logs: () => (exitStatus === undefined ? output : `${output}[${command} ${exitStatus}]\n`),
    async stop(signal = 'SIGTERM', graceMs = 5_000) {
      if (exitStatus !== undefined) return;
      child.kill(signal);
      const escalation = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(escalation);
    },
  };
}

/**
 * Polls `probe` until it returns true. Fails early, with the process log, if
 * the process dies first, and after `timeoutMs` otherwise.
 */
export async function waitUntilReady(
  what: string,
  proc: ManagedProcess,
  probe: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (proc.running()) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`${what} not ready after ${timeoutMs} ms; log:\n${proc.logs()}`);
    }
    await sleep(50);
  }
  throw new Error(`${what} stopped before it was ready; log:\n${proc.logs()}`);
}
