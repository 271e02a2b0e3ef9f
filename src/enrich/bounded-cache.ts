/**
 * A cache keyed by a tuple of primitive values (strings, numbers, booleans, undefined), never holding
 * more than `maxEntries` values. A tuple is looked up as a path of nested Maps, one level per value,
 * so a lookup allocates nothing and hashes each value as it is (a string once, its hash then kept by
 * V8), where a key made by joining the values would build and hash a new string per lookup; values are
 * compared exactly (SameValueZero), so no two tuples can meet. Two generations: new entries go into
 * the current one; when it is full it becomes the previous one and the one before is dropped, and a hit
 * in the previous generation is copied forward. What a mesh keeps using stays cached, what it stopped
 * using ages out in two rotations, and no access order is kept per hit. `maxEntries` 0 caches nothing.
 */
type Node = Map<unknown, unknown>

export class BoundedCache<V> {
  /** Lookups answered from the cache, and lookups that were not. */
  hits = 0
  misses = 0
  private current: Node = new Map()
  private previous: Node = new Map()
  private currentSize = 0
  private previousSize = 0
  private readonly generation: number

  constructor(readonly maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0)
      throw new RangeError(`maxEntries must be a non-negative integer, got ${maxEntries}`)
    // With one entry there is no room for two generations: the single one is dropped when full.
    this.generation = maxEntries >= 2 ? Math.floor(maxEntries / 2) : maxEntries
  }

  /** Entries held (a hit copied forward from the previous generation counts in both until it ages out). */
  get size(): number {
    return this.currentSize + this.previousSize
  }

  /** The value under parts[0..n-1]. */
  get(parts: readonly unknown[], n: number): V | undefined {
    let v = find(this.current, parts, n)
    if (v !== undefined) {
      this.hits++
      return v as V
    }
    v = find(this.previous, parts, n)
    if (v !== undefined) {
      this.hits++
      this.set(parts, n, v as V)
      return v as V
    }
    this.misses++
    return undefined
  }

  set(parts: readonly unknown[], n: number, value: V): void {
    if (this.generation === 0 || n === 0) return
    if (this.currentSize >= this.generation) {
      if (this.maxEntries >= 2) {
        this.previous = this.current
        this.previousSize = this.currentSize
      }
      this.current = new Map()
      this.currentSize = 0
    }
    let node = this.current
    for (let i = 0; i < n - 1; i++) {
      let next = node.get(parts[i]) as Node | undefined
      if (next === undefined) {
        next = new Map()
        node.set(parts[i], next)
      }
      node = next
    }
    if (!node.has(parts[n - 1])) this.currentSize++
    node.set(parts[n - 1], value)
  }
}

function find(root: Node, parts: readonly unknown[], n: number): unknown {
  let node: unknown = root
  for (let i = 0; i < n; i++) {
    node = (node as Node).get(parts[i])
    if (node === undefined) return undefined
  }
  return node
}
