import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CommandResult } from './command.js';

// The built forgegate command (`node dist/cli.js ...`) as an operator types it: its exit code and
// both outputs, never a throw.

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface CliOptions {
  /** Piped in and closed, as `echo "$TOKEN" |` would. */
  stdin?: string;
  cwd?: string;
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export function forgegateCli(args: string[], options: CliOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const { cwd, timeoutMs = 20_000 } = options;
    const env = { ...process.env, ...options.env };
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env, timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.stdin.end(options.stdin ?? '');
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
