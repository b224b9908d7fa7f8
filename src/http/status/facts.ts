import { resolve } from 'node:path';
import type { LastForgeCall } from '../../forges/health.js';
import { certificateDaysLeft, type Runtime } from '../../runtime.js';
import { VERSION } from '../../version.js';

// What the status page shows, as plain data: the serve banner, /readyz and the page read
// the same functions, so the settings a registry needs are spelled out in one place.

/** The `auth.token` block of distribution's config.yml that matches this forgegate. */
export interface RegistrySettings {
  realm: string;
  service: string;
  issuer: string;
  rootcertbundle: string;
}

export interface ForgeStatus {
  name: string;
  type: 'gitlab' | 'github';
  url: string;
  prefix: string;
  lastCall: LastForgeCall | null;
  /** What an operator should know (e.g. where GitLab's protection rules are not enforced, and why). */
  notices: string[];
}

export interface RedisStatus {
  status: 'disabled' | 'ok' | 'degraded';
  state?: string;
}

export interface StatusFacts {
  version: string;
  issuer: string;
  service: string;
  algorithm: string;
  kid: string;
  certificateExpires: Date;
  certificateDaysLeft: number;
  forges: ForgeStatus[];
  redis: RedisStatus;
  registry: RegistrySettings;
  /** Whether the realm was guessed from the request because server.publicUrl is unset. */
  realmGuessed: boolean;
}

export function registrySettings(runtime: Runtime, realm: string): RegistrySettings {
  const { config, key } = runtime;
  return {
    realm,
    service: config.token.service,
    issuer: config.token.issuer,
    rootcertbundle: resolve(key.files.certificate),
  };
}

// A Redis outage degrades (the in-process level serves), it does not make a replica unready.
export function redisStatus(runtime: Runtime): RedisStatus {
  if (runtime.redis === null) return { status: 'disabled' };
  return { status: runtime.redis.status === 'up' ? 'ok' : 'degraded', state: runtime.redis.status };
}

/** `origin`: where the request reached us (scheme://host), the realm's base unless server.publicUrl says otherwise. */
export function statusFacts(runtime: Runtime, origin: string): StatusFacts {
  const { config, key } = runtime;
  const { publicUrl, realmPath } = config.server;
  const realm = `${(publicUrl ?? origin).replace(/\/+$/, '')}${realmPath}`;
  return {
    version: VERSION,
    issuer: config.token.issuer,
    service: config.token.service,
    algorithm: key.algorithm,
    kid: key.kid,
    certificateExpires: key.notAfter,
    certificateDaysLeft: certificateDaysLeft(key),
    forges: config.forges.map((forge) => ({
      name: forge.name,
      type: forge.type,
      url: forge.url,
      prefix: forge.prefix,
      lastCall: runtime.forgeHealth.lastCall(forge.name) ?? null,
      notices: runtime.forges.find((running) => running.name === forge.name)?.notices() ?? [],
    })),
    redis: redisStatus(runtime),
    registry: registrySettings(runtime, realm),
    realmGuessed: publicUrl === null,
  };
}
