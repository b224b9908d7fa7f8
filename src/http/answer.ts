import type { ServerResponse } from 'node:http';
import type { Context } from 'koa';
import type { Asker } from './asker.js';

// An answer of forgegate's JSON endpoints before it is written, so that the token lane (the
// bare Node response) and the Koa routes write the same status, headers and body.

export interface Answer {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: object | AsciiJson;
}

/**
 * A body already written as JSON by its endpoint, all of it ASCII: the token answer, whose
 * token appears twice and which JSON.stringify copied each time (token-route.ts says more).
 */
export class AsciiJson {
  constructor(readonly text: string) {}
}

/** Hands the answer to Koa, which adds X-Request-Id (the asker middleware) and the JSON headers. */
export function respond(ctx: Context, answer: Answer): void {
  ctx.status = answer.status;
  ctx.set(answer.headers);
  if (answer.body instanceof AsciiJson) {
    ctx.type = JSON_TYPE; // before the body: Koa types a string body as text
    ctx.body = answer.body.text;
  } else ctx.body = answer.body;
}

/** Koa's type for an object body, which writeAnswer writes too. */
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Writes the answer as Koa would write `respond`'s: same headers, same JSON, one write. As
 * bytes: a string body would be joined to the headers and copied again on its way to the socket.
 */
export function writeAnswer(response: ServerResponse, answer: Answer, asker: Asker): void {
  const { body: value } = answer;
  const body = value instanceof AsciiJson ? Buffer.from(value.text, 'latin1') : Buffer.from(JSON.stringify(value));
  response.writeHead(answer.status, {
    'X-Request-Id': asker.requestId,
    ...answer.headers,
    'Content-Type': JSON_TYPE,
    'Content-Length': body.length,
  });
  response.end(body);
}
