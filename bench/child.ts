import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { processCpuSeconds } from './cpu.js';

// A server under test in its own Node process, so that autocannon in the bench process does
// not share its event loop. Both servers announce "listening on HOST:PORT" on stderr
// (forgegate in its start-up banner); stdout, forgegate's audit log, goes to /dev/null.

export interface ServerProcess {
  pid: number;
  url: string;
  /** Peak resident set size so far (VmHWM), in MiB. */
  peakRssMiB(): number;
  /** Resident set size now (VmRSS), in MiB. */
  rssMiB(): number;
  cpuSeconds(): number;
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LISTENING = /listening on \S+:(\d+)/;

const live = new Set<ChildProcess>();
// Last resort for a crash or Ctrl-C in the bench itself.
process.on('exit', () => live.forEach((child) => child.kill('SIGKILL')));

/**
 * `args` are node's arguments, relative to the repository root. `pin`: a command prefix that
 * puts the process on its CPU (load.ts serverPin); taskset executes node in its own process.
 */
export async function startServer(args: string[], pin: string[] = []): Promise<ServerProcess> {
  const [command, ...prefix] = [...pin, process.execPath];
  const child = spawn(command!, [...prefix, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  let stderr = '';
  const port = await new Promise<number>((resolve, reject) => {
    const fail = (why: string) => (clearTimeout(timer), reject(new Error(`node ${args.join(' ')} ${why}\n${stderr}`)));
    const timer = setTimeout(() => fail('did not start within 30 s'), 30_000);
    child.once('exit', (code) => fail(`exited with ${code} before listening`));
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = LISTENING.exec(stderr);
      if (match) (clearTimeout(timer), resolve(Number(match[1])));
    });
  });

  return {
    pid: child.pid!,
    url: `http://127.0.0.1:${port}`,
    peakRssMiB: () => statusMiB(child.pid!, 'VmHWM'),
    rssMiB: () => statusMiB(child.pid!, 'VmRSS'),
    cpuSeconds: () => processCpuSeconds(child.pid!),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      live.delete(child);
    },
  };
}

function statusMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}
