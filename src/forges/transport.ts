import http from 'node:http';
import https from 'node:https';

// The transport under the GitLab client: one request over node:http, its answer read whole.
// fetch keeps about three times the memory alive per call in flight (its Request, Response,
// Headers and web streams) and leaves more garbage behind; a cold token request holds its
// calls for the forge's round trip, long enough for all of it to be promoted to the old
// generation. Redirects are not followed: a forge API that answers 3xx is not answering, and
// no credential header is sent anywhere but to the configured URL.

/** An answer as read: status, headers (lower-case names) and the whole body. */
export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpCall {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** A 2xx: the only answers read as data. */
export function succeeded({ status }: HttpAnswer): boolean {
  return status >= 200 && status < 300;
}

/** No forge answer forgegate reads comes near this; a larger one is refused unread. */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

// Connections are kept alive and closed after IDLE_MS unused (fetch's default too).
const IDLE_MS = 4_000;
// Through the proxy HTTP_PROXY, HTTPS_PROXY and NO_PROXY name where node was told to use them
// (NODE_USE_ENV_PROXY=1 or --use-env-proxy, Node.js 24.5 and later), as fetch then goes.
const useEnvProxy = process.env.NODE_USE_ENV_PROXY === '1' || process.execArgv.includes('--use-env-proxy');
const options = { keepAlive: true, timeout: IDLE_MS, ...(useEnvProxy && { proxyEnv: process.env }) };
const agents: Record<string, http.Agent> = { 'http:': new http.Agent(options), 'https:': new https.Agent(options) };

/**
 * Sends one request and reads its answer. A GET on a kept-alive connection that the forge closed
 * as it was reused, before any answer, is the one failure sent again, once: the forge closes an
 * idle connection without reading what crosses its close, and a GET asked twice changes nothing.
 */
export async function send(url: URL, call: HttpCall): Promise<HttpAnswer> {
  try {
    return await attempt(url, call);
  } catch (error) {
    if (!(error instanceof StaleConnection) || (call.method ?? 'GET') !== 'GET') throw error;
    return attempt(url, call);
  }
}

class StaleConnection extends Error {}

function attempt(url: URL, { method = 'GET', headers, body, signal }: HttpCall): Promise<HttpAnswer> {
  const agent = agents[url.protocol];
  if (agent === undefined) return Promise.reject(new TypeError(`${url.protocol} is not http: or https:`));
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(url, { method, headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      let length = 0;
      response.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length <= MAX_ANSWER_BYTES) chunks.push(chunk);
        else request.destroy(new RangeError(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
      });
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks, length) }),
      );
      response.on('error', reject);
      // Closed before its end (the request aborted, the connection dropped): never a partial body.
      response.on('close', () => response.complete || reject(new Error('connection closed before the answer ended')));
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      const stale = request.reusedSocket && error.code === 'ECONNRESET';
      reject(stale ? new StaleConnection('kept-alive connection closed by the forge', { cause: error }) : error);
    });
    // The signal by hand: node's own (`signal` in the options) watches the request through a
    // dozen stream listeners, about 1 KB more per call in flight.
    if (signal !== undefined) {
      const abort = () => request.destroy(new DOMException('the call was aborted', 'AbortError'));
      if (signal.aborted) abort();
      signal.addEventListener('abort', abort, { once: true });
      request.once('close', () => signal.removeEventListener('abort', abort));
    }
    request.end(body);
  });
}
