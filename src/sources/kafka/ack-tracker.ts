/**
 * Per-partition contiguous acknowledgement tracking (Data Prepper's TopicPartitionCommitTracker idea):
 * an offset is committable only when every record delivered before it in that partition has been
 * acknowledged. Acks may arrive in any order; a later batch acked first moves nothing. This is exactly
 * where "commit the last offset seen" pipelines lose data (Vector v#24215).
 *
 * Offsets are JS numbers: exact up to 2^53, far beyond any real partition's offset.
 */

/** One handler call's slice of a partition: records first..last (gaps from filtered control records are fine). */
export interface Chunk {
  readonly first: number
  readonly last: number
  readonly records: number
  readonly bytes: number
  acked: boolean
}

export class PartitionTracker {
  private chunks: Chunk[] = []
  private head = 0
  /** Offset after the last delivered record; the next delivery must start at or after it. */
  private next: number | undefined
  /** Offset to commit: everything below it is acknowledged. */
  private safe: number | undefined
  private committedOffset: number | undefined

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  /** Offsets already delivered are filtered out: kafkajs re-delivers after seeks and reconnects. */
  /** The offset after the last delivery (where reading goes on), if anything was delivered. */
  get position(): number | undefined {
    return this.next
  }

  isDelivered(offset: number): boolean {
    return this.next !== undefined && offset < this.next
  }

  deliver(first: number, last: number, records: number, bytes: number): Chunk {
    if (this.next !== undefined && first < this.next) {
      throw new Error(`offset ${first} of ${this.topic}/${this.partition} delivered twice (next is ${this.next})`)
    }
    const chunk: Chunk = { first, last, records, bytes, acked: false }
    this.chunks.push(chunk)
    this.next = last + 1
    return chunk
  }

  /** Marks a chunk acknowledged; returns true when the committable offset moved. */
  ack(chunk: Chunk): boolean {
    chunk.acked = true
    let moved = false
    while (this.head < this.chunks.length && this.chunks[this.head]!.acked) {
      this.safe = this.chunks[this.head]!.last + 1
      this.head++
      moved = true
    }
    // Compact occasionally so the array does not grow with the partition's history.
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head)
      this.head = 0
    }
    return moved
  }

  /** The offset a commit should carry now, or undefined when nothing new is safe to commit. */
  pendingCommit(): number | undefined {
    if (this.safe === undefined) return undefined
    return this.committedOffset === undefined || this.safe > this.committedOffset ? this.safe : undefined
  }

  markCommitted(offset: number): void {
    if (this.committedOffset === undefined || offset > this.committedOffset) this.committedOffset = offset
  }

  get committed(): number | undefined {
    return this.committedOffset
  }

  /** Chunks delivered and not yet acknowledged. */
  get unacked(): number {
    let n = 0
    for (let i = this.head; i < this.chunks.length; i++) if (!this.chunks[i]!.acked) n++
    return n
  }
}

/**
 * The bound on work delivered but not acknowledged, in records and bytes. Full at either limit;
 * drained (resume) below half of both, so pause/resume does not flap around one threshold.
 */
export class InFlightBudget {
  records = 0
  bytes = 0

  constructor(
    readonly maxRecords: number,
    readonly maxBytes: number,
  ) {}

  add(records: number, bytes: number): void {
    this.records += records
    this.bytes += bytes
  }

  release(records: number, bytes: number): void {
    this.records -= records
    this.bytes -= bytes
  }

  get full(): boolean {
    return this.records >= this.maxRecords || this.bytes >= this.maxBytes
  }

  get drained(): boolean {
    return this.records <= this.maxRecords / 2 && this.bytes <= this.maxBytes / 2
  }
}

/**
 * Capped exponential backoff with "equal jitter": uniform in [ceiling/2, ceiling], so retries spread
 * out across consumers but never collapse to an immediate retry (which full jitter allows).
 */
export function jitteredBackoff(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}
