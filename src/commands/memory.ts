import v8 from 'node:v8';
import type { Config } from '../config/schema.js';

// V8's memory-saving settings for `serve`, unless server.optimizeForSize is off. No operator has
// to know them: forgegate sets them itself.
//
// Read as V8 goes, set here before the server's modules load (NODE_OPTIONS does not take the first):
// - `--optimize-for-size`: the old generation grows close to the live data instead of to several
//   times it. A cold request's objects (each forge call's request, response and
//   buffers) live through the forge's round trip and are promoted, so they die in the old
//   generation: without it, the memory scenario peaks at 400 MiB.
// - `--semi-space-growth-factor=1`: the young generation keeps its initial size instead of
//   growing to 16 MiB semi-spaces, which the flag above leaves alone: a further 30 MiB off that peak.
//
// Read only as the process starts, set by starting `serve` again with them (`restartTuned`):
// - `--min-semi-space-size=2`: that initial size, 2 MiB semi-spaces instead of 1. A warm token
//   request leaves about 40 KB of garbage, so the young generation is collected every 25 or so
//   requests at 1 MiB; every request in flight then is copied, and what outlives two collections
//   fills the old generation, whose collections (5-11 ms) hold up every request. At 2 MiB there
//   are half as many: the p99 of a cached GitLab token at full load fell from 15.8-23.1 ms to
//   13.3-14.9 on Node.js 20 and from 28.1-30.3 to 11.2-13.6 on 24; the memory scenario's peak
//   stayed within its spread.
// - `--no-memory-reducer`: V8's memory reducer, which some seconds after a collection of the old
//   generation starts two more, compacting every page (15-35 ms each). Under the mode it runs
//   them whatever the load, as though the server were idle: at a steady 1,000 warm requests a
//   second, two such pauses every 8 s or so. Set at run time the flag changes nothing: the
//   reducer is made with the heap. The mode's old-generation policy bounds the heap without
//   it: the memory scenario's peak stayed within its spread (133.5 and 135.6 MiB). An idle
//   server keeps the heap its last load left, until the next allocation collects it.
// - glibc's malloc (GLIBC_TUNABLES), when the operator has not set it: at most 2 arenas, blocks
//   of 32 KiB and more mapped on their own, and free memory at the heap's top returned above
//   32 KiB with no padding kept. Node.js 24's threads otherwise each grew an arena, 31 MiB of
//   which 22 free at the memory scenario's peak. Its peak on Node.js 24: 162.8-165.0 MiB without
//   these, 146.1-155.1 with 2 arenas and 128 KiB, 134.8-141.0 with 32 KiB and no padding, the
//   warm path's CPU per request unchanged within its noise.

export const MEMORY_FLAGS = ['--optimize-for-size', '--semi-space-growth-factor=1'] as const;
export const START_FLAGS = ['--min-semi-space-size=2', '--no-memory-reducer'] as const;
const MALLOC_TUNABLES =
  'glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=32768:glibc.malloc.mmap_threshold=32768:glibc.malloc.top_pad=0';

/** A young-generation size given on node's command line: the operator's, or ours after the restart. */
const SEMI_SPACE_FLAG = /^--(?:min|max)-semi-space-size(?:=|$)/;

/** Sets the flags (again: idempotent) and returns every memory flag in force, for the start-up line. */
export function tuneMemory(server: Pick<Config['server'], 'optimizeForSize'>): string[] {
  if (!server.optimizeForSize) return [];
  for (const flag of MEMORY_FLAGS) v8.setFlagsFromString(flag);
  // Of node's command line: a young-generation size (the operator's or ours), and our start flags.
  const given = process.execArgv.filter((arg) => SEMI_SPACE_FLAG.test(arg) || START_FLAGS.some((f) => f === arg));
  return [...given, ...MEMORY_FLAGS];
}

/**
 * Replaces this process with `node START_FLAGS <its own flags and arguments>`: the same process
 * id, open files and signals, so whoever started `serve` sees no difference. Called before
 * anything is written or listened on. Nothing happens when the mode is off, when node already
 * has a young-generation size (given by the operator, or this restart's), or where Node.js
 * cannot replace a process (before 22.15, Windows, a permission model that forbids it): that
 * process serves as it was started.
 */
export function restartTuned(server: Pick<Config['server'], 'optimizeForSize'>): void {
  if (!server.optimizeForSize || typeof process.execve !== 'function') return;
  if (process.execArgv.some((arg) => SEMI_SPACE_FLAG.test(arg))) return;
  const env = { ...process.env };
  if (usesGlibc() && env.GLIBC_TUNABLES === undefined && env.MALLOC_ARENA_MAX === undefined)
    env.GLIBC_TUNABLES = MALLOC_TUNABLES;
  const args = [process.execPath, ...START_FLAGS, ...process.execArgv, ...process.argv.slice(1)];
  try {
    process.execve(process.execPath, args, env);
  } catch {
    // Refused before anything was replaced: serve as started.
  }
}

/** As detect-libc tells: the report's header names glibc's version (a report without network details, which can be slow). */
function usesGlibc(): boolean {
  // excludeNetwork: Node.js 22.13 and later; @types/node (20) does not know it yet.
  const report = process.report as (typeof process.report & { excludeNetwork?: boolean }) | undefined;
  if (process.platform !== 'linux' || !report) return false;
  const { excludeNetwork } = report;
  report.excludeNetwork = true;
  try {
    const { header } = report.getReport() as { header?: { glibcVersionRuntime?: string } };
    return typeof header?.glibcVersionRuntime === 'string';
  } finally {
    report.excludeNetwork = excludeNetwork;
  }
}
