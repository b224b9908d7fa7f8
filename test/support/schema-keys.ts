import type { z } from 'zod';

// Every key path a zod configuration schema accepts, for the tests that keep the
// documentation and the example configuration complete.

type Schema = z.core.$ZodType;

/** The schema under wrappers (default, prefault, optional, nullable, pipe/transform). */
function unwrap(schema: Schema): Schema {
  const def = schema._zod.def as { type: string; innerType?: Schema; in?: Schema };
  if (def.type === 'pipe') return unwrap(def.in!);
  if (def.innerType !== undefined) return unwrap(def.innerType);
  return schema;
}

/** Every key path: `server`, `server.tls.cert`, `forges[].url`, `forges[].jobTokenPushAllowlist[].source`. */
export function keyPaths(schema: Schema, prefix = ''): string[] {
  const inner = unwrap(schema);
  const def = inner._zod.def as { type: string; shape?: Record<string, Schema>; element?: Schema };
  if (def.type === 'array') return keyPaths(def.element!, `${prefix}[]`);
  if (def.type !== 'object') return [];
  return Object.entries(def.shape!).flatMap(([key, child]) => {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    return [path, ...keyPaths(child, path)];
  });
}

/** The same paths, read from a parsed YAML document. */
export function documentPaths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((item) => documentPaths(item, `${prefix}[]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) => {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    return [path, ...documentPaths(child, path)];
  });
}
