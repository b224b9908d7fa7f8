import { access } from 'node:fs/promises';
import { read } from 'read';

// Small helpers shared by the commands: secrets from a terminal or stdin, one-line failures.

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** All of stdin, without the one trailing newline a shell pipe or `echo` adds. */
export async function readStdinSecret(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Whether a person types at stdin: then secrets are asked for, not read from a pipe. */
export function stdinIsTerminal(): boolean {
  return process.stdin.isTTY === true;
}

/**
 * A secret typed at the terminal: the prompt goes to stderr (stdout may be redirected to a
 * file), and nothing typed is echoed. Ctrl-C cancels with the shell's usual 130.
 */
export async function promptSecret(prompt: string): Promise<string> {
  try {
    const secret = await read({ prompt, silent: true, input: process.stdin, output: process.stderr, terminal: true });
    process.stderr.write('\n'); // the Enter that was not echoed
    return secret;
  } catch (error) {
    if ((error as Error).message === 'canceled') throw new CommandError('canceled', 130);
    throw error;
  }
}

/** The first thing a new static-accounts set-up misses, said with the command that fixes it. */
export async function requireHtpasswd(path: string | null): Promise<void> {
  if (path === null) return;
  const missing = await access(path).then(
    () => false,
    (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
  );
  const create = `forgegate hash-password USER >> ${path}`;
  if (missing) throw new CommandError(`users.htpasswd ${path}: no such file; create it with: ${create}`);
}
