// What each command is called with and what `forgegate help COMMAND` says about it. The
// parser in cli.ts accepts exactly the options listed here, per command.

export const OPTIONS = {
  config: { type: 'string', short: 'c' },
  force: { type: 'boolean' },
  offline: { type: 'boolean' },
  user: { type: 'string', short: 'u' },
  scope: { type: 'string', short: 's', multiple: true },
  json: { type: 'boolean' },
  cost: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

export type OptionName = keyof typeof OPTIONS;

export interface CommandSpec {
  /** As typed after `forgegate`: "serve", "keys rotate". */
  name: string;
  synopsis: string;
  summary: string;
  /** Paragraphs after the synopsis. */
  details: string;
  options: readonly OptionName[];
  /** How many positionals after the command's name (USER for hash-password). */
  maxArguments: number;
}

const CONFIG = '  -c, --config FILE   the configuration; default: $FORGEGATE_CONFIG, else the built-in defaults';

function keys(verb: string, synopsis: string, summary: string, details: string, options: OptionName[] = ['config']) {
  const name = `keys ${verb}`;
  const spec: CommandSpec = { name, synopsis: `${name} ${synopsis}`, summary, details, options, maxArguments: 0 };
  return spec;
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'serve',
    synopsis: 'serve [--config FILE]',
    summary: 'run the token server (the default command)',
    details: `Runs the token server. Without --config and $FORGEGATE_CONFIG it uses the built-in
defaults: the forge gitlab.com, port 5001, keys in ./data/keys (generated on first start).
At start it prints what it serves and the auth.token settings for the registry's config.yml.
SIGTERM or Ctrl-C stops it gracefully.

options:
${CONFIG}`,
    options: ['config'],
    maxArguments: 0,
  },
  keys(
    'generate',
    '[--config FILE] [--force]',
    'create the signing key and its self-signed certificate in token.keyDir',
    `Writes key.pem (mode 0600), cert.pem (the registry's rootcertbundle) and jwks.json into
token.keyDir, then prints what "keys show" prints. serve does this by itself when the key is missing.

options:
${CONFIG}
      --force         replace an existing key (every token and refresh token it signed stops working)`,
    ['config', 'force'],
  ),
  keys(
    'show',
    '[--config FILE]',
    'print {kid, thumbprint, algorithm, certificate, jwks, ...} as JSON',
    `Prints, as JSON, the current key (kid, thumbprint, algorithm, certificate), the published key
set (jwks), any staged or retired keys, and the paths of cert.pem and jwks.json.

options:
${CONFIG}`,
  ),
  keys(
    'rotate',
    '[--config FILE]',
    'stage and publish a next key (it signs nothing yet)',
    `First step of a rotation without downtime (docs/key-rotation.md): the next key goes to
next/ and into cert.pem and jwks.json. Restart the registries on the new files, then "keys promote".

options:
${CONFIG}`,
  ),
  keys(
    'promote',
    '[--config FILE]',
    'sign with the next key; the former one stays published',
    `Second step of a rotation: running servers switch to the staged key within seconds; the
former key moves to retired/ and stays published until its tokens have expired.

options:
${CONFIG}`,
  ),
  keys(
    'prune',
    '[--config FILE]',
    'stop publishing retired keys whose tokens have expired',
    `Last step of a rotation: rewrites cert.pem and jwks.json without the retired keys past
their publishUntil date, and deletes those past keepUntil.

options:
${CONFIG}`,
  ),
  {
    name: 'hash-password',
    synopsis: 'hash-password [USER] [--cost N]',
    summary: 'print an htpasswd line (bcrypt) for a password',
    details: `Prints "USER:$2y$..." (or the hash alone without USER), the line users.htpasswd needs.
On a terminal it asks for the password twice without echoing it; otherwise it reads the
password from stdin (one trailing newline is dropped):

  forgegate hash-password ci-bot >> data/htpasswd
  printf %s "$PASSWORD" | forgegate hash-password ci-bot >> data/htpasswd

options:
      --cost N        bcrypt cost, 4 to 16 (default 10)`,
    options: ['cost'],
    maxArguments: 1,
  },
  {
    name: 'check',
    synopsis: 'check [--config FILE] [--offline]',
    summary: 'validate the configuration and reach every backend',
    details: `Checks, in order, what serve needs: the configuration, the signing key (or that
token.keyDir can hold one), the htpasswd file, Redis, every forge (and its serviceToken) and
every OIDC issuer. Prints one "ok:" line per check; exits 1 on the first problem.

options:
${CONFIG}
      --offline       check only the files on this machine: skip Redis, forges and issuers`,
    options: ['config', 'offline'],
    maxArguments: 0,
  },
  {
    name: 'explain',
    synopsis: 'explain [--config FILE] [--user U] --scope S [--scope S...] [--json]',
    summary: 'print each decision the token endpoint would make, and why',
    details: `Authenticates like the token endpoint and prints every requested action, granted or
denied, with its reason. With --user it asks for the password or token on a terminal (not
echoed), or reads it from stdin; without --user on a terminal the caller is anonymous. A forge
token needs no real username: --user oauth2 will do.

  forgegate explain --config config/static.yaml --user ci-bot --scope repository:team/app:pull,push
  printf %s "$TOKEN" | forgegate explain --config gitlab.yaml --scope repository:group/proj:push

options:
${CONFIG}
  -u, --user U        the username (docker login -u)
  -s, --scope S       a scope such as repository:group/project:pull,push (repeatable)
      --json          print the decisions as JSON`,
    options: ['config', 'user', 'scope', 'json'],
    maxArguments: 0,
  },
  {
    name: 'help',
    synopsis: 'help [COMMAND]',
    summary: 'print this list, or the usage of one command',
    details: '',
    options: [],
    maxArguments: 2,
  },
];

