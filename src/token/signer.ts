import { randomFillSync, sign as signWith, type KeyObject } from 'node:crypto';
import type { Grant } from '../policy/types.js';
import { P256_BYTES, rawFromDer } from './ecdsa-der.js';
import { perTurn } from './per-turn.js';
import type { SigningKey } from './keys.js';

// The registry bearer token (docs/protocol.md section 6): aud is a plain string, every time
// claim an integer, and the header carries what the registry needs to find our key.
//
// Signed with node:crypto, not jose: a token is the one thing every request signs, and jose
// goes through WebCrypto, whose argument checks and hand-off to the libuv thread pool cost
// more than an ES256 signature itself (about 30 microseconds). The compact JWS is simple
// enough to write here: the header segment is encoded once per key, the claims once per
// token; ES256 signatures are raw R||S, as JWS requires, read from the DER node:crypto makes
// (`ecdsa-der.ts` says why not `ieee-p1363`). jose still verifies every token in the tests, and
// handles keys, JWKS and refresh tokens.

export type HeaderMode = 'x5c' | 'kid';

export interface SignerOptions {
  issuer: string;
  ttl: number; // seconds
  header: HeaderMode;
}

export interface SignedToken {
  token: string;
  issuedAt: Date;
  expiresIn: number;
}

/** Tolerates registries whose clocks run a little behind ours. */
const NOT_BEFORE_SKEW = 5;

/** A fixed key, or a key ring whose current key may change (promote) while the server runs. */
export type KeySource = SigningKey | { readonly current: SigningKey };

/** What signing with one key needs, prepared once per key. */
interface Prepared {
  key: SigningKey;
  /** `base64url(header) + '.'`: the start of every token under this key. */
  headerSegment: string;
  sign: (input: Buffer) => Promise<Buffer>;
}

export class TokenSigner {
  private prepared: Prepared | undefined;

  constructor(
    private readonly keys: KeySource,
    private readonly options: SignerOptions,
  ) {}

  /** The key that signs now. */
  get key(): SigningKey {
    return 'current' in this.keys ? this.keys.current : this.keys;
  }

  async sign(subject: string, audience: string, access: Grant[], now = Date.now()): Promise<SignedToken> {
    const { headerSegment, sign } = this.prepare(this.key);
    const iat = Math.floor(now / 1000);
    const claims = {
      iss: this.options.issuer,
      sub: subject,
      aud: audience,
      exp: iat + this.options.ttl,
      nbf: iat - NOT_BEFORE_SKEW,
      iat,
      jti: tokenId(),
      access,
    };
    const input = headerSegment + Buffer.from(JSON.stringify(claims)).toString('base64url');
    const signature = await sign(Buffer.from(input, 'latin1')); // base64url is ASCII
    return {
      token: `${input}.${signature.toString('base64url')}`,
      issuedAt: new Date(iat * 1000),
      expiresIn: this.options.ttl,
    };
  }

  private prepare(key: SigningKey): Prepared {
    if (this.prepared?.key === key) return this.prepared;
    const header: Record<string, unknown> = { typ: 'JWT', alg: key.algorithm, kid: key.kid };
    if (this.options.header === 'x5c') header.x5c = [key.certificateBase64];
    const headerSegment = Buffer.from(JSON.stringify(header)).toString('base64url') + '.';
    this.prepared = { key, headerSegment, sign: signerFor(key) };
    return this.prepared;
  }
}

// Token ids come from a pool of random bytes filled 4 KiB at a time: randomBytes(16) per token
// costs a call into OpenSSL's generator each time, several times what the slice costs.
const ID_BYTES = 16;
const idPool = Buffer.alloc(4096);
let idOffset = idPool.length;

/** 128 random bits, base64url: unique per token (the registry may remember jti against replay). */
function tokenId(): string {
  if (idOffset + ID_BYTES > idPool.length) {
    randomFillSync(idPool);
    idOffset = 0;
  }
  const id = idPool.toString('base64url', idOffset, idOffset + ID_BYTES);
  idOffset += ID_BYTES;
  return id;
}

/**
 * The largest group of ES256 signatures made together. The first of a group warms the caches
 * for the rest; but every request of a group is alive until the group is made, and V8's 1 MiB
 * young generation (the memory mode) pays for each one alive in every scavenge. In alternating
 * pinned runs at 50 connections, groups of at most 4, 8, 16, 24, 32 and 48 gave a static
 * account about +5%, +20%, +31%, +34%, +28% and +9% req/s over groups of a whole turn, and a
 * cached GitLab token +18%, +25% and +23% at 8, 16 and 24; at 16, garbage collection fell
 * from 51 to 20 µs per request (CPU profiles).
 */
export const SIGNATURES_PER_GROUP = 16;

/**
 * ES256 on the event loop, grouped while the loop is busy (`perTurn`): the signature costs less
 * than handing it to a thread. RS256 (a 2048-bit signature costs about 10 times as much) goes to
 * the libuv thread pool, where it leaves the event loop free and can use another core.
 */
function signerFor(key: SigningKey): Prepared['sign'] {
  const privateKey: KeyObject = key.privateKey;
  switch (key.algorithm) {
    case 'ES256': {
      const es256 = (input: Buffer) => rawFromDer(signWith('sha256', input, privateKey), P256_BYTES);
      return perTurn(es256, SIGNATURES_PER_GROUP);
    }
    case 'RS256':
      return (input) =>
        new Promise((resolve, reject) =>
          signWith('sha256', input, privateKey, (error, signature) => (error ? reject(error) : resolve(signature))),
        );
  }
}
