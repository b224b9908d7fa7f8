import type { ServerResponse } from 'node:http';
import type { Context } from 'koa';
import type { Asker } from './asker.js';

// An answer of forgegate's JSON endpoints before it is written, so that the token lane (the
// bare Node response) and the Koa routes write the same status, headers and body.

export interface Answer {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: object;
}

/** Hands the answer to Koa, which adds X-Request-Id (the asker middleware) and the JSON headers. */
export function respond(ctx: Context, answer: Answer): void {
  ctx.status = answer.status;
  ctx.set(answer.headers);
  ctx.body = answer.body;
}

/** Writes the answer as Koa would write `respond`'s: same headers, same JSON, one write. */
export function writeAnswer(response: ServerResponse, answer: Answer, asker: Asker): void {
  const body = JSON.stringify(answer.body);
  response.writeHead(answer.status, {
    'X-Request-Id': asker.requestId,
    ...answer.headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  response.end(body);
}
