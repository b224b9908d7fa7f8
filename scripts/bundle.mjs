// `npm run build`, second step: bundles what `tsc` compiled (build/) into the program (dist/).
//
// Why a bundle: a running process keeps every module's source text in its heap, comments and
// indentation included, and a record for each of the 260 or so modules `serve` loads (its
// resolved paths, its exports). Bundled and minified, the memory scenario of `npm run bench`
// peaked 3.4 MiB lower (140.1 against 143.5 MiB, means of six alternating pairs on Node.js 24),
// and nothing else changes: the same code runs, against the same node_modules for what stays
// outside. Bundled but not minified it peaked higher: a bundle holds the source of every module
// it may load, where Node.js held only those it loaded.
//
// - Names are kept (`keepNames`): error types, stack traces and logs name what the source names.
// - Chunks sit beside cli.js: src/version.ts finds package.json one level above its own file.
// - Outside the bundle, required from node_modules as before:
//   - the certificate code, loaded only to make a key: its dependency injection reads
//     decorator metadata that bundling reorders;
//   - data tables that a bundle would hold as source text besides the data: mime-db (three
//     copies, 420 KB) and iconv-lite's character sets (460 KB, read only for other charsets
//     than UTF-8). mime-db resolves to its top-level copy, the newest.
// - Bundled CommonJS modules `require` Node's own modules: each file defines `require`.
// - Source maps go beside the files (`node --enable-source-maps` reads them).
import { rm } from 'node:fs/promises';
import { build } from 'esbuild';

const OUT = 'dist';

await rm(OUT, { recursive: true, force: true });
await build({
  entryPoints: ['build/cli.js'],
  outdir: OUT,
  bundle: true,
  splitting: true, // the commands `cli.js` imports when asked stay in their own files
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  keepNames: true,
  sourcemap: true,
  external: ['@peculiar/x509', 'reflect-metadata', 'mime-db', 'iconv-lite'],
  banner: {
    js: "import { createRequire as __forgegateRequire } from 'node:module'; const require = __forgegateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
