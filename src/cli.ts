#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { CommandError } from './commands/io.js';
import { commandUsage, findCommand, generalUsage, KEYS_SYNOPSIS, keysUsage, OPTIONS } from './commands/usage.js';
import type { CommandSpec, OptionName } from './commands/usage.js';
import { restartTuned, tuneMemory } from './commands/memory.js';
import { VERSION } from './version.js';

// The forgegate command (the table in README.md "Commands"). Every failure is one line on
// stderr (a usage mistake adds a hint) and a non-zero exit: nothing starts half-configured.

type OptionType<K extends OptionName> = (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean;
type Values = { [K in OptionName]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : OptionType<K> };

/** Which usage a mistake points at: a command's, or that of `keys` without a subcommand. */
type UsageOf = CommandSpec | 'keys' | undefined;

/** A usage mistake: exit 2, the problem on one line, then how to get the usage. */
class UsageError extends CommandError {
  constructor(problem: string, of: UsageOf) {
    const [synopsis, name] = of === 'keys' ? [KEYS_SYNOPSIS, 'keys'] : [of?.synopsis, of?.name];
    const more = `(more: forgegate help ${name})`;
    const hint =
      synopsis === undefined ? 'run "forgegate help" for the commands' : `usage: forgegate ${synopsis}   ${more}`;
    super(`${problem}\n${hint}`, 2);
  }
}

interface Invocation {
  /** undefined: `keys` without a subcommand. */
  spec: CommandSpec | undefined;
  /** Positionals after the command's own words. */
  args: string[];
  values: Values;
  /** A command was named (`forgegate --help` is the general usage, `forgegate serve --help` serve's). */
  named: boolean;
}

function parse(argv: string[]): Invocation {
  // Not strict: Node's parser would explain a mistake in its own words; these are ours.
  const parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: false, tokens: true });
  const words = parsed.positionals.length === 0 ? ['serve'] : parsed.positionals;
  const spec = words[0] === 'keys' && words.length === 1 ? undefined : findCommand(words);
  if (spec === undefined && words[0] !== 'keys') throw new UsageError(`unknown command "${words[0]}"`, undefined);
  if (spec === undefined && words.length > 1) throw new UsageError(`unknown command "keys ${words[1]}"`, 'keys');
  checkOptions(parsed.tokens, spec);
  const args = spec === undefined ? [] : words.slice(spec.name.split(' ').length);
  if (spec !== undefined && args.length > spec.maxArguments) {
    const problem =
      spec.maxArguments === 0
        ? `"forgegate ${spec.name}" takes no argument (got "${args[0]}")`
        : `too many arguments for "forgegate ${spec.name}"`;
    throw new UsageError(problem, spec);
  }
  return { spec, args, values: parsed.values as Values, named: parsed.positionals.length > 0 };
}

type Token = ReturnType<typeof parseArgs>['tokens'] extends (infer T)[] | undefined ? T : never;

/** Every option given must be one this command takes, with a value exactly when it needs one. */
function checkOptions(tokens: readonly Token[], spec: CommandSpec | undefined): void {
  const allowed = new Set<string>([...(spec?.options ?? ['config']), 'help', 'version']);
  const of: UsageOf = spec ?? 'keys';
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = OPTIONS[token.name as OptionName] as { type: string } | undefined;
    if (option === undefined || !allowed.has(token.name)) {
      throw new UsageError(`unknown option ${token.rawName} for "forgegate ${spec?.name ?? 'keys'}"`, of);
    }
    if (option.type === 'string' && token.value === undefined) {
      throw new UsageError(`${token.rawName} needs a value`, of);
    }
    if (option.type === 'boolean' && token.inlineValue) throw new UsageError(`${token.rawName} takes no value`, of);
  }
}

async function main(argv: string[]): Promise<void> {
  const { spec, args, values, named } = parse(argv);
  if (values.version) return void process.stdout.write(VERSION + '\n');
  if (values.help) return void process.stdout.write((named ? usageOf(spec) : generalUsage()) + '\n');
  if (spec === undefined) {
    throw new UsageError('"forgegate keys" needs one of generate, show, rotate, promote, prune', 'keys');
  }

  // Each command loads only its own modules: `--help` or hash-password need no server code.
  const config = async () => (await import('./config/load.js')).loadConfig(values.config);
  const keys = () => import('./commands/keys.js');
  switch (spec.name) {
    case 'serve': {
      const loaded = await config();
      restartTuned(loaded.config.server); // returns only where it does not restart
      tuneMemory(loaded.config.server); // before the server's modules load
      return void (await (await import('./commands/serve.js')).serve(loaded, undefined, true));
    }
    case 'keys generate':
      return (await keys()).keysGenerate((await config()).config, values.force ?? false);
    case 'keys show':
      return (await keys()).keysShow((await config()).config);
    case 'keys rotate':
      return (await keys()).keysRotate((await config()).config);
    case 'keys promote':
      return (await keys()).keysPromote((await config()).config);
    case 'keys prune':
      return (await keys()).keysPrune((await config()).config);
    case 'hash-password': {
      const { hashPassword } = await import('./commands/hash-password.js');
      return hashPassword(args[0], values.cost === undefined ? undefined : Number(values.cost));
    }
    case 'check':
      return (await import('./commands/check.js')).check(await config(), values.offline ?? false);
    case 'explain': {
      const { explain } = await import('./commands/explain.js');
      return explain((await config()).config, values.user, values.scope ?? [], values.json ?? false);
    }
    case 'help':
      return void process.stdout.write(helpFor(args) + '\n');
    default:
      throw new CommandError(`command "${spec.name}" is listed but not wired`);
  }
}

function usageOf(spec: CommandSpec | undefined): string {
  return spec === undefined ? keysUsage() : commandUsage(spec);
}

/** `forgegate help [COMMAND [SUBCOMMAND]]`. */
function helpFor(words: string[]): string {
  if (words.length === 0) return generalUsage();
  if (words[0] === 'keys' && words.length === 1) return keysUsage();
  const spec = findCommand(words);
  if (spec === undefined || spec.name.split(' ').length !== words.length) {
    throw new UsageError(`no command "${words.join(' ')}"`, undefined);
  }
  return commandUsage(spec);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const message = (error as Error).message;
  if (message) process.stderr.write(`forgegate: ${message}\n`);
  if (process.env.FORGEGATE_DEBUG && !(error instanceof CommandError))
    process.stderr.write(`${(error as Error).stack}\n`);
  process.exitCode = error instanceof CommandError ? error.exitCode : 1;
});
