import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { LoadedConfig } from '../config/load.js';
import type { Config, ForgeConfig } from '../config/schema.js';
import { HtpasswdFile } from '../credentials/htpasswd.js';
import { ForgeRefusal } from '../forges/forge.js';
import { GitLabApi } from '../forges/gitlab/api.js';
import { consequence, protectionNotices } from '../forges/gitlab/protection.js';
import { OidcIssuer } from '../oidc/issuer.js';
import { keyFiles, loadKey } from '../token/keys.js';
import { certificateDaysLeft } from '../runtime.js';
import { CommandError, requireHtpasswd } from './io.js';

// `forgegate check`: everything serve needs, checked in order, stopping at the first
// problem with a message that says what to fix. It changes nothing (no key is generated).
// `offline` checks only what is on this machine (configuration, key, htpasswd): for config
// files written before their Redis and forges exist, as in CI or an image build.

export async function check(loaded: LoadedConfig, offline = false): Promise<void> {
  const { config } = loaded;
  ok(`configuration ${loaded.file ?? '(built-in defaults)'} is valid`);
  await checkKey(config);
  if (config.users.htpasswd !== null) {
    await requireHtpasswd(config.users.htpasswd);
    await HtpasswdFile.load(config.users.htpasswd);
    ok(`htpasswd ${config.users.htpasswd} is readable and every line is bcrypt`);
  }
  if (offline) {
    ok(`offline: Redis, ${config.forges.length} forge(s) and ${config.oidc.length} OIDC issuer(s) not contacted`);
  } else {
    if (config.cache.redisUrl !== null) await checkRedis(config.cache.redisUrl);
    for (const forge of config.forges) await checkForge(forge);
    for (const issuer of config.oidc) await checkOidcIssuer(new OidcIssuer(issuer));
  }
  ok('all checks passed');
}

async function checkKey(config: Config): Promise<void> {
  const files = keyFiles(config.token.keyDir);
  if (
    !(await access(files.key).then(
      () => true,
      () => false,
    ))
  ) {
    await checkKeyDirWritable(config.token.keyDir);
    ok(`no signing key yet in ${resolve(config.token.keyDir)}: serve will generate one`);
    return;
  }
  let key;
  try {
    key = await loadKey(config.token.keyDir, config.token.algorithm);
  } catch (error) {
    throw new CommandError(`keys: ${(error as Error).message}`);
  }
  const days = certificateDaysLeft(key);
  if (days < 0 && config.token.header === 'x5c')
    throw new CommandError(`keys: certificate ${files.certificate} has expired; run "forgegate keys generate --force"`);
  ok(`signing key ${key.algorithm} kid ${key.kid}, certificate valid for ${days} more days`);
}

// Without a key, serve creates token.keyDir and writes one: the directory (or the nearest
// existing ancestor) must be a writable directory, or serve would fail where check passed.
async function checkKeyDirWritable(keyDir: string): Promise<void> {
  const unusable = (why: string) => new CommandError(`keys: token.keyDir ${resolve(keyDir)} cannot hold a key: ${why}`);
  let dir = resolve(keyDir);
  for (;;) {
    const found = await stat(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return null;
      throw unusable(`${dir}: ${error.code ?? error.message}`);
    });
    if (found !== null) {
      if (!found.isDirectory()) throw unusable(`${dir} is not a directory`);
      await access(dir, constants.W_OK | constants.X_OK).catch(() => {
        throw unusable(
          `${dir} is not writable by this user; fix the permissions, or run "forgegate keys generate" as its owner`,
        );
      });
      return;
    }
    dir = dirname(dir);
  }
}

async function checkRedis(url: string): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {}); // reported through the rejected command below
  try {
    await redis.connect();
    await redis.ping();
    ok(`redis ${redactUrl(url)} answers`);
  } catch (error) {
    throw new CommandError(`redis ${redactUrl(url)}: ${(error as Error).message}`);
  } finally {
    redis.disconnect();
  }
}

async function checkForge(forge: ForgeConfig): Promise<void> {
  const probe = forge.type === 'gitlab' ? `${forge.url.replace(/\/+$/, '')}/api/v4/version` : forge.url;
  let response: Response;
  try {
    response = await fetch(probe, { signal: AbortSignal.timeout(forge.timeout * 1000), redirect: 'manual' });
    await response.body?.cancel();
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new CommandError(`forge ${forge.name} (${forge.type}) at ${forge.url} is unreachable: ${cause}`);
  }
  const location = response.headers.get('location');
  // GitLab's calls go where the url says, never where a redirect points (forges/transport.ts).
  if (forge.type === 'gitlab' && response.status >= 300 && response.status < 400 && location !== null)
    throw new CommandError(
      `forge ${forge.name} (gitlab) at ${forge.url} redirects to ${location} (HTTP ${response.status}): forgegate does not follow redirects, so set url to where GitLab answers`,
    );
  ok(`forge ${forge.name} (${forge.type}) at ${forge.url} answers (HTTP ${response.status})`);
  if (forge.type === 'gitlab' && forge.serviceToken !== null) await checkGitLabServiceToken(forge, forge.serviceToken);
  if (forge.type === 'gitlab') await checkProtectionRules(forge);
}