const SYNOPSIS_WIDTH = 42;

function synopsisColumn(synopsis: string): string {
  if (synopsis.length < SYNOPSIS_WIDTH) return synopsis.padEnd(SYNOPSIS_WIDTH);
  return `${synopsis}\n  ${' '.repeat(SYNOPSIS_WIDTH)}`;
}

/** The general usage: every command and what it does. */
export function generalUsage(): string {
  return [
    'usage: forgegate [COMMAND] [OPTIONS]',
    '',
    // A synopsis too long for the column gets its summary on the next line.
    ...COMMANDS.map((c) => `  ${synopsisColumn(c.synopsis)}${c.summary}`),
    '',
    `  ${'--version'.padEnd(SYNOPSIS_WIDTH)}print the version`,
    `  ${'--help'.padEnd(SYNOPSIS_WIDTH)}this list; "forgegate help COMMAND" (or COMMAND --help) for one`,
    '',
    'Documentation: README.md and docs/ in the forgegate repository.',
  ].join('\n');
}

export function commandUsage(spec: CommandSpec): string {
  if (spec.name === 'help') return generalUsage();
  return [`usage: forgegate ${spec.synopsis}`, '', spec.details].join('\n');
}

export const KEYS_SYNOPSIS = 'keys generate|show|rotate|promote|prune [--config FILE]';

/** The usage of `keys` without a subcommand: its five steps. */
export function keysUsage(): string {
  const subcommands = COMMANDS.filter((c) => c.name.startsWith('keys '));
  const width = Math.max(...subcommands.map((c) => c.synopsis.length)) + 2;
  return [
    `usage: forgegate ${KEYS_SYNOPSIS}`,
    '',
    ...subcommands.map((c) => `  ${c.synopsis.padEnd(width)}${c.summary}`),
    '',
    'Rotation without downtime: docs/key-rotation.md. "forgegate help keys rotate" for one of them.',
  ].join('\n');
}

export function findCommand(words: readonly string[]): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === words.slice(0, c.name.split(' ').length).join(' '));
}
