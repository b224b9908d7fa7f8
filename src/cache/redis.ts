import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../log.js';

// The shared cache level. Redis is an accelerator, never a dependency of correctness: every
// failure reads as a miss and every write is best effort. After a failure Redis is skipped
// for a moment, so a paused or slow Redis costs one timeout, not one per request. The
// degradation is logged once, and so is the recovery; ioredis reconnects by itself.

export type RedisState = 'connecting' | 'up' | 'down';

const COMMAND_TIMEOUT_MS = 150;
const SKIP_AFTER_FAILURE_MS = 1000;

export class RedisLevel {
  private readonly client: Redis | Cluster;
  private readonly subscriber: Redis | Cluster;
  private skipUntil = 0;
  private state: RedisState = 'connecting';

  constructor(
    private readonly url: string,
    readonly prefix: string,
    private readonly logger: Logger,
  ) {
    this.client = connect(url, prefix);
    this.subscriber = connect(url, prefix, SUBSCRIBER);
    for (const client of [this.client, this.subscriber]) client.on('error', () => {}); // reported by transitions below
    this.client.on('ready', () => this.transition('up'));
    this.client.on('close', () => this.transition('down'));
  }

  get status(): RedisState {
    return this.state;
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.attempt(() => this.client.get(key))) ?? undefined;
  }

  set(key: string, value: string, ttlMs: number): void {
    void this.attempt(() => this.client.set(key, value, 'PX', Math.max(1, Math.round(ttlMs))));
  }

  /** Adds `member` to the set at `key`, which lives at least `ttlMs`. */
  index(key: string, member: string, ttlMs: number): void {
    void this.attempt(() => this.client.multi().sadd(key, member).pexpire(key, Math.round(ttlMs)).exec());
  }

  /** Deletes the set at `key` and every key it names; returns those keys. */
  async dropIndex(key: string): Promise<string[]> {
    // Members are stored as given (ioredis prefixes keys, not members): they are unprefixed keys.
    const keys = (await this.attempt(() => this.client.smembers(key))) ?? [];
    if (keys.length > 0) await this.attempt(() => this.client.del(...keys));
    await this.attempt(() => this.client.del(key));
    return keys;
  }

  delete(keys: readonly string[]): void {
    if (keys.length > 0) void this.attempt(() => this.client.del(...keys));
  }

  // Channels are not keys: ioredis does not prefix them, so the prefix is added here.
  publish(channel: string, message: string): void {
    void this.attempt(() => this.client.publish(this.prefix + channel, message));
  }

  // SUBSCRIBE is sent here on every (re)connection: with the offline queue off, one sent before
  // the connection is ready would be refused, and a reconnection starts unsubscribed.
  subscribe(channel: string, onMessage: (message: string) => void): void {
    const name = this.prefix + channel;
    this.subscriber.on('message', (from: string, message: string) => {
      if (from === name) onMessage(message);
    });
    const join = () => void this.subscriber.subscribe(name).catch(() => {});
    this.subscriber.on('ready', join);
    if (this.subscriber.status === 'ready') join();
  }

  /**
   * A connection of its own with the same settings, for a user whose commands must not be
   * skipped after this level's failures (the brute-force limiter). The caller disconnects it.
   */
  separateConnection(): Redis | Cluster {
    const client = connect(this.url, this.prefix);
    client.on('error', () => {}); // this level reports Redis outages
    return client;
  }

  async ping(): Promise<boolean> {
    return (await this.attempt(() => this.client.ping())) === 'PONG';
  }

  // quit() waits for a server it may never reach again; disconnect() also stops reconnecting.
  async close(): Promise<void> {
    await Promise.allSettled(
      [this.client, this.subscriber].map(async (client) => {
        if (client.status === 'ready') await client.quit().catch(() => {});
        client.disconnect();
      }),
    );
  }

  private async attempt<T>(command: () => Promise<T>): Promise<T | undefined> {
    if (Date.now() < this.skipUntil) return undefined;
    try {
      const result = await command();
      // A pause or a slow spell does not drop the connection: success is the recovery signal.
      if (this.state === 'down') this.transition('up');
      return result;
    } catch (error) {
      this.skipUntil = Date.now() + SKIP_AFTER_FAILURE_MS;
      this.transition('down', error);
      return undefined;
    }
  }

  private transition(next: RedisState, error?: unknown): void {
    if (this.state === next) return;
    const previous = this.state;
    this.state = next;
    if (next === 'down' && previous !== 'connecting') {
      this.logger.warn(
        { redis: 'down', err: (error as Error | undefined)?.message },
        'redis is unreachable: serving from the in-process cache and the forges',
      );
    }
    if (next === 'down' && previous === 'connecting')
      this.logger.warn(
        { redis: 'down' },
        'redis is unreachable at start: serving from the in-process cache and the forges',
      );
    if (next === 'up' && previous === 'down') this.logger.info({ redis: 'up' }, 'redis is reachable again');
  }
}

const BASE: RedisOptions = {
  enableOfflineQueue: false, // fail at once while disconnected instead of queueing
  maxRetriesPerRequest: 0,
  commandTimeout: COMMAND_TIMEOUT_MS,
  connectTimeout: 2000,
  retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000), // keep trying, forever
};

// The subscriber joins its channels itself, on each 'ready' (subscribe above). ioredis's own
// resubscription sends SUBSCRIBE with nothing to catch its failure, and it fails when the
// connection was closed (a restart, a shutdown) before its ready check was answered: an
// unhandled rejection, which ends the process.
const SUBSCRIBER: RedisOptions = { autoResubscribe: false };

/**
 * redis://[:password@]host:port[/db], rediss://... (TLS),
 * redis+sentinel://[:password@]host:port[,host:port...]/masterName[/db],
 * redis+cluster://[:password@]host:port[,host:port...]
 */
export function connect(url: string, keyPrefix: string, extra: RedisOptions = {}): Redis | Cluster {
  const options = { ...BASE, ...extra, keyPrefix };
  const special = /^redis\+(sentinel|cluster):\/\/(?:([^@]*)@)?([^/]+)(?:\/([^/]+))?(?:\/(\d+))?\/?$/.exec(url);
  if (!special) return new Redis(url, options);
  const [, kind, auth, hostList, name, db] = special;
  const password = auth?.includes(':')
    ? decodeURIComponent(auth.slice(auth.indexOf(':') + 1))
    : auth
      ? decodeURIComponent(auth)
      : undefined;
  const hosts = hostList!.split(',').map((hostPort) => {
    const colon = hostPort.lastIndexOf(':');
    return { host: hostPort.slice(0, colon), port: Number(hostPort.slice(colon + 1)) };
  });
  if (kind === 'cluster') {
    const { keyPrefix: prefix, ...redisOptions } = options;
    return new Cluster(hosts, {
      keyPrefix: prefix,
      enableOfflineQueue: false,
      redisOptions: { ...redisOptions, password },
    });
  }
  return new Redis({
    ...options,
    sentinels: hosts,
    name: name ?? 'mymaster',
    password,
    db: db === undefined ? 0 : Number(db),
  });
}
