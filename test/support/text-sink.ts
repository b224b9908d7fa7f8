import { Writable } from 'node:stream';

/** A stream that keeps all that is written to it: where a test's logger writes, to read back. */
export function textSink(): { sink: Writable; text: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { sink, text: () => text };
}
