import bcrypt from 'bcryptjs';
import { CommandError, readStdinSecret } from './io.js';

// `forgegate hash-password [USER]`: an htpasswd line as `htpasswd -nbB` would write it.

export const DEFAULT_COST = 10;

export async function hashPassword(user: string | undefined, cost = DEFAULT_COST): Promise<void> {
  if (user !== undefined && (user === '' || user.includes(':'))) throw new CommandError('USER must be non-empty and contain no ":"');
  if (!Number.isInteger(cost) || cost < 4 || cost > 16) throw new CommandError('--cost must be an integer from 4 to 16');
  const password = await readStdinSecret();
  if (password === '') throw new CommandError('no password on stdin (try: echo -n "$PASSWORD" | forgegate hash-password USER)');
  // bcryptjs writes $2b$; Apache's htpasswd writes $2y$ for the same algorithm.
  const hash = bcrypt.hashSync(password, cost).replace(/^\$2b\$/, '$2y$');
  process.stdout.write(`${user === undefined ? '' : `${user}:`}${hash}\n`);
}
