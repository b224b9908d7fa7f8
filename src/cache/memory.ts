import { LRUCache } from 'lru-cache';

// A small in-process cache: bounded in entries, each entry with its own lifetime. Its users
// keep short keys (digests) and small values, so the entry count bounds its bytes. The count
// is a size of 1 per entry rather than lru-cache's `max`, which preallocates room for all.

export class MemoryCache<V extends {}> {
  private readonly lru: LRUCache<string, V>;

  constructor(maxEntries: number) {
    this.lru = new LRUCache<string, V>({ maxSize: maxEntries, sizeCalculation: () => 1, ttlAutopurge: false });
  }

  get(key: string): V | undefined {
    return this.lru.get(key);
  }

  /** A ttl of 0 caches nothing: a configured 0 means "do not remember". */
  set(key: string, value: V, ttlSeconds: number): void {
    if (ttlSeconds <= 0) return;
    this.lru.set(key, value, { ttl: ttlSeconds * 1000 });
  }

  delete(key: string): void {
    this.lru.delete(key);
  }
}
