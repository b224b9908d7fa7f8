import bcrypt from 'bcryptjs';
import { CommandError, promptSecret, readStdinSecret, stdinIsTerminal } from './io.js';

// `forgegate hash-password [USER]`: an htpasswd line as `htpasswd -nbB` would write it.

export const DEFAULT_COST = 10;

export async function hashPassword(user: string | undefined, cost = DEFAULT_COST): Promise<void> {
  if (user !== undefined && (user === '' || user.includes(':')))
    throw new CommandError('USER must be non-empty and contain no ":"');
  if (!Number.isInteger(cost) || cost < 4 || cost > 16)
    throw new CommandError('--cost must be an integer from 4 to 16');
  const password = stdinIsTerminal() ? await typedTwice(user) : await readStdinSecret();
  if (password === '') {
    throw new CommandError('no password on stdin (try: printf %s "$PASSWORD" | forgegate hash-password USER)');
  }
  // bcryptjs writes $2b$; Apache's htpasswd writes $2y$ for the same algorithm.
  const hash = bcrypt.hashSync(password, cost).replace(/^\$2b\$/, '$2y$');
  process.stdout.write(`${user === undefined ? '' : `${user}:`}${hash}\n`);
}

// As htpasswd does: a password typed blind is typed twice, so a typo cannot lock anyone out.
async function typedTwice(user: string | undefined): Promise<string> {
  const password = await promptSecret(`New password${user === undefined ? '' : ` for ${user}`}:`);
  if (password === '') throw new CommandError('no password given');
  const again = await promptSecret('Retype it:');
  if (again !== password) throw new CommandError('the two passwords differ; nothing written');
  return password;
}
