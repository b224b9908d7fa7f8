import { createHash } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import type { Runtime } from '../../runtime.js';
import { NotFound } from '../errors.js';
import type { BruteForceGuard } from '../guard/brute-force.js';
import { explainHandler, jsonBody } from './explain-route.js';
import { statusFacts } from './facts.js';
import { renderPage } from './page.js';
import { SCRIPT } from './script.js';
import { STYLE } from './style.js';

// The status page (GET /), its two assets and POST /explain, as handlers app.ts mounts:
// it owns the routes, so guards (rate limits) go in front of a handler there.

/** Strict: nothing but this origin's own files; no inline script or style, no framing. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

interface Asset {
  type: string;
  body: string;
}

// Content-hashed names: a browser may keep them for good, and a new version is a new URL.
const ASSETS = new Map<string, Asset>(
  [
    { stem: 'status', ext: 'css', asset: { type: 'text/css; charset=utf-8', body: STYLE } },
    { stem: 'status', ext: 'js', asset: { type: 'text/javascript; charset=utf-8', body: SCRIPT } },
  ].map(({ stem, ext, asset }) => [
    `${stem}-${createHash('sha256').update(asset.body).digest('hex').slice(0, 12)}.${ext}`,
    asset,
  ]),
);
const assetUrl = (ext: string) => `assets/${[...ASSETS.keys()].find((name) => name.endsWith(`.${ext}`))!}`;

export interface StatusRoutes {
  /** Security headers for every response of these routes, errors included. */
  headers: (ctx: Context, next: Next) => Promise<void>;
  page: (ctx: Context) => void;
  asset: (ctx: Context) => void;
  /** 415/413/400 before the handler sees a body. */
  jsonBody: ReturnType<typeof jsonBody>;
  explain: ReturnType<typeof explainHandler>;
}

export function statusRoutes(
  runtime: Runtime,
  audit: Logger,
  metrics: Metrics,
  guard: BruteForceGuard | undefined,
): StatusRoutes {
  const { ui } = runtime.config;
  return {
    headers: async (ctx, next) => {
      ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.set('Referrer-Policy', 'no-referrer');
      ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
      await next();
    },
    page: (ctx) => {
      ctx.set('Cache-Control', 'no-store'); // live status
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = renderPage({
        facts: statusFacts(runtime, `${ctx.protocol}://${ctx.host}`),
        explain: ui.explain,
        styleUrl: assetUrl('css'),
        scriptUrl: assetUrl('js'),
      });
    },
    asset: (ctx) => {
      const asset = ASSETS.get(String(ctx.params.file));
      if (asset === undefined) throw new NotFound('no such asset');
      ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
      ctx.type = asset.type;
      ctx.body = asset.body;
    },
    jsonBody: jsonBody(),
    explain: explainHandler(runtime.authority, ui.registry, audit, metrics, guard),
  };
}
