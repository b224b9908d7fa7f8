import Koa from 'koa';

// The baseline: the smallest Koa app, so the ratio shows what forgegate's own work costs.
// Plain JavaScript, like dist/cli.js: a tsx loader would add its own thread and ~30 MiB of RSS.

const app = new Koa();
app.use((ctx) => {
  ctx.body = 'Hello World';
});
const server = app.listen(0, '127.0.0.1', () => process.stderr.write(`listening on 127.0.0.1:${server.address().port}\n`));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
