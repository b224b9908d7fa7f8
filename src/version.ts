import { createRequire } from 'node:module';

// Read at run time so the version has one source: package.json (one level above src/ and dist/).
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
