import { createServer, STATUS_CODES } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FailureKind = 'delay' | 'status' | 'timeout' | 'reset' | 'malformed' | 'truncated' | 'drip';

export interface Injection {
  /** An endpoint name such as 'GET /projects/:id'; absent: every request. */
  endpoint?: string;
  kind: FailureKind;
  /** delay: wait before answering (default 1000); drip: pause between body bytes (default 50). */
  ms?: number;
  /** status: the status to answer with (default 500). */
  status?: number;
  /** status: extra response headers, e.g. Retry-After on a 429. */
  headers?: Record<string, string>;
  /** How many matching requests it hits; absent: until clearInjections(). */
  times?: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** Serialized as JSON; undefined sends no body (304). */
  body?: unknown;
  /** Sent as text/plain instead of a JSON body. */
  text?: string;
}

export interface FakeRequest {
  method: string;
  /** The endpoint name, e.g. 'GET /projects/:id', or 'unmatched'. */
  endpoint: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Single-valued header by lower-case name. */
  header(name: string): string | undefined;
  /** The client's address, for limits kept per address. */
  remoteAddress: string;
}

export interface RecordedRequest {
  endpoint: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

type Handler = (req: FakeRequest) => Reply;

interface Route {
  method: string;
  endpoint: string;
  segments: string[];
  handler: Handler;
}

export const UNMATCHED = 'unmatched';

/**
 * A real HTTP server on 127.0.0.1 that routes GET requests to handlers over an in-memory
 * model, counts calls per endpoint and can misbehave on purpose.
 */
export abstract class FakeServer {
  /** Added before every answer, injected ones included. */
  latencyMs = 0;

  readonly #routes: Route[] = [];
  readonly #log: RecordedRequest[] = [];
  #injections: Injection[] = [];
  #server: Server | undefined;
  #url: string | undefined;
  // Sleeps end early on stop() so that no timer outlives the test.
  readonly #wakers = new Set<() => void>();

  protected abstract readonly contentType: string;
  protected abstract notFound(): Reply;

  /** Every route is reachable under each prefix (GitHub Enterprise's /api/v3 next to the root). */
  protected route(method: string, pattern: string, handler: Handler, prefixes: string[] = ['']): void {
    const endpoint = `${method} ${pattern}`;
    for (const prefix of prefixes) {
      this.#routes.push({ method, endpoint, segments: splitPath(prefix + pattern), handler });
    }
  }

  get url(): string {
    if (!this.#url) throw new Error('fake server not started');
    return this.#url;
  }

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      // A bug in a fake must show up as an answer, not as a hung request.
      this.#serve(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.#send(res, { status: 500, body: { message: `fake failed: ${String(err)}` } });
        else res.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#server = server;
    this.#url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.#url;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const wake of this.#wakers) wake();
    // Held ('timeout') and keep-alive connections would otherwise keep close() waiting.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Requests received for one endpoint, or for all when endpoint is absent. */
  calls(endpoint?: string): number {
    return this.requests(endpoint).length;
  }

  /** What the client sent, oldest first, to assert on headers such as If-None-Match. */
  requests(endpoint?: string): RecordedRequest[] {
    return this.#log.filter((r) => endpoint === undefined || r.endpoint === endpoint);
  }

  resetCalls(): void {
    this.#log.length = 0;
  }

  inject(injection: Injection): void {
    this.#injections.push({ ...injection });
  }

  clearInjections(): void {
    this.#injections = [];
  }

  /** Runs `body` while `injection` is in force, then clears every injection, even when `body` throws. */
  async whileInjected<T>(injection: Injection, body: () => Promise<T>): Promise<T> {
    this.inject(injection);
    try {
      return await body();
    } finally {
      this.clearInjections();
    }
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const match = this.#match(method, url.pathname);
    const fakeReq: FakeRequest = {
      method,
      endpoint: match?.route.endpoint ?? UNMATCHED,
      params: match?.params ?? {},
      query: url.searchParams,
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress ?? '',
      header: (name) => {
        const value = req.headers[name];
        return Array.isArray(value) ? value[0] : value;
      },
    };
    this.#log.push({ endpoint: fakeReq.endpoint, method, url: req.url ?? '/', headers: req.headers });

    await this.#sleep(this.latencyMs);
    const injection = this.#takeInjection(fakeReq.endpoint);
    if (injection?.kind === 'timeout') return; // hold the socket until the client gives up or stop()
    if (injection?.kind === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    if (injection?.kind === 'delay') await this.#sleep(injection.ms ?? 1000);
    if (injection?.kind === 'status') {
      const status = injection.status ?? 500;
      this.#send(res, {
        status,
        ...(injection.headers ? { headers: injection.headers } : {}),
        body: { message: `${status} ${STATUS_CODES[status] ?? ''}`.trim() },
      });
      return;
    }
    if (res.destroyed) return;

    // A body fault needs a body: a conditional request would get an empty 304 instead.
    const bodyFault = injection?.kind === 'malformed' || injection?.kind === 'truncated' || injection?.kind === 'drip';
    const handled = bodyFault
      ? { ...fakeReq, header: (name: string) => (name === 'if-none-match' ? undefined : fakeReq.header(name)) }
      : fakeReq;
    const reply = match ? match.route.handler(handled) : this.notFound();
    switch (injection?.kind) {
      case 'malformed':
        return this.#send(res, reply, (text) => text.slice(0, -1) || '{');
      case 'truncated':
        return this.#sendTruncated(res, reply);
      case 'drip':
        return this.#drip(res, reply, injection.ms ?? 50);
      default:
        return this.#send(res, reply);
    }
  }

