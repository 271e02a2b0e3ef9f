/**
 * A string-keyed cache that never holds more than `maxEntries` values. Two generations: new entries go
 * into the current one; when it is full it becomes the previous one and the one before is dropped, and
 * a hit in the previous generation moves the entry forward. What a mesh keeps using stays cached, what
 * it stopped using ages out in two rotations, and no access order is kept per hit (an LRU would pay a
 * delete and a re-insert on every hit). `maxEntries` 0 caches nothing.
 */
export class BoundedCache<V> {
  /** Lookups answered from the cache, and lookups that were not. */
  hits = 0
  misses = 0
  private current = new Map<string, V>()
  private previous = new Map<string, V>()
  private readonly generation: number

  constructor(readonly maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0)
      throw new RangeError(`maxEntries must be a non-negative integer, got ${maxEntries}`)
    // With one entry there is no room for two generations: the single one is dropped when full.
    this.generation = maxEntries >= 2 ? Math.floor(maxEntries / 2) : maxEntries
  }

  get size(): number {
    return this.current.size + this.previous.size
  }

  get(key: string): V | undefined {
    let v = this.current.get(key)
    if (v !== undefined) {
      this.hits++
      return v
    }
    v = this.previous.get(key)
    if (v !== undefined) {
      this.hits++
      this.previous.delete(key)
      this.set(key, v)
      return v
    }
    this.misses++
    return undefined
  }

  set(key: string, value: V): void {
    if (this.generation === 0) return
    if (this.current.size >= this.generation) {
      this.previous = this.maxEntries >= 2 ? this.current : new Map()
      this.current = new Map()
    }
    this.current.set(key, value)
  }
}
