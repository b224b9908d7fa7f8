import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { CachedForge } from '../../forges/cached-forge.js';
import type { Logger } from '../../log.js';
import type { Runtime } from '../../runtime.js';
import { askerIn } from '../asker.js';
import { isObject, MalformedEvent, type Interpretation, type Json } from './events.js';
import { interpretGitHub } from './github.js';
import { interpretGitLab } from './gitlab.js';

// POST /hooks/gitlab and /hooks/github (README "Webhooks"): a forge says who or what changed, and
// exactly the cached entries of those projects and accounts are dropped, here and, through
// Redis, on every replica. TTLs stay the backstop for what no event names.
//
// Order of checks: hooks off (404), body too large (413), secret (401: nothing is read or
// changed before the sender is known), then content type (415) and JSON (400).

type ForgeType = 'gitlab' | 'github';

/** A forge that may be told to forget, with the secret its webhooks carry (null: hooks off). */
export interface WebhookTarget {
  forge: Pick<CachedForge, 'name' | 'type' | 'invalidate'>;
  secret: string | null;
}

export interface WebhookOptions {
  targets: WebhookTarget[];
  /** The Redis connection that tells other replicas: 'disabled' without Redis, else its state. */
  sharedCache?: () => string;
}

/** GitHub and GitLab send far smaller payloads; GitHub caps its own at 25 MB but these events stay small. */
const BODY_LIMIT = 1024 * 1024;

/** The webhook targets of a runtime: its cached forges, each with its configured secret. */
export function webhookOptions(runtime: Pick<Runtime, 'forges' | 'config' | 'redis'>): WebhookOptions {
  // Paired by name (names are unique), not by position in either list.
  const targets = runtime.forges.map((forge) => {
    const config = runtime.config.forges.find((entry) => entry.name === forge.name);
    if (config === undefined) throw new Error(`forge "${forge.name}" of the runtime is not in the configuration`);
    return { forge, secret: config.webhookSecret };
  });
  const { redis } = runtime;
  return { targets, sharedCache: () => (redis === null ? 'disabled' : redis.status) };
}

export function hookRoutes(router: Router, options: WebhookOptions, logger: Logger): void {
  for (const type of ['gitlab', 'github'] as const) router.post(`/hooks/${type}`, hookHandler(type, options, logger));
}

function hookHandler(type: ForgeType, options: WebhookOptions, logger: Logger) {
  const targets = options.targets.filter(
    (t): t is WebhookTarget & { secret: string } => t.forge.type === type && t.secret !== null,
  );
  return async (ctx: Context): Promise<void> => {
    ctx.set('Cache-Control', 'no-store');
    if (targets.length === 0)
      return fail(ctx, 404, 'NOT_FOUND', `webhooks are off: no ${type} forge has a webhookSecret`);
    const body = await readBody(ctx, BODY_LIMIT);
    if (body === undefined) return;

    // Every forge whose secret matches: two forge entries may front one instance.
    const matched = targets.filter((t) =>
      type === 'github' ? githubSignatureMatches(ctx, body, t.secret) : gitlabTokenMatches(ctx, t.secret),
    );
    const asker = askerIn(ctx);
    const line: Record<string, unknown> = {
      hook: type,
      reqId: asker.requestId,
      clientIp: asker.ip,
      delivery: deliveryId(ctx, type),
    };
    if (matched.length === 0) {
      logger.warn(line, 'webhook rejected: bad or missing secret');
      const header = type === 'github' ? 'X-Hub-Signature-256' : 'X-Gitlab-Token';
      return fail(ctx, 401, 'UNAUTHORIZED', `${header} does not match the webhookSecret of any ${type} forge`);
    }

    if (!ctx.is('application/json', 'application/*+json')) {
      return fail(
        ctx,
        415,
        'UNSUPPORTED',
        `expected Content-Type application/json${type === 'github' ? " (set the webhook's content type to application/json)" : ''}`,
      );
    }
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      return fail(ctx, 400, 'INVALID_REQUEST', 'the body is not valid JSON');
    }
    if (!isObject(payload)) return fail(ctx, 400, 'INVALID_REQUEST', 'the body is not a JSON object');

    let meaning: Interpretation;
    try {
      meaning = type === 'github' ? interpretGitHub(githubEvent(ctx), payload) : interpretGitLab(payload);
    } catch (error) {
      if (!(error instanceof MalformedEvent)) throw error;
      logger.warn({ ...line, err: error.message }, 'webhook rejected: malformed event');
      return fail(ctx, 400, 'INVALID_REQUEST', error.message);
    }
    line.event = eventName(ctx, type, payload);
    line.forges = matched.map((t) => t.forge.name);
    if ('ignored' in meaning) {
      ctx.status = meaning.ignored === 'ping' ? 200 : 202;
      ctx.body = { ignored: meaning.ignored };
      logger.info({ ...line, ignored: meaning.ignored }, 'webhook');
      return;
    }

    const projects = meaning.projects.map((p) => p.toLowerCase());
    let invalidated = 0;
    for (const { forge } of matched) invalidated += await forge.invalidate({ projects, accounts: meaning.accounts });
    const response: Record<string, unknown> = {
      invalidated,
      projects,
      accounts: meaning.accounts,
      forges: line.forges,
    };
    const shared = options.sharedCache?.() ?? 'disabled';
    if (shared !== 'disabled' && shared !== 'up') {
      response.warning = `redis is ${shared}: other replicas keep their in-process copies until cache.decisionTtl`;
    }
    ctx.status = 200;
    ctx.body = response;
    logger[response.warning ? 'warn' : 'info'](
      { ...line, projects, accounts: meaning.accounts, invalidated, redis: shared },
      'webhook',
    );
  };
}

