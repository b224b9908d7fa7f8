import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LOG_FLUSH_MS } from '../../src/log.js';
import { CLI } from './cli.js';
import { onFreePort } from './ports.js';
import { makeTempDir, spawnManaged, waitUntilReady } from './processes.js';

// The built program (`node dist/cli.js serve`), as an operator runs it: for end-to-end tests
// that must prove the binary, its config loading and its start-up, not just the library.

export interface ForgegateProcess {
  url: string;
  realm: string;
  dir: string;
  certificate: string;
  /** Parsed JSON log lines (stdout) so far. */
  auditLines(): Record<string, unknown>[];
  /** The newest token-request line matching `predicate`, waiting for the asynchronous log write. */
  waitForAudit(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /**
   * The number of log lines once forgegate has written all it had buffered (no new line for a
   * few flush intervals): a mark after which only lines of later requests appear.
   */
  settledLineCount(): Promise<number>;
  logs(): string;
  stop(): Promise<void>;
}

/** `configYaml` may use {{PORT}} and {{DIR}}; keyDir defaults to DIR/keys. */
export function startForgegateProcess(configYaml: string): Promise<ForgegateProcess> {
  return onFreePort(async (port) => {
    const dir = await makeTempDir('forgegate');
    const config = join(dir, 'forgegate.yaml');
    await writeFile(config, configYaml.replaceAll('{{PORT}}', String(port)).replaceAll('{{DIR}}', dir));
    const proc = spawnManaged(process.execPath, [CLI, 'serve', '--config', config], {
      cwd: dir,
      env: { ...process.env, LOG_LEVEL: 'info' },
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntilReady(
        `forgegate on ${port}`,
        proc,
        async () => (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok,
      );
    } catch (error) {
      if (/EADDRINUSE/.test(proc.logs())) throw new Error('address already in use');
      throw error;
    }
    const auditLines = () =>
      proc
        .logs()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    const settle = async (): Promise<number> => {
      let count = auditLines().length;
      for (let quiet = 0; quiet < 3;) {
        await new Promise((resolve) => setTimeout(resolve, LOG_FLUSH_MS));
        const now = auditLines().length;
        quiet = now === count ? quiet + 1 : 0;
        count = now;
      }
      return count;
    };
    return {
      url,
      realm: `${url}/token`,
      dir,
      certificate: join(dir, 'keys', 'cert.pem'),
      auditLines,
      async waitForAudit(predicate, timeoutMs = 3000) {
        // The log is written in blocks: an older line may match while the newest is still
        // buffered, so first wait until what forgegate had buffered is out.
        await settle();
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const line = auditLines().findLast((l) => l.msg === 'token request' && predicate(l));
          if (line) return line;
          if (Date.now() > deadline) throw new Error(`no matching audit line; log:\n${proc.logs().slice(-3000)}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      },
      settledLineCount: settle,
      logs: () => proc.logs(),
      stop: () => proc.stop(),
    };
  });
}
