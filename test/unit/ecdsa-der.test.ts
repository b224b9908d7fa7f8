import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { EcdsaDerError, rawFromDer } from '../../src/token/ecdsa-der.js';

// The DER reader against an encoder written here from the rules (X.690: minimal, positive
// INTEGERs), and against OpenSSL's own signatures, verified by OpenSSL as raw R||S.

/** A DER INTEGER of the unsigned big-endian `bytes`, minimal, as X.690 encodes it. */
function derInteger(bytes: Uint8Array): Buffer {
  let first = 0;
  while (first < bytes.length - 1 && bytes[first] === 0) first++;
  let digits = Buffer.from(bytes.subarray(first));
  if (digits[0]! & 0x80) digits = Buffer.concat([Buffer.of(0), digits]);
  return Buffer.concat([Buffer.of(0x02), derLength(digits.length), digits]);
}

function derLength(length: number): Buffer {
  return length < 0x80 ? Buffer.of(length) : Buffer.of(0x81, length);
}

function derSignature(r: Uint8Array, s: Uint8Array): Buffer {
  const body = Buffer.concat([derInteger(r), derInteger(s)]);
  return Buffer.concat([Buffer.of(0x30), derLength(body.length), body]);
}

describe('ECDSA signatures from DER to R||S', () => {
  for (const size of [32, 48, 66]) {
    test(`any two integers of ${size} bytes come back as they went in, left-padded`, () => {
      const integer = fc.uint8Array({ minLength: size, maxLength: size });
      fc.assert(
        fc.property(integer, integer, (r, s) => {
          assert.deepEqual(rawFromDer(derSignature(r, s), size), Buffer.concat([r, s]));
        }),
        { numRuns: 500 },
      );
    });
  }

  test('integers with leading zero bytes, and with the high bit set, keep their place', () => {
    const high = Buffer.alloc(32, 0xff);
    const short = Buffer.concat([Buffer.alloc(3), Buffer.alloc(29, 0x7f)]);
    assert.deepEqual(rawFromDer(derSignature(high, short), 32), Buffer.concat([high, short]));
    assert.deepEqual(rawFromDer(derSignature(short, high), 32), Buffer.concat([short, high]));
  });

  test("OpenSSL's signatures, read here, verify as raw R||S", () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    let padded = 0; // signatures whose r or s is below 2^248: about 1 in 128
    for (let i = 0; i < 2000; i++) {
      const data = Buffer.from(`token ${i}`);
      const raw = rawFromDer(sign('sha256', data, privateKey), 32);
      assert.equal(raw.length, 64);
      if (raw[0] === 0 || raw[32] === 0) padded++;
      assert.ok(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, raw), `signature ${i}`);
    }
    assert.ok(padded > 0, 'some signatures needed padding');
  });

  test('anything else is refused with EcdsaDerError, never another error', () => {
    const refused = (der: number[], size = 32) =>
      assert.throws(() => rawFromDer(Buffer.from(der), size), EcdsaDerError);
    refused([]);
    refused([0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]); // a SET
    refused([0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]); // SEQUENCE longer than its content
    refused([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00]); // trailing byte
    refused([0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01]); // negative r
    refused([0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01]); // empty r
    refused([0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x01]); // s an OCTET STRING
    refused([0x30, 0x82, 0x00, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]); // two-byte length
    refused([...derSignature(Buffer.alloc(33, 0x01), Buffer.of(1))]); // r too long for P-256
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          assert.equal(rawFromDer(bytes, 32).length, 64);
        } catch (error) {
          assert.ok(error instanceof EcdsaDerError, String(error));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
