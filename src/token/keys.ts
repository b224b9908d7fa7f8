import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  webcrypto,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, type JWK } from 'jose';
import { jwkThumbprint, libtrustKeyId } from './kid.js';

// The signing key and its self-signed certificate, kept in token.keyDir:
//   key.pem   PKCS#8 private key, mode 0600
//   cert.pem  the certificate bundle the registry trusts (auth.token.rootcertbundle): the
//             current key's certificate first, then those of the other published keys
//   jwks.json the published public keys with their libtrust kids (registry 3.x `jwks` option)
// Rotation adds next/ and retired/ beside them: see keyring.ts and rotation.ts.

export type Algorithm = 'ES256' | 'RS256';

export interface SigningKey {
  algorithm: Algorithm;
  /** Signs tokens (token/signer.ts, node:crypto) and derives the server's secrets. */
  privateKey: KeyObject;
  publicKey: KeyObject;
  certificatePem: string;
  /** Base64 DER of the certificate, as the JWT `x5c` header carries it. */
  certificateBase64: string;
  notAfter: Date;
  kid: string;
  thumbprint: string;
  jwks: { keys: JWK[] };
  files: { key: string; certificate: string; jwks: string };
}

export class KeyError extends Error {
  override name = 'KeyError';
}

const VALIDITY_YEARS = 10;
// Registries on machines whose clocks trail ours must not see a not-yet-valid certificate.
const BACKDATE_MS = 60 * 60 * 1000;

type X509 = typeof import('@peculiar/x509');

/**
 * @peculiar/x509, loaded only to make a certificate: it and its dependencies hold about 19 MB
 * of memory, which a server that finds its key in place never needs.
 */
async function loadX509(): Promise<X509> {
  // It resolves its algorithms through tsyringe, which needs this polyfill first.
  await import('reflect-metadata');
  return import('@peculiar/x509');
}

const WEBCRYPTO_PARAMS = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
} as const;

export function keyFiles(keyDir: string): SigningKey['files'] {
  return { key: join(keyDir, 'key.pem'), certificate: join(keyDir, 'cert.pem'), jwks: join(keyDir, 'jwks.json') };
}

/**
 * Creates key.pem, cert.pem and jwks.json. Refuses to overwrite a key unless `force`, which
 * also drops staged and retired keys (rotation): the new key is the only one trusted.
 */
export async function generateKey(keyDir: string, algorithm: Algorithm, force = false): Promise<SigningKey> {
  const files = keyFiles(keyDir);
  if (!force && (await exists(files.key))) {
    throw new KeyError(
      `${files.key} already exists; pass --force to replace it (every registry must then trust the new certificate)`,
    );
  }
  await mkdir(keyDir, { recursive: true, mode: 0o700 });
  if (force)
    await Promise.all(['next', 'retired'].map((dir) => rm(join(keyDir, dir), { recursive: true, force: true })));
  const { keyPem, certificatePem } = await createKeyMaterial(algorithm);
  await writeFile(files.key, keyPem, { mode: 0o600 });
  await chmod(files.key, 0o600); // an existing file keeps its old mode on overwrite
  await writeFile(files.certificate, certificatePem, { mode: 0o644 });
  const key = await keyFromPem(algorithm, keyPem, certificatePem, files);
  await writeFile(files.jwks, JSON.stringify(key.jwks, null, 2) + '\n', { mode: 0o644 });
  return key;
}

/** A new key pair and its self-signed certificate, as PEM text. */
export async function createKeyMaterial(algorithm: Algorithm): Promise<{ keyPem: string; certificatePem: string }> {
  const x509 = await loadX509();
  // Node's WebCrypto, typed as the DOM Crypto @peculiar/x509 expects (no DOM lib here).
  const provider = webcrypto as unknown as Parameters<X509['cryptoProvider']['set']>[0];
  const params = WEBCRYPTO_PARAMS[algorithm];
  const keys = (await webcrypto.subtle.generateKey(params, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + VALIDITY_YEARS);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: positiveSerial(),
      name: 'CN=forgegate token signing key',
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      signingAlgorithm: params,
      keys,
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
      ],
    },
    provider,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END PRIVATE KEY-----\n`;
  return { keyPem, certificatePem: certificate.toString('pem') + '\n' };
}

/** Loads the key files, checking that key, certificate and configured algorithm agree. */
export async function loadKey(keyDir: string, algorithm: Algorithm): Promise<SigningKey> {
  const files = keyFiles(keyDir);
  const [keyPem, certPem] = await Promise.all([readText(files.key), readText(files.certificate)]);
  const key = await keyFromPem(algorithm, keyPem, certPem, files);
  if (!(await exists(files.jwks)))
    await writeFile(files.jwks, JSON.stringify(key.jwks, null, 2) + '\n', { mode: 0o644 });
  return key;
}

/** `serve` and first start: load the key, or create one when the directory has none. */
export async function loadOrGenerateKey(
  keyDir: string,
  algorithm: Algorithm,
): Promise<{ key: SigningKey; generated: boolean }> {
  if (await exists(keyFiles(keyDir).key)) return { key: await loadKey(keyDir, algorithm), generated: false };
  return { key: await generateKey(keyDir, algorithm), generated: true };
}

/**
 * Checks that key, certificate and configured algorithm agree, and derives the key ids.
 * `certPem` may be a bundle: the certificate of this key is picked out of it.
 * `algorithm` null: whatever the key is (keys staged or retired by rotation).
 */
export async function keyFromPem(
  algorithm: Algorithm | null,
  keyPem: string,
  certPem: string,
  files: SigningKey['files'],
): Promise<SigningKey> {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch {
    throw new KeyError(`${files.key} is not a PEM private key`);
  }
  const certificates = splitBundle(certPem);
  if (certificates.length === 0) throw new KeyError(`${files.certificate} is not a PEM certificate`);
  const detected = algorithmOf(privateKey);
  if (detected === null || (algorithm !== null && detected !== algorithm)) {
    throw new KeyError(
      `token.algorithm is ${algorithm ?? 'ES256 or RS256'} but ${files.key} holds a ${describeKeyType(privateKey)} key; run "forgegate keys generate --force" or change token.algorithm`,
    );
  }
  algorithm = detected;
  const publicKey = createPublicKey(privateKey);
  const certificate = certificates.find((c) => c.publicKey.equals(publicKey));
  if (certificate === undefined) {
    throw new KeyError(`${files.certificate} does not belong to ${files.key}; run "forgegate keys generate --force"`);
  }
  const kid = libtrustKeyId(publicKey);
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: algorithm };
  return {
    algorithm,
    privateKey,
    publicKey,
    certificatePem: certificate.toString(),
    certificateBase64: certificate.raw.toString('base64'),
    notAfter: new Date(certificate.validTo),
    kid,
    thumbprint: await jwkThumbprint(publicKey),
    jwks: { keys: [jwk] },
    files,
  };
}

/** The certificates of a PEM bundle; text that is not a certificate is skipped. */
export function splitBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.flatMap((block) => {
    try {
      return [new X509Certificate(block)];
    } catch {
      return [];
    }
  });
}

function algorithmOf(key: KeyObject): Algorithm | null {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return null;
}

function describeKeyType(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve ? `${key.asymmetricKeyType} ${curve}` : (key.asymmetricKeyType ?? 'unknown');
}

// X.509 serials must be positive: clear the top bit, and keep the first byte non-zero so
// the DER encoding keeps its full length.
function positiveSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new KeyError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

export async function exists(path: string): Promise<boolean> {
  return readFile(path).then(
    () => true,
    () => false,
  );
}
