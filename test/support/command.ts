import { execFile } from 'node:child_process';
import { reapAtExit } from './processes.js';

// One run of a command-line client (docker, ctr): its exit code and both outputs, never a throw,
// so that a test can assert on a refusal's message as readily as on a success.

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  env: NodeJS.ProcessEnv;
  /** Written to the command's standard input, which is closed afterwards. */
  input?: string | Buffer;
  timeoutMs?: number;
}

export function runCommand(command: string, args: readonly string[], options: CommandOptions): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      { env: options.env, timeout: options.timeoutMs ?? 120_000, killSignal: 'SIGKILL', maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error === null) resolve({ code: 0, stdout, stderr });
        else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr });
        // Killed by the timeout, or not started at all.
        else resolve({ code: -1, stdout, stderr: `${stderr}\n[${command} ${args.join(' ')}: ${error.message}]` });
      },
    );
    child.stdin?.end(options.input ?? '');
    reapAtExit(child);
  });
}

/** For assertion messages: the command's own words. */
export function describeRun(result: CommandResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}
