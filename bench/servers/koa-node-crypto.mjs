import { createPrivateKey, sign } from 'node:crypto';
import Koa from 'koa';
import { answer, claims, loadKey } from './floor-token.mjs';

// The node:crypto floor: a minimal Koa app that signs forgegate's token (same key, header and
// claims) on every request with crypto.sign, ES256 as raw R||S. What no token server can beat
// on this machine without skipping the signature.
//
// With BUSY_MICROSECONDS it also busy-waits that long per request: the bench pads the floor
// with forgegate's own CPU per request, to see what a server that slow per request, and
// otherwise as simple as the floor, shows at full load and at a steady rate.
//
//   node bench/servers/koa-node-crypto.mjs KEY_DIR [BUSY_MICROSECONDS]

const { keyPem, alg, header } = loadKey(process.argv[2]);
const busyNs = BigInt(Math.round(Number(process.argv[3] ?? 0) * 1000));
const key = createPrivateKey(keyPem);
const options = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key;
const headerSegment = Buffer.from(JSON.stringify(header)).toString('base64url');

const app = new Koa();
app.use((ctx) => {
  if (busyNs > 0n) for (const until = process.hrtime.bigint() + busyNs; process.hrtime.bigint() < until; );
  const payload = claims();
  const input = `${headerSegment}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const token = `${input}.${sign('sha256', Buffer.from(input), options).toString('base64url')}`;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = answer(token, payload.iat);
});
const server = app.listen(0, '127.0.0.1', () => process.stderr.write(`listening on 127.0.0.1:${server.address().port}\n`));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
