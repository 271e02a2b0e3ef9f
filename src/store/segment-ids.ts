/**
 * The ids stored in the segment layout, as a Bloom filter held by the writer (Bloom, "Space/time
 * trade-offs in hash coding with allowable errors", CACM 13(7), 1970). A batch whose ids the filter
 * has never seen is new without reading any segment, which is the common case of an ingest; an id the
 * filter may have seen (a replay, or a false positive at about one in a million) is looked up in the
 * segments. Sized at 32 bits per stored id with 16 probes, doubled (and refilled from the segments)
 * when the store outgrows it: about 4 MB per million events.
 */

const PROBES = 16
/** Bits per id at sizing; refilled at twice the size once the store holds more than bits / MIN_BITS_PER_ID. */
const BITS_PER_ID = 32
const MIN_BITS_PER_ID = 20
const MIN_BITS = 1 << 20

export class IdFilter {
  private bits: Uint32Array
  private mask: number
  private count = 0

  constructor(expected = 0) {
    let size = MIN_BITS
    while (size < expected * BITS_PER_ID) size *= 2
    this.bits = new Uint32Array(size / 32)
    this.mask = size - 1
  }

  get size(): number {
    return this.count
  }

  /** Whether the filter should be rebuilt larger (from every stored id) before it fills up. */
  get full(): boolean {
    return this.count * MIN_BITS_PER_ID > this.mask + 1
  }

  add(id: string): void {
    const [h1, h2] = hashes(id)
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask
      this.bits[bit >>> 5]! |= 1 << (bit & 31)
    }
    this.count++
  }

  /** False: certainly never added. True: added, or a false positive. */
  mayHave(id: string): boolean {
    const [h1, h2] = hashes(id)
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false
    }
    return true
  }
}

/** Two independent 32-bit FNV-1a-style hashes of the UTF-16 code units (the second forced odd). */
function hashes(s: string): [number, number] {
  let a = 0x811c9dc5
  let b = 0x01000193 ^ s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x5bd1e995)
    b ^= b >>> 15
  }
  a ^= a >>> 13
  a = Math.imul(a, 0x85ebca6b)
  a ^= a >>> 16
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35)
  b ^= b >>> 16
  return [a >>> 0, (b | 1) >>> 0]
}
