#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { CommandError } from './commands/io.js';
import { tuneMemory } from './commands/memory.js';
import { loadConfig } from './config/load.js';
import { VERSION } from './version.js';

// The forgegate command (interface.md "Commands"). Every failure is one line on stderr
// and a non-zero exit: nothing starts half-configured. Each command's modules load when it
// runs: a server does not carry the key-generation, check or explain code in its memory.

const USAGE = `usage: forgegate [command] [options]
  serve [--config FILE]                          run the token server (the default)
  keys generate [--config FILE] [--force]        create the signing key and certificate
  keys show [--config FILE]                      print {kid, thumbprint, algorithm, certificate, jwks}
  keys rotate [--config FILE]                    stage and publish a next key (signs nothing yet)
  keys promote [--config FILE]                   sign with the next key; the former one stays published
  keys prune [--config FILE]                     stop publishing retired keys whose tokens have expired
  hash-password [USER] [--cost N]                read a password on stdin, print an htpasswd line
  check [--config FILE] [--offline]              validate the configuration and reach every backend
                                                 (--offline: skip Redis and the forges)
  explain --config FILE [--user U] --scope S...  read the password on stdin; print each decision and why
  --version, --help`;

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      force: { type: 'boolean' },
      offline: { type: 'boolean' },
      user: { type: 'string', short: 'u' },
      scope: { type: 'string', short: 's', multiple: true },
      json: { type: 'boolean' },
      cost: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help) return void process.stdout.write(USAGE + '\n');
  if (values.version) return void process.stdout.write(VERSION + '\n');

  const [command = 'serve', sub, ...rest] = positionals;
  const config = () => loadConfig(values.config);
  switch (command) {
    case 'serve': {
      const loaded = await config();
      tuneMemory(loaded.config.server); // before the server's modules load
      return void (await (await import('./commands/serve.js')).serve(loaded, undefined, true));
    }
    case 'keys': {
      const keys = await import('./commands/keys.js');
      if (sub === 'generate') return keys.keysGenerate((await config()).config, values.force ?? false);
      if (sub === 'show') return keys.keysShow((await config()).config);
      if (sub === 'rotate') return keys.keysRotate((await config()).config);
      if (sub === 'promote') return keys.keysPromote((await config()).config);
      if (sub === 'prune') return keys.keysPrune((await config()).config);
      throw new CommandError('keys takes "generate", "show", "rotate", "promote" or "prune"', 2);
    }
    case 'hash-password':
      if (rest.length > 0) throw new CommandError('hash-password takes at most one USER', 2);
      return (await import('./commands/hash-password.js')).hashPassword(sub, values.cost === undefined ? undefined : Number(values.cost));
    case 'check':
      return (await import('./commands/check.js')).check(await config(), values.offline ?? false);
    case 'explain':
      return (await import('./commands/explain.js')).explain((await config()).config, values.user, values.scope ?? [], values.json ?? false);
    default:
      throw new CommandError(`unknown command "${command}"\n${USAGE}`, 2);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const message = (error as Error).message;
  const usage = (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  if (message) process.stderr.write(`forgegate: ${message}${usage ? `\n${USAGE}` : ''}\n`);
  if (process.env.FORGEGATE_DEBUG && !(error instanceof CommandError)) process.stderr.write(`${(error as Error).stack}\n`);
  process.exitCode = error instanceof CommandError ? error.exitCode : usage ? 2 : 1;
});
