import { connect } from 'node:net';
import { onFreePort } from './ports.js';
import { makeTempDir, removeTempDir, spawnManaged, waitUntilReady, type ManagedProcess } from './processes.js';

export interface RunningRedis {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Stops the server for good and removes its directory. */
  stop(): Promise<void>;
  /** SIGKILL, to test how callers survive a crashed Redis. */
  kill(): Promise<void>;
  /** Starts a new, empty server on the same port, killing the current one if it still runs. */
  restart(): Promise<void>;
  /** SIGSTOP: the server holds its connections but answers nothing (a hung Redis). */
  pause(): Promise<void>;
  /** SIGCONT after pause(). */
  resume(): Promise<void>;
}

/** A private, non-persistent redis-server; or, when REDIS_URL is set, that server untouched. */
export async function startRedis(): Promise<RunningRedis> {
  const external = process.env.REDIS_URL;
  if (external !== undefined && external !== '') return externalRedis(external);

  const dir = await makeTempDir('redis');
  try {
    const first = await onFreePort(async (port) => ({ port, proc: await spawnRedis(port, dir) }));
    const { port } = first;
    let proc = first.proc;
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      async stop() {
        await proc.stop();
        await removeTempDir(dir);
      },
      kill: () => proc.stop('SIGKILL'),
      async restart() {
        await proc.stop('SIGKILL');
        proc = await spawnRedis(port, dir);
      },
      pause: async () => void process.kill(proc.pid, 'SIGSTOP'),
      resume: async () => void process.kill(proc.pid, 'SIGCONT'),
    };
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}

function externalRedis(url: string): RunningRedis {
  const unavailable = (what: string) => () =>
    Promise.reject(new Error(`redis ${what}() is not available with REDIS_URL (${url})`));
  return {
    url,
    port: Number(new URL(url).port || 6379),
    stop: () => Promise.resolve(),
    kill: unavailable('kill'),
    restart: unavailable('restart'),
    pause: unavailable('pause'),
    resume: unavailable('resume'),
  };
}

/** redis-server's arguments to listen on 127.0.0.1:`port` only and keep its files in `dir`. */
export function loopbackRedisArgs(port: number, dir: string): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir];
}

async function spawnRedis(port: number, dir: string): Promise<ManagedProcess> {
  const args = [...loopbackRedisArgs(port, dir), '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
  const proc = spawnManaged('redis-server', args, { cwd: dir, env: process.env });
  await waitUntilReady(`redis-server on port ${port}`, proc, () => ping(port));
  return proc;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      reply += chunk;
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
  });
}
