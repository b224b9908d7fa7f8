import { createSecretKey, type KeyObject } from 'node:crypto';
import { Authority } from './authority.js';
import { CachedForge, type CacheObserver } from './forges/cached-forge.js';
import type { RedisLevel } from './cache/redis.js';
import { TieredCache } from './cache/tiered.js';
import type { Config } from './config/schema.js';
import { HtpasswdFile } from './credentials/htpasswd.js';
import type { CacheableForge, ForgeCallObserver } from './forges/forge.js';
import { ForgeHealth, observeAll } from './forges/health.js';
import { ForgeRouter } from './forges/router.js';
import { StaticAccounts } from './credentials/static.js';
import type { Logger } from './log.js';
import { Acl } from './policy/acl.js';
import { OidcAuthenticator } from './oidc/authenticator.js';
import { KeyRing, KeySet, loadKeySet } from './token/keyring.js';
import { createKeyMaterial, keyFiles, keyFromPem, loadOrGenerateKey, type SigningKey } from './token/keys.js';
import { RefreshTokens } from './token/refresh.js';
import { deriveSecret } from './token/secrets.js';
import { TokenSigner } from './token/signer.js';

// Builds the parts of a running forgegate from a validated configuration. serve, explain
// and the tests assemble the same graph here, so none of them wires it differently.

export interface Runtime {
  config: Config;
  /** The current signing key (changes when a promote is picked up). */
  readonly key: SigningKey;
  /** Every key of token.keyDir: current, staged, retired; reloaded when the directory changes. */
  keys: KeyRing;
  keyGenerated: boolean;
  authority: Authority;
  forges: CachedForge[];
  redis: RedisLevel | null;
  /** The last call each forge answered, for the status page. */
  forgeHealth: ForgeHealth;
  /** forgegate's own accounts (htpasswd), which the brute-force guard counts per account. */
  staticAccounts: StaticAccounts;
  /** Keys digests of credentials (cache keys, ban counters): a Redis reader cannot test guesses. */
  credentialSecret: KeyObject;
  /** Releases connections (Redis) so the process can exit. */
  close(): Promise<void>;
}

export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * `generate` (serve): create the key on first start. `ephemeral` (explain): a command that
 * signs nothing must not leave key files behind, possibly owned by the wrong user.
 */
export type KeyMode = 'generate' | 'ephemeral';

export interface Observers {
  cache?: CacheObserver;
  forgeCalls?: ForgeCallObserver;
}

export async function buildRuntime(
  config: Config,
  logger: Logger,
  keyMode: KeyMode = 'generate',
  observers: Observers = {},
): Promise<Runtime> {
  const { set, generated } = keyMode === 'generate' ? await loadOrGenerate(config) : await loadOrEphemeral(config);
  const keys = new KeyRing(set, config.token.algorithm, (event) => {
    if ('error' in event)
      logger.error({ err: event.error }, 'signing keys changed but do not load; still using the previous ones');
    else
      logger.info(
        event,
        event.kid === event.previousKid ? 'published signing keys reloaded' : 'signing key switched (promote)',
      );
  });
  const key = set.current;
  if (config.token.header === 'x5c' && key.notAfter.getTime() <= Date.now()) {
    throw new StartupError(
      `certificate ${key.files.certificate} expired on ${key.notAfter.toISOString()}; registries reject x5c tokens signed under it. Run "forgegate keys generate --force" and give the registry the new certificate`,
    );
  }
  const htpasswd =
    config.users.htpasswd === null
      ? null
      : await HtpasswdFile.load(config.users.htpasswd, (error) =>
          logger.error({ err: error.message }, 'htpasswd reload failed; keeping the previous content'),
        );

  // ioredis and each forge's client library load only when configured (see createForge).
  const redisModule = config.cache.redisUrl === null ? null : await import('./cache/redis.js');
  const redis =
    redisModule === null ? null : new redisModule.RedisLevel(config.cache.redisUrl!, config.cache.keyPrefix, logger);
  const cache = new TieredCache(redis);
  const credentialSecret = createSecretKey(deriveSecret(key.privateKey, 'credential-hmac'));
  const forgeHealth = new ForgeHealth();
  const forgeCalls = observeAll(observers.forgeCalls, forgeHealth);
  const inner = await Promise.all(config.forges.map((forge) => createForge(forge, forgeCalls)));
  const forges = inner.map(
    (forge) => new CachedForge(forge, cache, credentialSecret, config.cache, logger, observers.cache),
  );

  const staticAccounts = new StaticAccounts(htpasswd, credentialSecret, config.cache.identityTtl);
  const authority = new Authority({
    service: config.token.service,
    staticAccounts,
    acl: new Acl(config.acl),
    router: new ForgeRouter(forges),
    signer: new TokenSigner(keys, { issuer: config.token.issuer, ttl: config.token.ttl, header: config.token.header }),
    refreshTokens: new RefreshTokens(() => keys.keys.refreshSecrets(), config.token.refreshTtl),
    oidc: new OidcAuthenticator(config.oidc, config.forges),
  });
  if (keyMode === 'generate') keys.watch(); // last: a failed start leaves no watcher behind
  const close = async () => {
    keys.close();
    cache.close();
    await redis?.close();
  };
  return {
    config,
    get key() {
      return keys.current;
    },
    keys,
    keyGenerated: generated,
    authority,
    forges,
    redis,
    forgeHealth,
    staticAccounts,
    credentialSecret,
    close,
  };
}

/** Loads a forge's module (and its client library, gitbeaker or Octokit) only for a forge configured. */
async function createForge(config: Config['forges'][number], observer?: ForgeCallObserver): Promise<CacheableForge> {
  if (config.type === 'gitlab') return new (await import('./forges/gitlab/forge.js')).GitLabForge(config, observer);
  return new (await import('./forges/github/forge.js')).GitHubForge(config, observer);
}

/** Days until the signing certificate expires (negative once it has). */
export function certificateDaysLeft(key: SigningKey, now = Date.now()): number {
  return Math.floor((key.notAfter.getTime() - now) / 86_400_000);
}

async function loadOrGenerate(config: Config): Promise<{ set: KeySet; generated: boolean }> {
  const { generated } = await loadOrGenerateKey(config.token.keyDir, config.token.algorithm);
  return { set: await loadKeySet(config.token.keyDir, config.token.algorithm), generated };
}

async function loadOrEphemeral(config: Config): Promise<{ set: KeySet; generated: boolean }> {
  try {
    return { set: await loadKeySet(config.token.keyDir, config.token.algorithm), generated: false };
  } catch {
    const { keyPem, certificatePem } = await createKeyMaterial(config.token.algorithm);
    const key = await keyFromPem(config.token.algorithm, keyPem, certificatePem, keyFiles(config.token.keyDir));
    return { set: new KeySet(config.token.keyDir, key, null, []), generated: false };
  }
}
