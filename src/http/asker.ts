import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';

// Who sent a request, read once from the bare HTTP request: the token lane and the Koa routes
// both start from it, so the audit line, the brute-force guard and the X-Request-Id header
// agree on every route.

export interface Asker {
  /** The caller's X-Request-Id when it is a sane token, else a new UUID; echoed in the answer. */
  requestId: string;
  /** The client address: with `server.trustProxy`, the first X-Forwarded-For entry, as Koa reads it. */
  ip: string;
  /** At most 200 characters of User-Agent: it goes to the audit line as given. */
  userAgent: string;
  method: string;
}

const INCOMING_ID = /^[A-Za-z0-9._-]{1,128}$/;
const USER_AGENT_LENGTH = 200;

export function askerOf(request: IncomingMessage, trustProxy: boolean): Asker {
  const { headers } = request;
  const incoming = headers['x-request-id'];
  return {
    requestId: typeof incoming === 'string' && INCOMING_ID.test(incoming) ? incoming : randomUUID(),
    ip: clientIp(request, trustProxy),
    userAgent: (headers['user-agent'] ?? '').slice(0, USER_AGENT_LENGTH),
    method: request.method ?? '',
  };
}

// Koa's `ctx.ip`, so that both agree: the leftmost X-Forwarded-For entry behind a trusted
// proxy (Node joins repeated headers with ", "), else the socket's peer.
function clientIp(request: IncomingMessage, trustProxy: boolean): string {
  const forwarded = trustProxy ? request.headers['x-forwarded-for'] : undefined;
  const list = Array.isArray(forwarded) ? forwarded[0] : forwarded; // Node joins it; the type allows a list
  const first = list ? list.split(',', 1)[0]!.trim() : '';
  return first || request.socket.remoteAddress || '';
}

/** The asker the Koa application read for this request (app.ts puts it first in line). */
export function askerIn(ctx: Context): Asker {
  return ctx.state.asker as Asker;
}
