import v8 from 'node:v8';
import type { Config } from '../config/schema.js';

// V8's memory-saving mode for `serve`, unless server.optimizeForSize is off. V8 reads the flag
// as it goes: its heap then grows close to the live data instead of to several times it, which
// keeps the garbage of cold forge calls (each a fetch, with its Request, Response and streams)
// from swelling the process. Set by forgegate rather than on node's command line, so that no
// operator has to know it (NODE_OPTIONS does not take it); the CLI sets it before it loads the
// server's modules, whose loading it then already shapes.

export const MEMORY_FLAGS = ['--optimize-for-size'] as const;

/** Sets the flags (again: idempotent) and returns those set, for the start-up line. */
export function tuneMemory(server: Pick<Config['server'], 'optimizeForSize'>): string[] {
  if (!server.optimizeForSize) return [];
  for (const flag of MEMORY_FLAGS) v8.setFlagsFromString(flag);
  return [...MEMORY_FLAGS];
}
