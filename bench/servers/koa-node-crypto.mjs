import { createPrivateKey, sign } from 'node:crypto';
import Koa from 'koa';
import { P256_BYTES, rawFromDer } from '../../build/token/ecdsa-der.js';
import { perTurn } from '../../build/token/per-turn.js';
import { SIGNATURES_PER_GROUP } from '../../build/token/signer.js';
import { answer, claims, loadKey } from './floor-token.mjs';

// The node:crypto floor: a minimal Koa app that signs forgegate's token (same key, header and
// claims) on every request with crypto.sign, ES256 as raw R||S read from DER as forgegate does
// (`dsaEncoding: 'ieee-p1363'` costs twice as much on Node.js 24). What no token server can beat
// on this machine without skipping the signature.
//
// With BUSY_MICROSECONDS it also busy-waits that long per request: the bench pads the floor
// with forgegate's own CPU per request, to see what a server that slow per request, and
// otherwise as simple as the floor, shows at full load and at a steady rate.
//
// With `grouped` it signs as forgegate does: the signatures asked for in one turn of the event
// loop are made together after it, in groups of forgegate's size (build/token/, which `npm run
// bench` builds), so that forgegate's own CPU can be counted from a floor that signs the same way.
//
//   node bench/servers/koa-node-crypto.mjs KEY_DIR [BUSY_MICROSECONDS] [grouped]

const { keyPem, alg, header } = loadKey(process.argv[2]);
const busyNs = BigInt(Math.round(Number(process.argv[3] ?? 0) * 1000));
const key = createPrivateKey(keyPem);
const headerSegment = Buffer.from(JSON.stringify(header)).toString('base64url');
const signNow =
  alg === 'ES256'
    ? (input) => rawFromDer(sign('sha256', Buffer.from(input), key), P256_BYTES)
    : (input) => sign('sha256', Buffer.from(input), key);
const grouped = process.argv[4] === 'grouped' ? perTurn(signNow, SIGNATURES_PER_GROUP) : null;

const app = new Koa();
app.use((ctx) => {
  if (busyNs > 0n) for (const until = process.hrtime.bigint() + busyNs; process.hrtime.bigint() < until; );
  const payload = claims();
  const input = `${headerSegment}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  if (grouped === null) return reply(ctx, input, signNow(input), payload.iat);
  return grouped(input).then((signature) => reply(ctx, input, signature, payload.iat));
});

function reply(ctx, input, signature, iat) {
  ctx.set('Cache-Control', 'no-store');
  ctx.body = answer(`${input}.${signature.toString('base64url')}`, iat);
}

const server = app.listen(0, '127.0.0.1', () => process.stderr.write(`listening on 127.0.0.1:${server.address().port}\n`));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
