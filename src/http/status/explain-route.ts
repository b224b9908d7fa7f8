import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import type { Authentication, Authority, TokenRequest } from '../../authority.js';
import {
  MAX_PASSWORD_LENGTH,
  MAX_USERNAME_LENGTH,
  passwordCredential,
  type Credential,
} from '../../credentials/credential.js';
import { AuthenticationFailed, BadRequest } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import type { BruteForceGuard } from '../guard/brute-force.js';
import { formatScope, MAX_NAME_LENGTH, parseResourceScope } from '../../policy/scope.js';
import type { Decision, Verdict } from '../../policy/types.js';
import { BodyTooLarge, UnsupportedMediaType } from '../errors.js';
import { askerIn } from '../asker.js';
import { elapsedMs, observeLater } from '../token-route.js';
import { dockerLogin, splitImage } from './image.js';

// POST /explain, behind the page's "Check my access" form: the decision the token endpoint
// would make for pull, push and delete on one image, with the reasons, and no token signed.
// It goes through the same Authority (and writes the same audit line), so the page, the
// CLI's `forgegate explain` and the token endpoint cannot disagree. Being a credential
// oracle just like the token endpoint, it takes the same rate limits (mounted in app.ts).

const ACTIONS = ['pull', 'push', 'delete'] as const;

/** A few short fields; anything near this is abuse. */
const JSON_LIMIT = '16kb';

const explainRequest = z.strictObject({
  username: z.string().max(MAX_USERNAME_LENGTH).default(''),
  /** Never stored, never logged: it is handed to the Authority and dropped. */
  password: z.string().max(MAX_PASSWORD_LENGTH).default(''),
  image: z
    .string()
    .min(1, 'name an image, e.g. group/project')
    .max(MAX_NAME_LENGTH + 300),
});

export interface ExplainAnswer {
  authenticated: boolean;
  /** Set when not authenticated: the same words the token endpoint answers with. */
  message?: string;
  identity?: Authentication['identity'];
  /** The repository name the registry will ask about (registry host and tag removed). */
  repository: string;
  scope: string;
  verdicts: Decision['verdicts'];
  /** The `docker login` line to use, without the secret. */
  login: string;
}

/** 415 for anything but JSON, 413 past the limit, 400 for broken JSON: all as JSON errors. */
export function jsonBody() {
  const parse = bodyParser({
    enableTypes: ['json'],
    jsonLimit: JSON_LIMIT,
    encoding: 'utf-8',
    onError: (error) => {
      if ((error as { status?: number }).status === 413)
        throw new BodyTooLarge(`request body is larger than ${JSON_LIMIT}`);
      throw new BadRequest('request body is not valid JSON');
    },
  });
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!ctx.is('application/json')) throw new UnsupportedMediaType('send the request as application/json');
    await parse(ctx, next);
  };
}

export function explainHandler(
  authority: Authority,
  registry: string | null,
  audit: Logger,
  metrics: Metrics,
  guard?: BruteForceGuard,
) {
  return async (ctx: Context): Promise<void> => {
    const started = process.hrtime.bigint();
    const asker = askerIn(ctx);
    let request: TokenRequest | undefined;
    ctx.set('Cache-Control', 'no-store');
    try {
      const input = readInput((ctx.request as { body?: unknown }).body);
      const { registryHost, repository } = splitImage(input.image);
      const scope = parseResourceScope(`repository:${repository}:${ACTIONS.join(',')}`);
      request = { service: undefined, scopes: [scope], credential: input.credential, offline: false };
      const login = dockerLogin(registryHost ?? registry, input.credential);
      const service = authority.checkService(undefined);
      let authentication: Authentication;
      try {
        authentication = await authority.authenticate(input.credential, service, request.scopes);
      } catch (error) {
        if (!(error instanceof AuthenticationFailed)) throw error;
        // 200, not 401: the question was answered; a 401 with a Basic challenge would make
        // the browser pop its own login dialog. The operator's `reason` stays in the log:
        // it may tell which accounts exist.
        observeLater(audit, metrics, asker, elapsedMs(started), request, undefined, error, 'explain');
        ctx.state.outcome = 'unauthorized'; // for guards mounted in front (brute-force limits)
        ctx.body = {
          authenticated: false,
          message: error.message,
          repository,
          scope: formatScope(scope),
          verdicts: [],
          login,
        } satisfies ExplainAnswer;
        return;
      }
      const decisions = await authority.decide(authentication, request.scopes, guard?.forgeBudget(asker.ip));
      observeLater(
        audit,
        metrics,
        asker,
        elapsedMs(started),
        request,
        { authentication, decisions, cache: 'none' },
        undefined,
        'explain',
      );
      ctx.body = {
        authenticated: true,
        identity: authentication.identity,
        repository,
        scope: formatScope(scope),
        verdicts: decisions.flatMap((d) => (d.asAnonymous ? asForAnyone(d, repository) : d.verdicts)),
        login,
      } satisfies ExplainAnswer;
    } catch (error) {
      if (ctx.body === undefined)
        observeLater(audit, metrics, asker, elapsedMs(started), request, undefined, error, 'explain');
      throw error;
    }
  };
}

// A forge judges callers without its credentials through the service token, which sees
// private projects and follows renames. Its reasons would tell such a caller a private project
// from an absent one, or where a project went; the page answers them in words that name only
// the image asked about, the same for every case. The audit line keeps the forge's reasons.
function asForAnyone(decision: Decision, repository: string): Verdict[] {
  return decision.verdicts.map(({ action, granted }) => ({
    action,
    granted,
    rule: 'anonymous',
    reason: granted
      ? `${action} granted: anyone may ${action} ${repository}`
      : `${action} denied: nothing lets a caller without a credential of this forge ${action} ${repository} ` +
        '(it may not exist, or not be open to them); log in to see what you may do',
  }));
}

/** The caller's credential for the brute-force guard; undefined (no guard) when the body is unreadable. */
export function explainCredential(ctx: Context): Credential | undefined {
  try {
    return readInput((ctx.request as { body?: unknown }).body).credential;
  } catch {
    return undefined; // the handler answers 400
  }
}

function readInput(body: unknown): { image: string; credential: Credential } {
  const parsed = explainRequest.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    throw new BadRequest(`invalid request: ${field}${issue.message}`);
  }
  const { username, password, image } = parsed.data;
  // Nothing typed at all asks what anyone may do; a username alone is a mistake.
  if (username === '' && password === '') return { image, credential: { kind: 'anonymous' } };
  return { image, credential: passwordCredential(username, password) };
}
