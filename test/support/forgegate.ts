import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { runAfterAnswers } from '../../src/http/after-answers.js';
import { runtimeApp } from '../../src/http/app.js';
import type { BruteForceGuard } from '../../src/http/guard/brute-force.js';
import { listen } from '../../src/http/server.js';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { buildRuntime, type Runtime } from '../../src/runtime.js';
import { makeTempDir } from './processes.js';
import { textSink } from './text-sink.js';

// forgegate in the test process: the real runtime and Koa app on a loopback port, with
// every log line captured for assertions.

export interface TestForgegate {
  url: string;
  runtime: Runtime;
  /** The brute-force guard of the app (limits). */
  guard: BruteForceGuard;
  config: Config;
  metrics: Metrics;
  /** Parsed JSON log lines so far. */
  logs(): Record<string, unknown>[];
  /** The raw log text, for grepping secrets. */
  rawLogs(): string;
  stop(): Promise<void>;
}

/**
 * `raw` is a configuration as it would be parsed from YAML; keyDir defaults to a temp dir and
 * the cache TTLs to 0 (no caching) and brute-force limits off (suites that fail logins on purpose
 * would ban 127.0.0.1); a test that wants them sets `limits`.
 */
export async function startForgegate(raw: Record<string, any> = {}): Promise<TestForgegate> {
  const keyDir = raw.token?.keyDir ?? (await makeTempDir('keys'));
  const config = parseConfig(
    // No caching unless a test asks for it: most suites pin what the forge is asked each time.
    {
      forges: [],
      ...raw,
      server: { listen: '127.0.0.1:0', ...raw.server },
      token: { ...raw.token, keyDir },
      cache: { identityTtl: 0, decisionTtl: 0, negativeTtl: 0, ...raw.cache },
      limits: raw.limits ?? { enabled: false },
    },
    process.env,
    'test',
  );
  const { sink, text } = textSink();
  const logger = createLogger('info', sink);
  const metrics = new Metrics();
  const runtime = await buildRuntime(config, logger, 'generate', metrics.observers);
  const { app, guard, close } = runtimeApp(runtime, logger, metrics);
  const server = await listen(app, config.server);
  // Audit lines are written just after their answers: a test reads them as soon as it has one.
  const written = () => (runAfterAnswers(), text());
  return {
    url: `http://127.0.0.1:${server.address.port}`,
    runtime,
    guard,
    config,
    metrics,
    logs: () =>
      written()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    rawLogs: written,
    stop: async () => {
      await server.close(100);
      close();
      await runtime.close();
    },
  };
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
