import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { onFreePort } from './ports.js';
import { makeTempDir, removeTempDir, spawnManaged, waitUntilReady } from './processes.js';

export interface RegistryOptions {
  realm: string;
  service: string;
  issuer: string;
  /** Path to the PEM certificate bundle the registry verifies tokens against. */
  rootCertBundle: string;
  autoredirect?: boolean;
}

export interface RunningRegistry {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, as used in image references. */
  host: string;
  logs(): string;
  stop(): Promise<void>;
}

/** Runs a distribution registry (docker-registry 2.8) with token auth and throwaway storage. */
export function startRegistry(options: RegistryOptions): Promise<RunningRegistry> {
  return onFreePort((port) => startOnPort(port, options));
}

/** A registry that trusts the tokens `fg` signs: its realm and its certificate. */
export function startRegistryFor(
  fg: { realm: string; certificate: string },
  names: { service: string; issuer: string },
): Promise<RunningRegistry> {
  return startRegistry({ realm: fg.realm, rootCertBundle: fg.certificate, ...names });
}

async function startOnPort(port: number, options: RegistryOptions): Promise<RunningRegistry> {
  const dir = await makeTempDir('registry');
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const config = {
    version: '0.1',
    log: { level: 'info', formatter: 'text' },
    storage: { filesystem: { rootdirectory: join(dir, 'data') }, delete: { enabled: true } },
    // A fixed secret keeps a warning about generating one out of logs().
    http: { addr: host, secret: 'forgegate-e2e' },
    auth: {
      token: {
        realm: options.realm,
        service: options.service,
        issuer: options.issuer,
        rootcertbundle: options.rootCertBundle,
        autoredirect: options.autoredirect ?? false,
      },
    },
  };
  const configPath = join(dir, 'config.yml');
  // JSON is valid YAML, and spares us quoting paths and URLs by hand.
  await writeFile(configPath, JSON.stringify(config, null, 2));

  const proc = spawnManaged('docker-registry', ['serve', configPath], { cwd: dir, env: registryEnv() });
  const stop = async (): Promise<void> => {
    await proc.stop();
    await removeTempDir(dir);
  };
  try {
    await waitUntilReady(`docker-registry on ${host}`, proc, async () => {
      const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      return response.status === 401;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, host, logs: () => proc.logs(), stop };
}

// distribution overrides config.yml with any REGISTRY_<SECTION>_<KEY> variable
// (REGISTRY_AUTH_FILE, set for podman, would become auth.file), so drop them all.
function registryEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('REGISTRY_')));
}
