import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AsciiJson } from '../../src/http/answer.js';
import { responseBody } from '../../src/http/token-route.js';

// The token answer's JSON is written out by hand: it must be exactly what JSON.stringify makes
// of the same fields, for every token and refresh token the signers can produce.

const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,300}$/);
const compact = (count: number) => fc.array(segment, { minLength: count, maxLength: count }).map((s) => s.join('.'));

test('the written-out answer is the JSON of its fields', () => {
  fc.assert(
    fc.property(
      compact(3),
      fc.option(compact(5), { nil: undefined }),
      fc.integer({ min: 60, max: 86_400 }),
      fc.integer({ min: 0, max: 4_102_444_800 }),
      (token, refreshToken, expiresIn, seconds) => {
        const issuedAt = new Date(seconds * 1000);
        const body = responseBody({ token: { token, issuedAt, expiresIn }, refreshToken });
        assert.ok(body instanceof AsciiJson);
        const expected: Record<string, unknown> = {
          token,
          access_token: token,
          expires_in: expiresIn,
          issued_at: issuedAt.toISOString().replace('.000Z', 'Z'),
        };
        if (refreshToken !== undefined) expected.refresh_token = refreshToken;
        assert.equal(body.text, JSON.stringify(expected));
        assert.match(body.text, /^[\x20-\x7e]+$/, 'ASCII, so its Latin-1 bytes are its UTF-8 bytes');
      },
    ),
  );
});
