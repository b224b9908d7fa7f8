import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { loadKeySet, type KeySet } from '../token/keyring.js';
import { generateKey, keyFiles, KeyError, type SigningKey } from '../token/keys.js';
import { promote, publish, rotate } from '../token/rotation.js';
import { CommandError } from './io.js';

// `forgegate keys generate|show|rotate|promote|prune`: the keys and what a registry needs to
// trust them. Rotation without downtime is docs/key-rotation.md.

export async function keysGenerate(config: Config, force: boolean): Promise<void> {
  const key = await generateKey(config.token.keyDir, config.token.algorithm, force);
  process.stderr.write(
    `forgegate: generated a ${key.algorithm} key in ${resolve(config.token.keyDir)} (kid ${key.kid})\n`,
  );
  process.stdout.write(JSON.stringify(describe(await load(config)), null, 2) + '\n');
}

export async function keysShow(config: Config): Promise<void> {
  process.stdout.write(JSON.stringify(describe(await load(config)), null, 2) + '\n');
}

export async function keysRotate(config: Config): Promise<void> {
  await load(config); // the usual message when there is no key at all
  const set = await run(() => rotate(config.token.keyDir, config.token.algorithm));
  process.stderr.write(
    `forgegate: staged next key ${set.next!.kid}; it signs nothing yet. Give every registry the new ${resolve(keyFiles(config.token.keyDir).certificate)} (2.8: restart it) or jwks.json (3.x), then run "forgegate keys promote"\n`,
  );
  process.stdout.write(JSON.stringify(describe(set), null, 2) + '\n');
}

export async function keysPromote(config: Config): Promise<void> {
  await load(config);
  const set = await run(() =>
    promote(config.token.keyDir, config.token.algorithm, {
      ttl: config.token.ttl,
      refreshTtl: config.token.refreshTtl,
    }),
  );
  const retired = set.retired[0]!;
  process.stderr.write(
    `forgegate: ${set.current.kid} signs now (running servers pick it up within seconds, or on SIGHUP). ${retired.key.kid} stays published until ${retired.publishUntil}: after that run "forgegate keys prune" and give the registries the new bundle\n`,
  );
  process.stdout.write(JSON.stringify(describe(set), null, 2) + '\n');
}

export async function keysPrune(config: Config): Promise<void> {
  await load(config);
  const set = await run(() => publish(config.token.keyDir, config.token.algorithm));
  process.stdout.write(JSON.stringify(describe(set), null, 2) + '\n');
}

async function load(config: Config): Promise<KeySet> {
  try {
    return await loadKeySet(config.token.keyDir, config.token.algorithm);
  } catch (error) {
    const files = keyFiles(config.token.keyDir);
    throw new CommandError(
      `${(error as Error).message} (no usable key at ${files.key}? run "forgegate keys generate")`,
    );
  }
}

async function run(step: () => Promise<KeySet>): Promise<KeySet> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof KeyError) throw new CommandError(error.message);
    throw error;
  }
}

// The {kid, thumbprint, algorithm, certificate, jwks} README promises for the current key, `jwks`
// holding every published key; rotation adds the bundle, the staged and the retired keys.
function describe(set: KeySet) {
  const key = set.current;
  const files = keyFiles(set.keyDir);
  const brief = (k: SigningKey) => ({
    kid: k.kid,
    thumbprint: k.thumbprint,
    algorithm: k.algorithm,
    notAfter: k.notAfter.toISOString(),
  });
  return {
    kid: key.kid,
    thumbprint: key.thumbprint,
    algorithm: key.algorithm,
    certificate: key.certificatePem,
    certificateFile: resolve(files.certificate),
    notAfter: key.notAfter.toISOString(),
    jwks: set.jwks(),
    jwksFile: resolve(files.jwks),
    certificateBundle: set.bundle(),
    next: set.next === null ? null : brief(set.next),
    retired: set.retired.map((r) => ({
      ...brief(r.key),
      retiredAt: r.retiredAt,
      publishUntil: r.publishUntil,
      keepUntil: r.keepUntil,
    })),
  };
}
