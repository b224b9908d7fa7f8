import { collectTargets, startFuzzServer } from './target.js';

// forgegate in a process of its own for the long runs (bench/fuzz.ts, bench/soak.ts): the
// load generator and the fake forge stay in the parent, so this process's memory is the
// server's alone. Run with --expose-gc so the parent can ask for a collected heap.
// Argument: the fake GitLab's URL; optional second: a Redis URL.

const [gitlabUrl, redisUrl] = process.argv.slice(2);
if (!gitlabUrl || !process.send) throw new Error('usage: fork server-child.ts <gitlab-url> [redis-url]');

const server = await startFuzzServer(gitlabUrl, { redisUrl: redisUrl || null });
const targets = await collectTargets(server, gitlabUrl);
process.send({ type: 'ready', url: server.url, targets });

process.on('message', async (message: { type: string }) => {
  if (message.type === 'measure') {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) for (let i = 0; i < 3; i++) (gc(), await new Promise((r) => setImmediate(r)));
    const m = process.memoryUsage();
    process.send!({
      type: 'memory',
      collected: gc !== undefined,
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      logs: server.logStats(),
    });
  }
  if (message.type === 'stop') {
    await server.stop();
    process.exit(0);
  }
});
