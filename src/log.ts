import { pino, type Logger } from 'pino';
import { LineBlocks } from './log-blocks.js';

// One JSON line per event on stdout. Nothing here may carry a secret: call sites log
// chosen fields only, and `censorSecrets` is the safety net for a careless one.

export type { Logger };

/** Field names whose values are never written, at the top level or one object down. */
const SECRET_FIELDS = ['password', 'token', 'refresh_token', 'access_token', 'authorization'];
/** A field name in SECRET_FIELDS, in any case; a test instead of lower-casing every field name of every line. */
const SECRET_NAME = new RegExp(`^(?:${SECRET_FIELDS.join('|')})$`, 'iu'); // u: the Kelvin sign folds to k, as toLowerCase has it
export const CENSORED = '[redacted]';

export function createLogger(level = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'forgegate' },
      timestamp: isoTime,
      // Not pino's `redact`: its wildcard paths cost about 10 microseconds per line, more than the
      // rest of the line, and the audit line of every token request goes through here.
      formatters: { level: (label) => ({ level: label }), log: censorSecrets },
    },
    destination ?? stdout(),
  );
}

/**
 * pino's `isoTime`, made once per millisecond: a busy server writes several lines in each, and
 * formatting the date was about a fifth of an audit line's cost.
 */
export function isoTime(): string {
  const now = Date.now();
  if (now !== lastTime.at) lastTime = { at: now, field: `,"time":"${new Date(now).toISOString()}"` };
  return lastTime.field;
}
let lastTime = { at: Number.NaN, field: '' };

/** Lines wait at most this long in the buffer when traffic is too light to fill it. */
export const LOG_FLUSH_MS = 100;
const LOG_BUFFER_BYTES = 4096;

/**
 * stdout, written in blocks of about 4 KiB rather than a write per line, and synchronously,
 * as pino does by default. Asynchronous writes each took a round trip through libuv's thread
 * pool, and a block waited for the event loop's next turn: under load every turn answers
 * dozens of requests, the lines came faster than they left, and the backlog grew in memory
 * (and cost CPU to append to) for as long as the load lasted. A synchronous write of a block
 * costs one system call per eight or so lines, and a log reader that stops reading slows
 * forgegate down instead of filling its memory. A quiet server still shows every line within
 * LOG_FLUSH_MS; `serve` flushes on SIGTERM. The blocks are gathered by `LineBlocks`, and one
 * per process, so that the lines of two loggers keep their order.
 */
function stdout(): pino.DestinationStream {
  stdoutBlocks ??= new LineBlocks(pino.destination({ dest: 1, sync: true }), LOG_BUFFER_BYTES, LOG_FLUSH_MS);
  return stdoutBlocks;
}
let stdoutBlocks: LineBlocks | undefined;

/**
 * The object with every secret-named field (SECRET_FIELDS) at the top level or one level down
 * replaced by CENSORED. Copies only what it censors: the caller's object is left as it was,
 * and a line without such a field (nearly all) costs one look-up per field.
 */
export function censorSecrets(object: Record<string, unknown>): Record<string, unknown> {
  let out = object;
  for (const key in object) {
    const value = object[key];
    let censored: unknown = value;
    if (SECRET_NAME.test(key)) censored = value === undefined ? value : CENSORED;
    else if (typeof value === 'object' && value !== null && !Array.isArray(value))
      censored = censorOneLevel(value as Record<string, unknown>);
    if (censored !== value) {
      if (out === object) out = { ...object };
      out[key] = censored;
    }
  }
  return out;
}

function censorOneLevel(object: Record<string, unknown>): Record<string, unknown> {
  for (const key in object) {
    if (!SECRET_NAME.test(key) || object[key] === undefined) continue;
    // An Error's message and stack are not own enumerable fields: keep them in the copy.
    const base = object instanceof Error ? { type: object.name, message: object.message, stack: object.stack } : {};
    const copy: Record<string, unknown> = { ...base, ...object };
    for (const name in copy) if (SECRET_NAME.test(name) && copy[name] !== undefined) copy[name] = CENSORED;
    return copy;
  }
  return object;
}

/** pino's own level strings, time, bindings, message key and stream, which writeInfo writes with. */
const { lsCacheSym, timeSym, chindingsSym, messageKeySym, streamSym } = pino.symbols;

/**
 * What `logger.info(fields, message)` writes, byte for byte (level, time and bindings as the
 * logger has them, the fields censored by `censorSecrets`, the message last), made with one
 * JSON.stringify of the fields instead of pino's serializer, which visits and encodes each
 * field on its own. Every token request writes its audit line through here: the generic path
 * cost about 4% of the warm path's req/s. Fields are plain data (strings, numbers, booleans,
 * arrays and objects of them), as pino would stringify them.
 */
export function writeInfo(logger: Logger, fields: Record<string, unknown>, message: string): void {
  if (!logger.isLevelEnabled('info')) return;
  const internals = logger as unknown as Record<symbol, unknown>;
  const levelStart = (internals[lsCacheSym] as Record<number, string>)[logger.levels.values.info!];
  const time = (internals[timeSym] as () => string)();
  const body = JSON.stringify(censorSecrets(fields));
  const messageField = `${JSON.stringify(internals[messageKeySym])}:${JSON.stringify(message)}`;
  const line = `${levelStart}${time}${internals[chindingsSym] as string}${body.length > 2 ? `,${body.slice(1, -1)}` : ''},${messageField}}\n`;
  (internals[streamSym] as pino.DestinationStream).write(line);
}

export const silentLogger: Logger = pino({ level: 'silent' });