  #match(method: string, pathname: string): { route: Route; params: Record<string, string> } | undefined {
    const segments = splitPath(pathname);
    for (const route of this.#routes) {
      if (route.method !== method || route.segments.length !== segments.length) continue;
      const params: Record<string, string> = {};
      const ok = route.segments.every((pattern, i) => {
        const actual = segments[i] ?? '';
        if (pattern.startsWith(':')) {
          params[pattern.slice(1)] = safeDecode(actual);
          return actual !== '';
        }
        return pattern === actual;
      });
      if (ok) return { route, params };
    }
    return undefined;
  }

  #takeInjection(endpoint: string): Injection | undefined {
    const found = this.#injections.find((i) => i.endpoint === undefined || i.endpoint === endpoint);
    if (found?.times !== undefined) {
      found.times -= 1;
      if (found.times <= 0) this.#injections = this.#injections.filter((i) => i !== found);
    }
    return found;
  }

  #encode(reply: Reply): { head: Record<string, string>; body: Buffer | undefined } {
    const text = reply.text ?? (reply.body === undefined ? undefined : JSON.stringify(reply.body));
    const body = text === undefined ? undefined : Buffer.from(text);
    const head: Record<string, string> = { ...reply.headers };
    if (body) head['content-type'] = reply.text === undefined ? this.contentType : 'text/plain';
    head['content-length'] = String(body?.length ?? 0);
    return { head, body };
  }

  #send(res: ServerResponse, reply: Reply, mangle?: (text: string) => string): void {
    if (res.destroyed) return;
    let { head, body } = this.#encode(reply);
    if (mangle) {
      body = Buffer.from(mangle(body?.toString() ?? ''));
      head = { ...head, 'content-type': this.contentType, 'content-length': String(body.length) };
    }
    res.writeHead(reply.status, head);
    res.end(body);
  }

  // Announces the full length, sends half, then drops the connection.
  #sendTruncated(res: ServerResponse, reply: Reply): void {
    const { head, body } = this.#encode(reply);
    res.writeHead(reply.status, head);
    res.write(body?.subarray(0, Math.floor(body.length / 2)) ?? Buffer.alloc(0), () => res.destroy());
  }

  // Keeps bytes flowing so that only a total deadline, not an idle timeout, catches it.
  async #drip(res: ServerResponse, reply: Reply, ms: number): Promise<void> {
    const { head, body } = this.#encode(reply);
    res.writeHead(reply.status, head);
    res.flushHeaders();
    for (const byte of body ?? []) {
      await this.#sleep(ms);
      if (res.destroyed || !this.#server) return;
      res.write(Buffer.of(byte));
    }
    res.end();
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }
}

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
