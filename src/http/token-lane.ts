import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { writeAnswer, type Answer } from './answer.js';
import { askerOf } from './asker.js';
import { answerFailure, type FailureContext } from './errors.js';
import type { TokenEndpoint } from './token-route.js';
import { readGet } from './token-request.js';

// A registry asks for a token on every repository of every pull, and once forgegate holds the
// answers in cache, Koa's own work per request (its context, middleware chain and response
// handling) cost about a fifth of the CPU of a token. The registry's GET therefore takes
// this lane: the bare Node request, straight to the token endpoint, answered and failed with
// the same Answer and error table as every Koa route. Only the exact GET: anything else (HEAD,
// a trailing slash, another case, a fragment) goes to Koa, whose token route answers the same.

export interface TokenLaneOptions {
  /** The token endpoint's paths (server.realmPath and /auth/token). */
  paths: ReadonlySet<string>;
  endpoint: TokenEndpoint;
  trustProxy: boolean;
  logger: Logger;
  /** The realm of the Basic challenge on 401. */
  basicRealm: string;
}

/** The lane, as a Node request listener that returns false for requests it leaves to Koa. */
export type Lane = (request: IncomingMessage, response: ServerResponse) => boolean;

export function tokenLane(options: TokenLaneOptions): Lane {
  const { paths, endpoint, trustProxy, logger, basicRealm } = options;
  return (request, response) => {
    const url = request.url ?? '';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (request.method !== 'GET' || !paths.has(path) || url.includes('#')) return false;
    const asker = askerOf(request, trustProxy);
    const querystring = query === -1 ? '' : url.slice(query + 1);
    const context: FailureContext = { logger, basicRealm, asker };
    endpoint(asker, () => readGet(querystring, request.headers.authorization)).then(
      (answer) => send(response, answer, context),
      (error: unknown) => send(response, answerFailure(error, 'registry', context), context),
    );
    return true;
  };
}

// Writing can throw too (a header Node refuses, such as a realm made of characters outside
// Latin-1): Koa would answer 500, and a rejection left unhandled here would end the process.
function send(response: ServerResponse, answer: Answer, context: FailureContext): void {
  try {
    writeAnswer(response, answer, context.asker);
  } catch (error) {
    if (response.headersSent) response.destroy();
    else writeAnswer(response, answerFailure(error, 'registry', context), context.asker);
  }
}
