import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { generateKey, keyFiles, loadKey, type SigningKey } from '../token/keys.js';
import { CommandError } from './io.js';

// `forgegate keys generate|show`: the key and what a registry needs to trust it.

export async function keysGenerate(config: Config, force: boolean): Promise<void> {
  const key = await generateKey(config.token.keyDir, config.token.algorithm, force);
  process.stderr.write(`forgegate: generated a ${key.algorithm} key in ${resolve(config.token.keyDir)} (kid ${key.kid})\n`);
  process.stdout.write(JSON.stringify(describe(key), null, 2) + '\n');
}

export async function keysShow(config: Config): Promise<void> {
  let key: SigningKey;
  try {
    key = await loadKey(config.token.keyDir, config.token.algorithm);
  } catch (error) {
    const files = keyFiles(config.token.keyDir);
    throw new CommandError(`${(error as Error).message} (no usable key at ${files.key}? run "forgegate keys generate")`);
  }
  process.stdout.write(JSON.stringify(describe(key), null, 2) + '\n');
}

function describe(key: SigningKey) {
  return {
    kid: key.kid,
    thumbprint: key.thumbprint,
    algorithm: key.algorithm,
    certificate: key.certificatePem,
    certificateFile: resolve(key.files.certificate),
    notAfter: key.notAfter.toISOString(),
    jwks: key.jwks,
  };
}
