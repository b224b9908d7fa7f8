import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FuzzTargets } from './generators.js';
import { reapAtExit } from '../support/processes.js';

// The parent's handle on server-child.ts: start it, measure its memory after a forced GC,
// notice when it dies.

export interface ChildMemory {
  collected: boolean;
  rss: number;
  heapUsed: number;
  external: number;
  logs: { lines: number; leaks: number; leaked: string[] };
}

export interface ServerChild {
  url: string;
  pid: number;
  targets: FuzzTargets;
  /** Set once the child has exited; a crash when it happens before stop(). */
  exited(): string | undefined;
  measure(): Promise<ChildMemory>;
  /** RSS from /proc without a GC, for sampling under load (bytes). */
  rssNow(): number;
  stop(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL('./server-child.ts', import.meta.url));

export async function startServerChild(gitlabUrl: string, redisUrl = ''): Promise<ServerChild> {
  const child: ChildProcess = fork(SCRIPT, [gitlabUrl, redisUrl], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  reapAtExit(child);
  let exit: string | undefined;
  let stopping = false;
  child.on('exit', (code, signal) => (exit = stopping ? 'stopped' : `crashed: code ${code}, signal ${signal}`));
  const ready = await new Promise<{ url: string; targets: FuzzTargets }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server child did not start within 30 s')), 30_000);
    child.on(
      'message',
      (m: { type: string; url: string; targets: FuzzTargets }) =>
        m.type === 'ready' && (clearTimeout(timer), resolve(m)),
    );
    child.once('exit', () => (clearTimeout(timer), reject(new Error(`server child exited before ready: ${exit}`))));
  });
  const { readFileSync } = await import('node:fs');
  return {
    url: ready.url,
    pid: child.pid!,
    targets: ready.targets,
    exited: () => exit,
    measure: () =>
      new Promise((resolve, reject) => {
        const onMessage = (m: ChildMemory & { type: string }) => {
          if (m.type !== 'memory') return;
          child.off('message', onMessage);
          resolve(m);
        };
        child.on('message', onMessage);
        if (exit !== undefined) reject(new Error(`server child ${exit}`));
        child.send({ type: 'measure' });
      }),
    rssNow: () => {
      try {
        const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
        return Number(kb ?? 0) * 1024;
      } catch {
        return 0;
      }
    },
    stop: async () => {
      if (exit !== undefined) return;
      stopping = true;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}
