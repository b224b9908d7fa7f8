import { z } from 'zod';

// The `oidc:` section: issuers whose CI ID tokens (GitHub Actions, GitLab CI `id_tokens:`)
// forgegate accepts as a docker-login password. A preset knows an issuer's claim names and
// brings a safe default rule (own project: pull; push only from a protected ref and never
// from a pull/merge-request event); everything it sets can be overridden key by key.

const ACTIONS = ['pull', 'push', 'delete', '*'] as const;
/** Asymmetric only: `none` and the HS* family (a shared secret) can never be configured. */
export const OIDC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });
const claimName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'expected a claim name such as "ref_protected"');
const scalar = z.union([z.string(), z.boolean(), z.number()]).transform(String);
/** Claim -> accepted values (globs); YAML `ref_protected: true` reads as the claim's "true". */
const conditions = z.record(claimName, z.union([scalar.transform((v) => [v]), z.array(scalar).min(1)])).default({});

export const oidcRuleSchema = z.strictObject({
  /** Glob or /regex/ over the job's project path (lower-cased). */
  project: z.string().min(1).default('**'),
  /** The project's immutable id: the token's id claim must equal it (names can be re-registered). */
  projectId: z
    .union([z.string().min(1), z.int()])
    .transform(String)
    .nullable()
    .default(null),
  /** What the job may do on its own project; anything beyond pull also needs `when`/`unless`. */
  actions: z.array(z.enum(ACTIONS)).min(1).default(['pull', 'push']),
  /** Every claim named must match one of its globs, or the grant is reduced to pull. */
  when: conditions,
  /** No claim named may match any of its globs, or the grant is reduced to pull. */
  unless: conditions,
  /** More images (globs over paths under the prefix) the job may pull besides public ones. */
  alsoPull: z.array(z.string().min(1)).default([]),
});

const claimsSchema = z.strictObject({
  /** The claim naming the job's project: `repository` (GitHub), `project_path` (GitLab). */
  project: claimName.nullable().default(null),
  /** The claim holding the project's immutable id, for `rules[].projectId`. */
  projectId: claimName.nullable().default(null),
  ref: claimName.nullable().default(null),
  workflow: claimName.nullable().default(null),
});

export const PRESETS = {
  'github-actions': {
    claims: { project: 'repository', projectId: 'repository_id', ref: 'ref', workflow: 'workflow_ref' },
    // pull_request_target runs the base repository's workflow on untrusted input: no push either.
    rules: [{ when: { ref_protected: ['true'] }, unless: { event_name: ['pull_request', 'pull_request_target'] } }],
    style: 'github',
  },
  gitlab: {
    claims: { project: 'project_path', projectId: 'project_id', ref: 'ref', workflow: 'ci_config_ref_uri' },
    rules: [{ when: { ref_protected: ['true'] }, unless: { pipeline_source: ['merge_request_event'] } }],
    style: 'gitlab',
  },
} as const;

export const oidcIssuerSchema = z
  .strictObject({
    /** A label for logs, metrics and `source`; default: the preset's name, else the issuer's host. */
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'expected a short lower-case label')
      .optional(),
    issuer: httpUrl,
    audience: z.string().min(1),
    preset: z.enum(['github-actions', 'gitlab']).nullable().default(null),
    jwksUrl: httpUrl.nullable().default(null),
    forge: z.string().min(1).nullable().default(null),
    algorithms: z.array(z.enum(OIDC_ALGORITHMS)).min(1).default(['RS256', 'ES256']),
    clockSkew: z.int().min(0).max(300).default(60),
    timeout: z.number().positive().max(60).default(5),
    claims: claimsSchema.prefault({}),
    rules: z.array(oidcRuleSchema).optional(),
  })
  .transform((issuer) => {
    const preset = issuer.preset === null ? null : PRESETS[issuer.preset];
    const claims = { ...issuer.claims };
    for (const key of ['project', 'projectId', 'ref', 'workflow'] as const) claims[key] ??= preset?.claims[key] ?? null;
    const rules = issuer.rules ?? (preset ? preset.rules.map((rule) => oidcRuleSchema.parse(rule)) : []);
    return {
      ...issuer,
      name: issuer.name ?? issuer.preset ?? new URL(issuer.issuer).hostname.toLowerCase(),
      claims,
      rules,
    };
  })
  .superRefine((issuer, ctx) => {
    if (issuer.claims.project === null)
      ctx.addIssue({
        code: 'custom',
        path: ['claims', 'project'],
        message: 'name the claim that gives the project (or set a preset)',
      });
    issuer.rules.forEach((rule, i) => {
      if (rule.projectId !== null && issuer.claims.projectId === null) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, 'projectId'],
          message: 'needs claims.projectId (or a preset) to compare it with',
        });
      }
    });
  });

export const oidcSchema = z.array(oidcIssuerSchema).default([]);

export type OidcIssuerConfig = z.output<typeof oidcIssuerSchema>;
export type OidcRuleConfig = z.output<typeof oidcRuleSchema>;
