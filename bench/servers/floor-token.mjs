import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// What the two signing floors share: forgegate's key (its key directory, made by `forgegate
// keys generate`), the header forgegate puts on its tokens (typ, alg, kid, x5c), the claims of
// a static account's token, and the answer's shape. Only the signing differs between floors.

export const SERVICE = 'registry.bench';
export const ISSUER = 'forgegate';
export const TTL = 300;

export function loadKey(keyDir) {
  const keyPem = readFileSync(join(keyDir, 'key.pem'), 'utf8');
  const certificatePem = readFileSync(join(keyDir, 'cert.pem'), 'utf8');
  const jwk = JSON.parse(readFileSync(join(keyDir, 'jwks.json'), 'utf8')).keys[0];
  const certificateBase64 = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(certificatePem)[1].replace(/\s+/g, '');
  return { keyPem, alg: jwk.alg, header: { typ: 'JWT', alg: jwk.alg, kid: jwk.kid, x5c: [certificateBase64] } };
}

export function claims(now = Date.now()) {
  const iat = Math.floor(now / 1000);
  return {
    iss: ISSUER,
    sub: 'ci-bench',
    aud: SERVICE,
    exp: iat + TTL,
    nbf: iat - 5,
    iat,
    jti: randomBytes(16).toString('base64url'),
    access: [{ type: 'repository', name: 'bench/app', actions: ['pull', 'push'] }],
  };
}

export function answer(token, iat) {
  return { token, access_token: token, expires_in: TTL, issued_at: new Date(iat * 1000).toISOString().replace('.000Z', 'Z') };
}