// Protected container repositories: where forgegate cannot read them, they are not enforced
// (best-effort) or writes are refused (strict). Worth knowing, never a failed check.
async function checkProtectionRules(forge: ForgeConfig): Promise<void> {
  const where = `forge ${forge.name}`;
  const otherwise = consequence(forge.protectedRepositories);
  for (const notice of protectionNotices(forge)) note(`${where}: ${notice}`);
  if (forge.serviceToken === null) return;
  const api = new GitLabApi(forge.name, forge.url, forge.timeout);
  try {
    const version = await api.version(forge.serviceToken);
    const [major = 0, minor = 0] = version.split(/[.-]/).map(Number);
    if (major < 17 || (major === 17 && minor < 9)) {
      note(`${where}: GitLab ${version} has no API for protection rules (17.9 or later): ${otherwise}`);
      return;
    }
    const user = await api.currentUser(forge.serviceToken);
    if (user.is_admin === true) {
      ok(`${where}: GitLab ${version}; the serviceToken (an admin) reads the protection rules of every project`);
    } else {
      const only = `the serviceToken reads protection rules only where ${user.username} is Maintainer or above`;
      note(`${where}: GitLab ${version}; ${only}; elsewhere, for callers below Maintainer, ${otherwise}`);
    }
  } catch (error) {
    const why = error instanceof ForgeRefusal ? `HTTP ${error.httpStatus}` : (error as Error).message;
    note(`${where}: could not tell whether protection rules can be read (${why})`);
  }
}

// A service token that cannot read projects fails every lookup made for it: say so now.
async function checkGitLabServiceToken(forge: ForgeConfig, token: string): Promise<void> {
  const where = `forge ${forge.name}: serviceToken`;
  try {
    const self = await new GitLabApi(forge.name, forge.url, forge.timeout).tokenSelf(token);
    if (!self.active || self.revoked) throw new CommandError(`${where} is revoked or expired`);
    if (!self.scopes.some((scope) => scope === 'read_api' || scope === 'api')) {
      throw new CommandError(`${where} has scopes [${self.scopes.join(', ')}]; it needs read_api (or api)`);
    }
    ok(`${where} is active with scopes [${self.scopes.join(', ')}]`);
  } catch (error) {
    if (error instanceof ForgeRefusal)
      throw new CommandError(`${where} was refused by GitLab (HTTP ${error.httpStatus})`);
    if (error instanceof CommandError) throw error;
    throw new CommandError(`${where}: ${(error as Error).message}`);
  }
  await checkAdminMode(forge, token);
}

// GitLab's Admin Mode setting is readable only with admin powers: compared with adminMode when
// the service token has them, taken as configured otherwise (forgegate never needs to read it).
async function checkAdminMode(forge: ForgeConfig, token: string): Promise<void> {
  const where = `forge ${forge.name}: adminMode`;
  let enforced: boolean | undefined;
  try {
    enforced = (await new GitLabApi(forge.name, forge.url, forge.timeout).applicationSettings(token)).admin_mode;
  } catch (error) {
    if (!(error instanceof ForgeRefusal)) throw new CommandError(`${where}: ${(error as Error).message}`);
  }
  if (enforced === undefined) {
    ok(`${where} is ${forge.adminMode} as configured (reading GitLab's own setting takes an admin's token)`);
  } else if (enforced && !forge.adminMode) {
    throw new CommandError(
      `${where} is false, but GitLab enforces Admin Mode: admins' tokens without the admin_mode scope would act as ` +
        'admins; set adminMode: true',
    );
  } else if (!enforced && forge.adminMode) {
    const hint = 'adminMode: false lets them act as admins';
    ok(`${where} is true and GitLab's Admin Mode is off: admins' tokens act by their role (${hint})`);
  } else {
    ok(`${where} is ${forge.adminMode}, as GitLab's Admin Mode`);
  }
}

// An issuer whose keys cannot be fetched refuses every job's token: say so now.
async function checkOidcIssuer(issuer: OidcIssuer): Promise<void> {
  try {
    const { url, keys } = await issuer.probe();
    if (keys === 0) throw new CommandError(`oidc ${issuer.name}: the JWKS at ${url} holds no keys`);
    ok(`oidc ${issuer.name} (${issuer.config.issuer}): ${keys} key${keys === 1 ? '' : 's'} at ${url}`);
  } catch (error) {
    if (error instanceof CommandError) throw error;
    throw new CommandError((error as Error).message);
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

function ok(message: string): void {
  process.stdout.write(`ok: ${message}\n`);
}

function note(message: string): void {
  process.stdout.write(`note: ${message}\n`);
}
