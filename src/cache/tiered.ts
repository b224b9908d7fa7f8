import { LRUCache } from 'lru-cache';
import type { RedisLevel } from './redis.js';

// Two cache levels: a bounded in-process LRU in front of Redis (shared by every replica).
// The hot path usually ends in the LRU with no network call. Entries outlive their
// freshness by the stale-if-error window, so a decision can stand in while its forge is down.
//
// Entries are indexed by the project and the account they concern, so that a webhook can
// drop exactly those, on every replica (Redis holds the index; a published message tells the
// other replicas to drop their LRU copies).

export interface Cached<T> {
  value: T;
  /** Still within its TTL; otherwise only usable while its source is down. */
  fresh: boolean;
  ageMs: number;
}

interface Entry {
  value: unknown;
  storedAt: number;
  ttlMs: number;
}

/** An entry as the in-process level holds it: with the indexes it is filed under here, to leave them when it goes. */
interface LocalEntry extends Entry {
  indexes?: readonly string[];
}

const INVALIDATION_CHANNEL = 'invalidate';
/**
 * The in-process level's bound, in estimated heap bytes (entrySize). Alone, it is the only copy
 * and a miss is a forge call. In front of Redis, which holds every entry, it keeps the hot set
 * and a miss is one Redis GET: in the memory scenario (10,000 credentials, 30,000 entries) it
 * held every entry beside Redis, now about 7,500, and the live heap fell from 51 to 44 MiB.
 */
const LOCAL_MAX_BYTES = { alone: 48 * 1024 * 1024, beforeRedis: 8 * 1024 * 1024 };
/** An entry's own objects and its places in the LRU and the index, beyond its key and value. */
const ENTRY_OVERHEAD = 256;
/** The index's bound, in characters of its keys (an index key and the cache keys filed under it). */
const INDEX_MAX_SIZE = 8 * 1024 * 1024;
/** What a cache key filed under an index is counted as: its characters, with room for the Set's own. */
const INDEXED_KEY_SIZE = 128;
const PURGE_INTERVAL_MS = 15_000;

// Both bounds are sizes only, no entry count: lru-cache preallocates arrays for `max` entries
// (100,000 of them held 3.5 MiB each, empty), and sizes bound the entries anyway.
export class TieredCache {
  private readonly local: LRUCache<string, LocalEntry>;
  /**
   * In-process index: index key -> cache keys, for replicas without Redis and for local copies.
   * It names only what the local level holds: an entry leaves its indexes when it goes
   * (`leaveIndexes`), so one account filing a million decisions holds no million names, and an
   * index whose entries the bound evicted (most accounts', in front of Redis) is no more.
   */
  private readonly localIndex = new LRUCache<string, Set<string>>({
    maxSize: INDEX_MAX_SIZE,
    sizeCalculation: (members, index) => index.length + members.size * INDEXED_KEY_SIZE,
  });

  /** Expired entries are dropped on this beat, not only when the bound evicts them. */
  private readonly purger: NodeJS.Timeout;

  constructor(private readonly redis: RedisLevel | null) {
    const maxSize = redis === null ? LOCAL_MAX_BYTES.alone : LOCAL_MAX_BYTES.beforeRedis;
    this.local = new LRUCache<string, LocalEntry>({
      maxSize, // every set gives its entrySize
      dispose: (entry, key) => this.leaveIndexes(key, entry),
    });
    redis?.subscribe(INVALIDATION_CHANNEL, (message) => {
      for (const key of JSON.parse(message) as string[]) this.local.delete(key);
    });
    // Without it, a stream of never-repeated images fills the LRU with dead entries up to its
    // bound before any is evicted: memory that looks like a leak under a steady load.
    this.purger = setInterval(() => {
      this.local.purgeStale();
      this.localIndex.purgeStale();
    }, PURGE_INTERVAL_MS).unref();
  }

  close(): void {
    clearInterval(this.purger);
  }

