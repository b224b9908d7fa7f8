// An ECDSA signature as node:crypto makes it by default, DER (`SEQUENCE { INTEGER r, INTEGER s }`),
// turned into the raw R||S that JWS requires (RFC 7518 section 3.4).
//
// node:crypto can do this itself (`dsaEncoding: 'ieee-p1363'`), but on Node.js 24 (OpenSSL 3.5)
// that option doubles the cost of an ES256 signature, about 50 against 25 microseconds in a
// tight loop, while DER costs the same as on Node.js 20. Reading two short integers is cheap.

/** An ECDSA signature that is not the DER this module reads. */
export class EcdsaDerError extends Error {
  override readonly name = 'EcdsaDerError';
}

/** The size of a P-256 integer, each half of an ES256 signature. */
export const P256_BYTES = 32;

const SEQUENCE = 0x30;
const INTEGER = 0x02;

/**
 * R||S, each integer left-padded to `size` bytes (32 for P-256). Throws `EcdsaDerError` when
 * `der` is not one SEQUENCE of two positive INTEGERs that fit in `size` bytes.
 */
export function rawFromDer(der: Uint8Array, size: number): Buffer {
  if (der[0] !== SEQUENCE) throw new EcdsaDerError('not a DER SEQUENCE');
  const { length, start } = readLength(der, 1);
  if (start + length !== der.length) throw new EcdsaDerError('DER SEQUENCE length does not match');
  const raw = Buffer.alloc(2 * size);
  const afterR = copyInteger(der, start, raw, 0, size);
  const afterS = copyInteger(der, afterR, raw, size, size);
  if (afterS !== der.length) throw new EcdsaDerError('trailing bytes after the DER INTEGERs');
  return raw;
}

/** Copies the INTEGER at `at` into `raw[offset, offset + size)`, right-aligned; returns the end. */
function copyInteger(der: Uint8Array, at: number, raw: Buffer, offset: number, size: number): number {
  if (der[at] !== INTEGER) throw new EcdsaDerError('not a DER INTEGER');
  const { length, start } = readLength(der, at + 1);
  const end = start + length;
  if (length === 0 || end > der.length) throw new EcdsaDerError('DER INTEGER length out of range');
  if (der[start]! & 0x80) throw new EcdsaDerError('negative DER INTEGER');
  // DER adds one leading zero byte to a positive integer whose first byte has its high bit set.
  let first = start;
  while (first < end - 1 && der[first] === 0) first++;
  const digits = end - first;
  if (digits > size) throw new EcdsaDerError('DER INTEGER longer than the curve allows');
  raw.set(der.subarray(first, end), offset + size - digits);
  return end;
}

/** A DER length at `at`: one byte below 128, or 0x81 and one byte (P-521's longest). */
function readLength(der: Uint8Array, at: number): { length: number; start: number } {
  const first = der[at];
  if (first === undefined) throw new EcdsaDerError('DER truncated');
  if (first < 0x80) return { length: first, start: at + 1 };
  const second = der[at + 1];
  if (first !== 0x81 || second === undefined || second < 0x80) throw new EcdsaDerError('DER length not allowed');
  return { length: second, start: at + 2 };
}
