import { randomUUID } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import type { Authority } from '../authority.js';
import type { Logger } from '../log.js';
import { Metrics } from '../metrics.js';
import type { KeyRing } from '../token/keyring.js';
import type { SigningKey } from '../token/keys.js';
import { errorHandler, errorStyle } from './errors.js';
import type { BruteForceGuard } from './guard/brute-force.js';
import { guardFor } from './guard/build.js';
import { guardRoute } from './guard/middleware.js';
import { hookRoutes, webhookOptions, type WebhookOptions } from './hooks/index.js';
import type { Runtime } from '../runtime.js';
import { explainCredential } from './status/explain-route.js';
import { statusRoutes } from './status/index.js';
import { tokenHandler } from './token-route.js';

// The Koa application: the routes of README "Endpoints", one error format, request ids.

export interface AppOptions {
  authority: Authority;
  key: SigningKey;
  /** The key ring (runtime.keys): /.well-known/jwks.json and /readyz follow its reloads. */
  keys?: KeyRing;
  realmPath: string;
  service: string;
  trustProxy: boolean;
  logger: Logger;
  /** Readiness of dependencies beyond the key (Redis, forges). */
  readiness?: () => Promise<Record<string, unknown>>;
  metrics?: Metrics;
  /** Brute-force protection of password logins; absent: none. */
  guard?: BruteForceGuard;
  /** The forges webhooks may invalidate (POST /hooks/gitlab, /hooks/github); absent: 404. */
  webhooks?: WebhookOptions;
  /** The status page (GET /) and POST /explain, as config `ui` says; absent: both 404. */
  status?: Runtime;
}

/** The application of a runtime, its brute-force guard, and how to release what they hold. */
export interface RuntimeApp {
  app: Koa;
  guard: BruteForceGuard;
  close(): void;
}

/** The application `forgegate serve` runs for a runtime; the test harness runs the same one. */
export function runtimeApp(
  runtime: Runtime,
  logger: Logger,
  metrics: Metrics,
  readiness?: AppOptions['readiness'],
): RuntimeApp {
  const { config } = runtime;
  const { guard, close } = guardFor(runtime, logger, metrics.banObserver);
  const app = createApp({
    authority: runtime.authority,
    key: runtime.key,
    keys: runtime.keys,
    realmPath: config.server.realmPath,
    service: config.token.service,
    trustProxy: config.server.trustProxy,
    logger,
    metrics,
    guard,
    readiness,
    webhooks: webhookOptions(runtime),
    status: runtime,
  });
  return { app, guard, close };
}

/** A form body carries a handful of short fields; anything near this is abuse. */
const FORM_LIMIT = '64kb';

export function createApp(options: AppOptions): Koa {
  const app = new Koa({ proxy: options.trustProxy });
  const router = new Router();
  const metrics = options.metrics ?? new Metrics();
  const token = tokenHandler(options.authority, options.logger, metrics, options.guard);
  const form = bodyParser({ enableTypes: ['form'], formLimit: FORM_LIMIT, encoding: 'utf-8' });

  for (const path of new Set([options.realmPath, '/auth/token'])) {
    router.get(path, token);
    router.post(path, (ctx, next) => (errorStyle(ctx, 'oauth'), next()), form, token);
  }
  router.get('/.well-known/jwks.json', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = options.keys?.jwks() ?? options.key.jwks;
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const key = options.keys?.current ?? options.key;
    const dependencies = {
      keys: { status: 'ok', kid: key.kid, certificateExpires: key.notAfter.toISOString() },
      ...(await options.readiness?.()),
    };
    ctx.body = { status: 'ok', dependencies };
  });
  if (options.webhooks) hookRoutes(router, options.webhooks, options.logger);
  if (options.status) {
    const status = statusRoutes(options.status, options.logger, metrics, options.guard);
    if (options.status.config.ui.statusPage) {
      router.get('/', status.headers, status.page);
      router.get('/assets/:file', status.headers, status.asset);
    }
    // A credential oracle like the token endpoint, so the same brute-force limits; they need
    // the account, so they go behind the body parser.
    const guarded = options.guard ? [guardRoute(options.guard, explainCredential)] : [];
    if (options.status.config.ui.explain)
      router.post('/explain', status.headers, status.jsonBody, ...guarded, status.explain);
  }

  app.use(requestId());
  app.use(errorHandler(options.logger, options.service));
  app.use(tokenFastPath(new Set([options.realmPath, '/auth/token']), token));
  app.use(router.routes());
  app.use(router.allowedMethods());
  app.on('error', () => {}); // errors are answered and logged by errorHandler
  return app;
}

/**
 * A registry asks for a token on every repository of every pull: its GET goes straight to the
 * handler instead of through the router's list of routes. Only exact paths: anything else
 * (a trailing slash, another case, HEAD) takes the router as before, with the same answer.
 */
function tokenFastPath(paths: ReadonlySet<string>, token: (ctx: Koa.Context) => Promise<void>) {
  return (ctx: Koa.Context, next: Koa.Next): Promise<void> =>
    ctx.method === 'GET' && paths.has(ctx.path) ? token(ctx) : next();
}

const INCOMING_ID = /^[A-Za-z0-9._-]{1,128}$/;

function requestId() {
  return async (ctx: Koa.Context, next: Koa.Next): Promise<void> => {
    const incoming = ctx.get('X-Request-Id');
    ctx.state.requestId = INCOMING_ID.test(incoming) ? incoming : randomUUID();
    ctx.set('X-Request-Id', ctx.state.requestId);
    await next();
  };
}
