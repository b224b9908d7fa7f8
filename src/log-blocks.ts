import type { DestinationStream } from 'pino';

// Log lines gathered into blocks of about `blockChars` before they reach the stream that writes
// them (sonic-boom, pino's stdout). sonic-boom gathers lines itself, but its write measures the
// byte length of its whole pending block on every line, which flattens the block into a new
// string each time: about 2 KB of garbage per line at 4 KiB blocks, in the audit line of every
// token request. Here a line is kept as it comes and a block is joined once, when it is passed.

export interface BlockTarget extends DestinationStream {
  flush?(cb?: (error?: Error) => void): void;
}

export class LineBlocks implements DestinationStream {
  private lines: string[] = [];
  private chars = 0;

  /**
   * `target` should write what it is given at once (sonic-boom: minLength 0); `flushMs`: the
   * longest a line waits when traffic is too light to fill a block. The exit hook passes what is
   * left, so a line written just before the process ends (a crash included) is not lost.
   */
  constructor(
    private readonly target: BlockTarget,
    private readonly blockChars: number,
    flushMs: number,
  ) {
    setInterval(() => this.pass(), flushMs).unref();
    process.on('exit', () => this.pass());
  }

  write(line: string): void {
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars >= this.blockChars) this.pass();
  }

  /** pino's `logger.flush()`. */
  flush(cb?: (error?: Error) => void): void {
    this.pass();
    if (this.target.flush) this.target.flush(cb);
    else cb?.();
  }

  private pass(): void {
    if (this.lines.length === 0) return;
    const block = this.lines.length === 1 ? this.lines[0]! : this.lines.join('');
    this.lines = [];
    this.chars = 0;
    this.target.write(block);
  }
}
