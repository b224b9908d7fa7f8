import { LRUCache } from 'lru-cache';

// The in-process cache level: bounded in entries, each entry with its own lifetime.

export class MemoryCache<V extends {}> {
  private readonly lru: LRUCache<string, V>;

  constructor(max: number) {
    this.lru = new LRUCache<string, V>({ max, ttlAutopurge: false });
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
