import { resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { ForgeConfig } from '../config/schema.js';
import type { RunningServer } from '../http/server.js';
import type { RegistrySettings } from '../http/status/facts.js';
import type { Runtime } from '../runtime.js';
import { VERSION } from '../version.js';

// What `serve` prints on stderr at start, for the person who started it: what it serves (the
// configuration, each forge, static accounts, the key directory), the registry settings that
// match, and, when it runs on built-in defaults, what to do next.

const FROM_HERE = '   # from this machine; set server.publicUrl for clients elsewhere';

type Listening = Pick<RunningServer, 'address'>;

export function banner(loaded: LoadedConfig, runtime: Runtime, server: Listening, settings: RegistrySettings): string {
  const { key, config } = runtime;
  const guessed = config.server.publicUrl === null ? FROM_HERE : '';
  const rules = `${config.acl.length} acl rule${config.acl.length === 1 ? '' : 's'}`;
  const { htpasswd } = config.users;
  const accounts = htpasswd === null ? 'none (users.htpasswd is not set)' : `${htpasswd}, ${rules}`;
  const lines = [
    `forgegate ${VERSION} listening on ${server.address.host}:${server.address.port}`,
    `configuration: ${loaded.file ?? 'built-in defaults (no --config FILE and no $FORGEGATE_CONFIG)'}`,
    ...(config.forges.length === 0 ? ['forges: none, static accounts only'] : config.forges.flatMap(forgeLines)),
    `static accounts: ${accounts}`,
    ...(config.oidc.length === 0 ? [] : [`CI ID tokens (OIDC) from: ${config.oidc.map((o) => o.issuer).join(', ')}`]),
    `signing key: ${key.algorithm}, kid ${key.kid}, ${runtime.keyGenerated ? 'generated now' : 'read'}`,
    `  in ${resolve(config.token.keyDir)}, certificate valid until ${key.notAfter.toISOString().slice(0, 10)}`,
    'registry configuration that matches (config.yml of distribution):',
    'auth:',
    '  token:',
    `    realm: ${settings.realm}${guessed}`,
    `    service: ${settings.service}`,
    `    issuer: ${settings.issuer}`,
    `    rootcertbundle: ${settings.rootcertbundle}`,
    ...runtime.forges.flatMap((forge) => forge.notices().map((notice) => `note: forge ${forge.name}: ${notice}`)),
  ];
  if (loaded.file === null) lines.push(...nextSteps(config.forges));
  return lines.join('\n') + '\n';
}

const FORGE_WORDS = {
  gitlab: { title: 'GitLab', images: 'group/project[/name]', image: 'group/project/app' },
  github: { title: 'GitHub', images: 'owner/repository[/name]', image: 'owner/repository/app' },
} as const;

function forgeLines(forge: ForgeConfig): string[] {
  const { title, images } = FORGE_WORDS[forge.type];
  const lines = [`forge ${forge.name}: ${title} at ${forge.url}, for images ${forge.prefix}${images}`];
  // GitLab answers registry settings only to authenticated API calls: without a service
  // token, anonymousPull (true by default) cannot serve anything. Say so rather than let a
  // public pull fail later with a reason nobody reads at start.
  if (forge.type === 'gitlab' && forge.serviceToken === null) {
    const anonymous = forge.anonymousPull ? 'anonymous pulls are refused, and ' : '';
    lines.push(
      `  no serviceToken: ${anonymous}tokens need the read_api or api scope;`,
      '  set forges[].serviceToken (a read_api token of a bot) for public pulls and read_registry tokens',
    );
  }
  return lines;
}

function nextSteps(forges: readonly ForgeConfig[]): string[] {
  const forge = forges[0] === undefined ? undefined : FORGE_WORDS[forges[0].type];
  const login =
    forge === undefined
      ? '  2. docker login REGISTRY -u USER (a static account of users.htpasswd)'
      : `  2. docker login REGISTRY -u anything -p <a ${forge.title} token>, then push REGISTRY/${forge.image}`;
  return [
    'next steps:',
    '  1. give a registry the auth.token settings above and restart it (rootcertbundle: the cert.pem above)',
    login,
    '  3. your own configuration: config/forgegate.example.yaml has every key;',
    '     "forgegate check --config FILE" tests it',
    '  "forgegate help" lists the commands; README.md "Try it locally" runs all of this on one machine',
  ];
}
