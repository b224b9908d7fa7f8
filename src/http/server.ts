import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Config } from '../config/schema.js';

// The listening socket: HTTP or HTTPS, JSON even for requests Node rejects before Koa
// sees them (oversized headers, broken HTTP), and a shutdown that lets requests finish.

export interface RunningServer {
  server: Server;
  address: { host: string; port: number };
  close(graceMs?: number): Promise<void>;
}

export async function listen(handler: RequestListener, config: Config['server']): Promise<RunningServer> {
  const server: Server =
    config.tls.cert && config.tls.key
      ? createHttpsServer({ cert: await readFile(config.tls.cert), key: await readFile(config.tls.key) }, handler)
      : createHttpServer(handler);
  server.headersTimeout = 15_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 30_000;
  server.on('clientError', rejectMalformed);

  const { host, port } = splitListen(config.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  const address = typeof bound === 'object' && bound ? { host, port: bound.port } : { host, port };
  return { server, address, close: (graceMs = 10_000) => closeGracefully(server, graceMs) };
}

export function splitListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? '0.0.0.0' : host, port: Number(listen.slice(colon + 1)) };
}

function rejectMalformed(error: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
  const body = JSON.stringify({
    errors: [
      {
        code: tooLarge ? 'REQUEST_TOO_LARGE' : 'INVALID_REQUEST',
        message: tooLarge ? 'request headers are too large' : 'malformed HTTP request',
      },
    ],
  });
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

// Stop accepting, let in-flight requests finish within the bound, then cut what is left.
async function closeGracefully(server: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // A keep-alive connection whose request finishes after close() would idle until the bound:
  // close each one as soon as it has answered.
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearInterval(sweep);
  clearTimeout(timer);
}
