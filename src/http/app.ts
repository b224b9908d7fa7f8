import type { RequestListener } from 'node:http';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import type { Authority } from '../authority.js';
import type { Logger } from '../log.js';
import { Metrics } from '../metrics.js';
import type { KeyRing } from '../token/keyring.js';
import type { SigningKey } from '../token/keys.js';
import { runAfterAnswers } from './after-answers.js';
import { errorHandler, errorStyle } from './errors.js';
import type { BruteForceGuard } from './guard/brute-force.js';
import { guardFor } from './guard/build.js';
import { guardRoute } from './guard/middleware.js';
import { hookRoutes, webhookOptions, type WebhookOptions } from './hooks/index.js';
import type { Runtime } from '../runtime.js';
import { explainCredential } from './status/explain-route.js';
import { statusRoutes } from './status/index.js';
import { askerOf } from './asker.js';
import { tokenLane } from './token-lane.js';
import { tokenEndpoint, tokenRoute } from './token-route.js';

// The application: the routes of README "Endpoints" on Koa, the registry's token GET on its own
// lane (token-lane.ts) in front, one error format and one request id for both.

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
  app: RequestListener;
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

/** The request listener of `forgegate serve`: the token lane first, Koa for everything it leaves. */
export function createApp(options: AppOptions): RequestListener {
  const app = new Koa({ proxy: options.trustProxy });
  const router = new Router();
  const metrics = options.metrics ?? new Metrics();
  const endpoint = tokenEndpoint(options.authority, options.logger, metrics, options.guard);
  const token = tokenRoute(endpoint);
  const tokenPaths = new Set([options.realmPath, '/auth/token']);
  const form = bodyParser({ enableTypes: ['form'], formLimit: FORM_LIMIT, encoding: 'utf-8' });

  for (const path of tokenPaths) {
    router.get(path, token);
    router.post(path, (ctx, next) => (errorStyle(ctx, 'oauth'), next()), form, token);
  }
  router.get('/.well-known/jwks.json', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = options.keys?.jwks() ?? options.key.jwks;
  });
  router.get('/metrics', async (ctx) => {
    runAfterAnswers(); // a scrape counts every request answered before it
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

  app.use(askerFirst(options.trustProxy));
  app.use(errorHandler(options.logger, options.service));
  app.use(router.routes());
  app.use(router.allowedMethods());
  app.on('error', () => {}); // errors are answered and logged by errorHandler

  const koa = app.callback();
  const lane = tokenLane({
    paths: tokenPaths,
    endpoint,
    trustProxy: options.trustProxy,
    logger: options.logger,
    basicRealm: options.service,
  });
  return (request, response) => {
    if (!lane(request, response)) void koa(request, response);
  };
}

/** Reads who asks (asker.ts) before anything else, so every route and the error answers see it. */
function askerFirst(trustProxy: boolean) {
  return async (ctx: Koa.Context, next: Koa.Next): Promise<void> => {
    const asker = askerOf(ctx.req, trustProxy);
    ctx.state.asker = asker;
    ctx.request.ip = asker.ip; // one reading of the address for ctx.ip too
    ctx.set('X-Request-Id', asker.requestId);
    await next();
  };
}
