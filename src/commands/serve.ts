import { resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { runtimeApp } from '../http/app.js';
import { redisStatus, registrySettings } from '../http/status/facts.js';
import { listen, type RunningServer } from '../http/server.js';
import { createLogger, type Logger } from '../log.js';
import { Metrics } from '../metrics.js';
import { buildRuntime, certificateDaysLeft, type Runtime } from '../runtime.js';
import { VERSION } from '../version.js';
import { banner } from './banner.js';
import { CommandError, requireHtpasswd } from './io.js';
import { tuneMemory } from './memory.js';

// `forgegate serve`: start, print the registry settings that match, stop gracefully.

const EXPIRY_WARNING_DAYS = 30;

export interface Serving {
  runtime: Runtime;
  server: RunningServer;
  realm: string;
  stop(): Promise<void>;
}

/** `handleSignals`: stop gracefully on SIGTERM/SIGINT and exit (the CLI; not tests). */
export async function serve(
  loaded: LoadedConfig,
  logger: Logger = createLogger(),
  handleSignals = false,
): Promise<Serving> {
  const v8Flags = tuneMemory(loaded.config.server);
  await requireHtpasswd(loaded.config.users.htpasswd);
  const metrics = new Metrics();
  const runtime = await buildRuntime(loaded.config, logger, 'generate', metrics.observers);
  const { config, key } = runtime;
  if (runtime.keyGenerated)
    logger.info({ kid: key.kid, keyDir: resolve(config.token.keyDir) }, 'generated a new signing key');
  const daysLeft = certificateDaysLeft(key);
  if (daysLeft < EXPIRY_WARNING_DAYS) {
    logger.warn(
      { notAfter: key.notAfter.toISOString(), daysLeft },
      'signing certificate expires soon: run "forgegate keys generate --force" and update the registry',
    );
  }

  const { app, close: closeApp } = runtimeApp(runtime, logger, metrics, async () => readiness(runtime));
  let server: RunningServer;
  try {
    server = await listen(app, config.server);
  } catch (error) {
    throw new CommandError(
      `cannot listen on ${config.server.listen}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  const stop = async () => {
    await server.close();
    closeApp();
    await runtime.close();
    logger.info('forgegate stopped');
    logger.flush();
  };
  // Installed before the banner: whoever reads the banner may signal us at once.
  if (handleSignals) {
    const shutdown = () => void stop().then(() => process.exit(0));
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
    // Keys are also re-read when jwks.json or key.pem change; SIGHUP does it at once.
    process.on('SIGHUP', () => void runtime.keys.reload());
  }
  const realm = realmUrl(runtime, server);
  const settings = registrySettings(runtime, realm);
  process.stderr.write(banner(loaded, runtime, server, settings));
  logger.info(
    {
      version: VERSION,
      config: loaded.file ?? 'built-in defaults',
      listen: server.address,
      kid: key.kid,
      algorithm: key.algorithm,
      registry: settings,
      v8Flags,
    },
    'forgegate started',
  );

  return { runtime, server, realm, stop };
}

async function readiness(runtime: Runtime): Promise<Record<string, unknown>> {
  const forges = Object.fromEntries(
    runtime.forges.map((forge) => [forge.name, { type: forge.type, prefix: forge.prefix }]),
  );
  return { redis: redisStatus(runtime), forges };
}

function realmUrl(runtime: Runtime, server: RunningServer): string {
  const { publicUrl, realmPath, tls } = runtime.config.server;
  if (publicUrl !== null) return `${publicUrl.replace(/\/+$/, '')}${realmPath}`;
  const { host, port } = server.address;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `${tls.cert ? 'https' : 'http'}://${shown}:${port}${realmPath}`;
}