  async get<T>(key: string): Promise<Cached<T> | undefined> {
    let entry = this.local.get(key);
    if (entry === undefined && this.redis !== null) {
      const text = await this.redis.get(key);
      if (text !== undefined) {
        entry = JSON.parse(text) as Entry;
        const remaining = entry.storedAt + entry.ttlMs - Date.now();
        if (remaining > 0) this.local.set(key, entry, { ttl: remaining, size: entrySize(key, text) });
      }
    }
    if (entry === undefined) return undefined;
    const ageMs = Date.now() - entry.storedAt;
    return { value: entry.value as T, fresh: ageMs < entry.ttlMs, ageMs };
  }

  /**
   * Keeps `value` fresh for `ttlSeconds`, and stale-but-usable `keepSeconds` longer.
   * `indexes` name the projects and accounts it concerns.
   */
  set(key: string, value: unknown, ttlSeconds: number, keepSeconds = 0, indexes: readonly string[] = []): void {
    if (ttlSeconds <= 0) return;
    const lifetimeMs = (ttlSeconds + keepSeconds) * 1000;
    const storedAt = Date.now();
    const ttlMs = ttlSeconds * 1000;
    const text = JSON.stringify({ value, storedAt, ttlMs } satisfies Entry);
    const entry: LocalEntry = { value, storedAt, ttlMs, indexes };
    this.local.set(key, entry, { ttl: lifetimeMs, size: entrySize(key, text) });
    this.redis?.set(key, text, lifetimeMs);
    const held = this.local.peek(key) === entry; // not when larger than the whole level
    for (const index of indexes) {
      if (held) {
        const members = this.localIndex.get(index) ?? new Set<string>();
        members.add(key);
        // The index lives as long as its longest-lived entry, so a webhook still finds them all.
        this.localIndex.set(index, members, { ttl: Math.max(lifetimeMs, this.localIndex.getRemainingTTL(index)) });
      }
      this.redis?.index(index, key, lifetimeMs);
    }
  }

  delete(key: string): void {
    this.local.delete(key);
    this.redis?.delete([key]);
  }

  /**
   * Drops every entry filed under any of `indexes`, here, in Redis, and on every other replica.
   * One message tells the other replicas about all of them: a replica never holds half of one
   * change (a verified credential still cached, the decisions resting on it gone). Returns the
   * entries dropped.
   */
  async invalidate(...indexes: string[]): Promise<number> {
    const keys = new Set<string>();
    for (const index of indexes) {
      for (const key of this.localIndex.get(index) ?? []) keys.add(key);
      this.localIndex.delete(index);
      if (this.redis !== null) for (const key of await this.redis.dropIndex(index)) keys.add(key);
    }
    for (const key of keys) this.local.delete(key);
    if (keys.size > 0) this.redis?.publish(INVALIDATION_CHANNEL, JSON.stringify([...keys]));
    return keys.size;
  }

  /** The in-process level's estimated heap bytes (tests and memory checks). */
  localBytes(): number {
    return this.local.calculatedSize;
  }

  /** Members held by an index (tests and memory checks). */
  indexSize(index: string): number {
    return this.localIndex.get(index)?.size ?? 0;
  }

  // An entry that leaves the local level (evicted, expired, deleted, replaced) leaves its
  // indexes here; Redis keeps its own index of what it holds. A replacement files itself again.
  private leaveIndexes(key: string, entry: LocalEntry): void {
    for (const index of entry.indexes ?? []) {
      const members = this.localIndex.peek(index);
      if (members?.delete(key) && members.size === 0) this.localIndex.delete(index);
    }
  }
}

/**
 * An upper estimate of the heap an entry takes: V8 holds its value as objects, which can take
 * twice the JSON text's length, beside its key and its places in the LRU and the index. Equal
 * judgements are shared objects (forges/judged.ts), so a decision usually takes less: about a
 * third of its estimate in the memory scenario's heap snapshots.
 */
function entrySize(key: string, text: string): number {
  return ENTRY_OVERHEAD + key.length + 2 * text.length;
}
