import v8 from 'node:v8';
import type { Config } from '../config/schema.js';

// V8's memory-saving settings for `serve`, unless server.optimizeForSize is off. V8 reads both
// flags as it goes, so forgegate sets them itself and no operator has to know them (NODE_OPTIONS
// does not take the first); the CLI sets them before it loads the server's modules.
// - `--optimize-for-size`: the old generation grows close to the live data instead of to several
//   times it. A cold request's objects (each forge call a fetch, with its Request, Response and
//   streams) live through the forge's round trip and are promoted, so they die in the old
//   generation: without it, the memory scenario peaks at 400 MiB.
// - `--semi-space-growth-factor=1`: the young generation keeps its initial size (1 MiB semi-spaces)
//   instead of growing to 16 MiB ones, which the flag above leaves alone: a further 30 MiB off that
//   peak. A token request's garbage is a few kilobytes, so the more frequent scavenges are cheap.

export const MEMORY_FLAGS = ['--optimize-for-size', '--semi-space-growth-factor=1'] as const;

/** Sets the flags (again: idempotent) and returns those set, for the start-up line. */
export function tuneMemory(server: Pick<Config['server'], 'optimizeForSize'>): string[] {
  if (!server.optimizeForSize) return [];
  for (const flag of MEMORY_FLAGS) v8.setFlagsFromString(flag);
  return [...MEMORY_FLAGS];
}
