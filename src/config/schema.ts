import { z } from 'zod';
import { oidcSchema } from './oidc.js';

// The configuration, key for key (docs/configuration.md documents each). Every object is strict (an unknown key is an
// error, never ignored) and every key has a default, so an empty file is a valid config.

const seconds = (fallback: number, min = 0, max = 10 * 365 * 86400) => z.int().min(min).max(max).default(fallback);
const nullableString = z.string().min(1).nullable().default(null);
const ACTIONS = ['pull', 'push', 'delete', '*'] as const;
/** Sources that are not forges: htpasswd accounts and anonymous callers. */
const RESERVED_SOURCES = ['static', 'none'];

const listen = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, 'expected host:port, e.g. "0.0.0.0:5001"')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535');

const urlPath = z.string().regex(/^\/[A-Za-z0-9._~\/-]*$/, 'expected an absolute path such as "/token"');

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

export const serverSchema = z
  .strictObject({
    listen: listen.default('0.0.0.0:5001'),
    realmPath: urlPath.default('/token'),
    /** The URL clients reach forgegate at; the realm to give the registry. */
    publicUrl: httpUrl.nullable().default(null),
    trustProxy: z.boolean().default(false),
    tls: z
      .strictObject({ cert: nullableString, key: nullableString })
      .refine((t) => (t.cert === null) === (t.key === null), 'set both cert and key, or neither')
      .prefault({}),
    /** `serve` switches V8 to its memory-saving mode (--optimize-for-size, a young generation kept small) at start. */
    optimizeForSize: z.boolean().default(true),
  })
  .prefault({});

export const tokenSchema = z
  .strictObject({
    issuer: z.string().min(1).default('forgegate'),
    service: z.string().min(1).default('container-registry'),
    // Clients treat anything below 60 s as 60 s, and registries allow 60 s of skew.
    ttl: seconds(900, 60, 86400),
    algorithm: z.enum(['ES256', 'RS256']).default('ES256'),
    header: z.enum(['x5c', 'kid']).default('x5c'),
    keyDir: z.string().min(1).default('./data/keys'),
    refreshTtl: seconds(2592000, 60),
  })
  .prefault({});

export const cacheSchema = z
  .strictObject({
    redisUrl: z
      .string()
      .regex(/^(rediss?|redis\+sentinel|redis\+cluster):\/\//, 'expected a redis:// or rediss:// URL')
      .nullable()
      .default(null),
    keyPrefix: z.string().default('forgegate:'),
    identityTtl: seconds(60),
    decisionTtl: seconds(60),
    negativeTtl: seconds(10),
    staleIfError: seconds(0),
  })
  .prefault({});

/** Brute-force protection (failed logins lead to bans), and the forge calls callers without credentials may cause. */
export const limitsSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Failures within `window` seconds that start a ban. */
    failures: z.int().min(1).max(1_000_000).default(30),
    window: seconds(180, 1, 86400),
    ban: seconds(900, 1, 7 * 86400),
    /** Forge calls a minute that requests without credentials from one address may cause. */
    anonymousForgeCalls: z.int().min(1).max(1_000_000).default(60),
  })
  .prefault({});

export const usersSchema = z.strictObject({ htpasswd: nullableString }).prefault({});

const pattern = z.string().refine((p) => {
  if (!(p.length >= 2 && p.startsWith('/') && p.endsWith('/'))) return true;
  try {
    new RegExp(p.slice(1, -1));
    return true;
  } catch {
    return false;
  }
}, 'invalid /regex/');

export const aclRuleSchema = z.strictObject({
  account: pattern,
  type: z
    .string()
    .regex(/^[a-z0-9]+$/, 'expected a resource type such as "repository"')
    .default('repository'),
  name: z.string().min(1),
  actions: z.array(z.enum(ACTIONS)).min(1),
});

export const forgeSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/, 'expected a short lower-case label')
    .optional(),
  type: z.enum(['gitlab', 'github']),
  url: httpUrl,
  prefix: z
    .string()
    .regex(/^([a-z0-9][a-z0-9._-]*\/?)*$/, 'expected a path prefix such as "gh/"')
    .default('')
    .transform((p) => (p === '' || p.endsWith('/') ? p : `${p}/`)),
  serviceToken: nullableString,
  jobTokens: z.boolean().default(true),
  anonymousPull: z.boolean().default(true),
  webhookSecret: nullableString,
  timeout: z.number().positive().max(300).default(5),
  /** GitHub: the repository permission that deletes images: admin (default) or maintain. */
  deletePermission: z.enum(['admin', 'maintain']).default('admin'),
  /** GitHub: logins that may read the catalog besides site admins. */
  admins: z.array(z.string().min(1)).default([]),
  /** GitHub: own repositories (owner/repo globs) where installation tokens (GITHUB_TOKEN) may push. */
  installationTokenPush: z
    .array(z.string().regex(/^[^/]+\/[^/]+$/, 'expected an owner/repo glob such as "acme/*"'))
    .default([]),
  /** GitHub: take the user's role as the token's where GitHub does not say what the token may do. */
  trustUserTokenRole: z.boolean().default(false),
  /** GitLab: while a project's protection rules cannot be read, decide without them, or refuse push and delete. */
  protectedRepositories: z.enum(['best-effort', 'strict']).default('best-effort'),
  /**
   * GitLab: the instance enforces Admin Mode, so an admin's token has admin powers only with the
   * `admin_mode` scope. On unless turned off: forgegate cannot read the instance's setting
   * without an admin token, and assuming it on never gives more than GitLab would.
   */
  adminMode: z.boolean().default(true),
  /** GitLab: CI jobs of `source` may push to projects matching `targets` (globs): GitLab has no such feature. */
  jobTokenPushAllowlist: z
    .array(z.strictObject({ source: z.string().min(1), targets: z.array(z.string().min(1)).min(1) }))
    .default([]),
});

