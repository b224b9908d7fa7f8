import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

// A Redis that speaks just enough RESP2 for ioredis (its handshake, the ready check, SUBSCRIBE,
// QUIT), so that a test can stop a connection at a chosen step, which a real server cannot
// be made to do. Replies to everything else are "+OK".

export interface Connection {
  socket: Socket;
  /** Commands received, upper-case name first. */
  commands: string[][];
}

export class ScriptedRedis {
  readonly connections: Connection[] = [];
  /** While set, INFO (the ready check) goes unanswered until `answerInfo`. */
  holdInfo = false;
  private readonly held = new Map<Connection, () => void>();
  // Half-open: a client that ends its side may still be sent what it asked for.
  private readonly server: Server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `redis://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The connections that have sent `name` (SUBSCRIBE, INFO...). */
  sent(name: string): Connection[] {
    return this.connections.filter((c) => c.commands.some(([command]) => command === name));
  }

  /** Answers the INFO a connection was held at. */
  answerInfo(connection: Connection): void {
    this.held.get(connection)?.();
    this.held.delete(connection);
  }

  async stop(): Promise<void> {
    for (const { socket } of this.connections) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(socket: Socket): void {
    const connection: Connection = { socket, commands: [] };
    this.connections.push(connection);
    socket.on('error', () => {});
    let pending = '';
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      for (let parsed = parse(pending); parsed; parsed = parse(pending)) {
        pending = pending.slice(parsed.length);
        connection.commands.push(parsed.command);
        this.answer(connection, parsed.command);
      }
    });
  }

  private answer(connection: Connection, [name = '', ...args]: string[]): void {
    const write = (reply: string) => connection.socket.writable && connection.socket.write(reply);
    switch (name) {
      case 'HELLO': // a Redis before 6 (ioredis then speaks RESP2)
        return void write("-ERR unknown command 'HELLO'\r\n");
      case 'INFO': {
        const info = bulk('# Server\r\nredis_version:5.0.0\r\nloading:0\r\n');
        if (this.holdInfo) this.held.set(connection, () => write(info));
        else write(info);
        return;
      }
      case 'SUBSCRIBE':
        return void args.forEach((channel, i) => write(`*3\r\n${bulk('subscribe')}${bulk(channel)}:${i + 1}\r\n`));
      case 'QUIT':
        write('+OK\r\n');
        return void connection.socket.end();
      default:
        return void write('+OK\r\n');
    }
  }
}

function bulk(text: string): string {
  return `$${Buffer.byteLength(text, 'latin1')}\r\n${text}\r\n`;
}

/** One command (a RESP array of bulk strings) at the start of `text`, if it is all there. */
function parse(text: string): { command: string[]; length: number } | undefined {
  const header = /^\*(\d+)\r\n/.exec(text);
  if (!header) return undefined;
  let at = header[0].length;
  const command: string[] = [];
  for (let i = 0; i < Number(header[1]); i++) {
    const size = /^\$(\d+)\r\n/.exec(text.slice(at));
    if (!size) return undefined;
    const start = at + size[0].length;
    const end = start + Number(size[1]);
    if (text.length < end + 2) return undefined;
    command.push(text.slice(start, end));
    at = end + 2;
  }
  command[0] = command[0]?.toUpperCase() ?? '';
  return { command, length: at };
}