// GitHub: HMAC-SHA256 of the raw body under the secret, hex, in X-Hub-Signature-256: sha256=<hex>.
function githubSignatureMatches(ctx: Context, body: Buffer, secret: string): boolean {
  const sent = /^sha256=([0-9a-f]{64})$/i.exec(ctx.get('X-Hub-Signature-256').trim())?.[1];
  if (sent === undefined) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(Buffer.from(sent, 'hex'), expected);
}

// GitLab: the secret itself in X-Gitlab-Token. Both sides are hashed first so that the
// comparison takes the same time whatever the lengths.
function gitlabTokenMatches(ctx: Context, secret: string): boolean {
  const sent = ctx.get('X-Gitlab-Token');
  if (sent === '') return false;
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(sent), digest(secret));
}

function githubEvent(ctx: Context): string {
  const event = ctx.get('X-GitHub-Event').trim();
  if (!/^[a-z_]{1,64}$/.test(event)) throw new MalformedEvent('X-GitHub-Event is missing or not an event name');
  return event;
}

function eventName(ctx: Context, type: ForgeType, payload: Json): string {
  const name = type === 'github' ? ctx.get('X-GitHub-Event') : (payload.event_name ?? payload.object_kind);
  const action = type === 'github' ? payload.action : undefined;
  return [name, action]
    .filter((part) => typeof part === 'string')
    .map((part) => (part as string).slice(0, 64))
    .join('.');
}

function deliveryId(ctx: Context, type: ForgeType): string | undefined {
  const id = type === 'github' ? ctx.get('X-GitHub-Delivery') : ctx.get('X-Gitlab-Event-UUID');
  return /^[A-Za-z0-9._-]{1,128}$/.test(id) ? id : undefined;
}

function fail(ctx: Context, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.body = { errors: [{ code, message }] };
}

/** The raw bytes (signatures are over them), at most `limit`; undefined once answered 413/400. */
function readBody(ctx: Context, limit: number): Promise<Buffer | undefined> {
  const tooLarge = () => fail(ctx, 413, 'REQUEST_TOO_LARGE', `the body exceeds ${limit} bytes`);
  const declared = Number(ctx.get('Content-Length'));
  if (Number.isFinite(declared) && declared > limit) {
    ctx.set('Connection', 'close');
    tooLarge();
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const req = ctx.req;
    const finish = (body: Buffer | undefined) => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onError);
      resolve(body);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Stop reading without destroying the socket, so the 413 still reaches the sender.
        req.pause();
        ctx.set('Connection', 'close');
        tooLarge();
        finish(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(Buffer.concat(chunks, size));
    const onError = () => {
      fail(ctx, 400, 'INVALID_REQUEST', 'the body could not be read');
      finish(undefined);
    };
    // 'close' before 'end': the sender went away mid-body.
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onError);
  });
}