/** The page at GET / and the POST /explain behind its form (docs/status-page.md). */
export const uiSchema = z
  .strictObject({
    statusPage: z.boolean().default(true),
    explain: z.boolean().default(true),
    /** host[:port] docker clients log in to, for the `docker login` line the page suggests. */
    registry: z
      .string()
      .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'expected host[:port], e.g. "registry.example.com"')
      .nullable()
      .default(null),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    server: serverSchema,
    token: tokenSchema,
    cache: cacheSchema,
    users: usersSchema,
    limits: limitsSchema,
    acl: z.array(aclRuleSchema).default([]),
    forges: z.array(forgeSchema).prefault([{ type: 'gitlab', url: 'https://gitlab.com' }]),
    oidc: oidcSchema,
    ui: uiSchema,
  })
  .transform((config) => ({
    ...config,
    forges: config.forges.map((forge) => ({ ...forge, name: forge.name ?? forge.type })),
  }))
  .superRefine((config, ctx) => {
    const names = new Set<string>();
    config.forges.forEach((forge, i) => {
      if (names.has(forge.name))
        ctx.addIssue({ code: 'custom', path: ['forges', i, 'name'], message: `duplicate forge name "${forge.name}"` });
      // A forge's name is the `source` its callers and refresh tokens carry: it must not pass for
      // the htpasswd accounts' ("static") or the anonymous caller's ("none").
      if (RESERVED_SOURCES.includes(forge.name)) {
        const message = `"${forge.name}" is reserved; name the forge otherwise`;
        ctx.addIssue({ code: 'custom', path: ['forges', i, 'name'], message });
      }
      names.add(forge.name);
      config.forges.slice(0, i).forEach((other) => {
        // The empty prefix is the catch-all: it overlaps only another empty prefix.
        const bothEmpty = forge.prefix === '' && other.prefix === '';
        const oneEmpty = (forge.prefix === '') !== (other.prefix === '');
        const overlap =
          bothEmpty || (!oneEmpty && (other.prefix.startsWith(forge.prefix) || forge.prefix.startsWith(other.prefix)));
        if (!overlap) return;
        const message = bothEmpty
          ? `only one forge may have the empty prefix, and forge "${other.name}" has it already`
          : `prefix "${forge.prefix}" overlaps the prefix "${other.prefix}" of forge "${other.name}"`;
        ctx.addIssue({ code: 'custom', path: ['forges', i, 'prefix'], message });
      });
    });
    checkOidc(config, ctx);
  });

// One entry per issuer (a token names its issuer, nothing else picks the entry); a named
// forge must exist, since it gives the image prefix and the anonymous rules elsewhere. With
// forges configured every issuer must name one: an issuer without a forge would let a job's
// project claim that path under every forge (a GitHub repository owning a GitLab project's images).
function checkOidc(
  config: { forges: { name: string }[]; oidc: z.output<typeof oidcSchema> },
  ctx: z.RefinementCtx,
): void {
  const names = config.forges.map((forge) => `"${forge.name}"`).join(', ');
  config.oidc.forEach((entry, i) => {
    if (entry.forge === null && config.forges.length > 0) {
      const message =
        'required when forges are configured: ' +
        `name the forge whose images this issuer's tokens may match (${names})`;
      ctx.addIssue({ code: 'custom', path: ['oidc', i, 'forge'], message });
    }
    const earlier = config.oidc.slice(0, i);
    if (earlier.some((other) => other.issuer === entry.issuer))
      ctx.addIssue({ code: 'custom', path: ['oidc', i, 'issuer'], message: `duplicate issuer "${entry.issuer}"` });
    if (earlier.some((other) => other.name === entry.name))
      ctx.addIssue({
        code: 'custom',
        path: ['oidc', i, 'name'],
        message: `duplicate name "${entry.name}": set oidc[].name`,
      });
    if (entry.forge !== null && !config.forges.some((forge) => forge.name === entry.forge)) {
      ctx.addIssue({ code: 'custom', path: ['oidc', i, 'forge'], message: `no forge named "${entry.forge}"` });
    }
  });
}

export type Config = z.output<typeof configSchema>;
export type ForgeConfig = Config['forges'][number];
export type AclRuleConfig = Config['acl'][number];
export type OidcConfig = Config['oidc'][number];
