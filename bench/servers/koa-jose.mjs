import Koa from 'koa';
import { importPKCS8, SignJWT } from 'jose';
import { answer, claims, loadKey } from './floor-token.mjs';

// The jose floor: a minimal Koa app that signs forgegate's token (same key, header and claims)
// on every request with jose's SignJWT and a WebCrypto key (jose's fastest key form in Node).
//
//   node bench/servers/koa-jose.mjs KEY_DIR

const { keyPem, alg, header } = loadKey(process.argv[2]);
const key = await importPKCS8(keyPem, alg);

const app = new Koa();
app.use(async (ctx) => {
  const payload = claims();
  const token = await new SignJWT(payload).setProtectedHeader(header).sign(key);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = answer(token, payload.iat);
});
const server = app.listen(0, '127.0.0.1', () => process.stderr.write(`listening on 127.0.0.1:${server.address().port}\n`));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
