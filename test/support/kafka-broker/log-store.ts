import { ErrorCode } from './wire.js'
import { decodeBatch } from './kafkajs-internals.js'

// Byte positions inside a magic-2 RecordBatch header.
const BATCH_HEADER_SIZE = 61
const POS_LENGTH = 8
const POS_MAGIC = 16
const POS_ATTRIBUTES = 21
const POS_LAST_OFFSET_DELTA = 23
const TRANSACTIONAL = 0x10
const CONTROL = 0x20
const POS_MAX_TIMESTAMP = 35

interface StoredBatch {
  base: number
  last: number
  maxTimestamp: number
  buf: Buffer
}

class PartitionLog {
  batches: StoredBatch[] = []
  highWatermark = 0
  /** The earliest offset still readable (DeleteRecords moves it, as retention does). */
  logStart = 0

  // Index of the last batch whose base is <= offset; batches are contiguous, so it holds it.
  indexOf(offset: number): number {
    let lo = 0
    let hi = this.batches.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (this.batches[mid]!.base <= offset) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return found
  }
}

export interface BrokerMessage {
  offset: number
  timestamp: number
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, Buffer | Buffer[] | undefined>
}

export interface ReadResult {
  errorCode: number
  highWatermark: number
  batches: Buffer[]
  size: number
}

type AppendListener = (topic: string, partition: number) => void

/** Kafka's broker default message.max.bytes, the default of every topic's max.message.bytes. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588

export interface TopicConfig {
  /** A record batch larger than this is refused with MESSAGE_TOO_LARGE. */
  maxMessageBytes?: number
}

export class LogStore {
  private topics = new Map<string, PartitionLog[]>()
  private configs = new Map<string, Required<TopicConfig>>()
  private listeners = new Set<AppendListener>()

  createTopic(name: string, partitions: number, config: TopicConfig = {}): boolean {
    if (this.topics.has(name)) return false
    this.configs.set(name, { maxMessageBytes: config.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES })
    this.topics.set(
      name,
      Array.from({ length: partitions }, () => new PartitionLog()),
    )
    return true
  }

  /** CreatePartitions: the count can only grow. */
  addPartitions(name: string, count: number): number {
    const logs = this.topics.get(name)
    if (!logs) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    if (count <= logs.length) return ErrorCode.INVALID_PARTITIONS
    while (logs.length < count) logs.push(new PartitionLog())
    return ErrorCode.NONE
  }

  deleteTopic(name: string): boolean {
    this.configs.delete(name)
    return this.topics.delete(name)
  }

  partitionCount(topic: string): number | undefined {
    return this.topics.get(topic)?.length
  }

  topicNames(): string[] {
    return [...this.topics.keys()]
  }

  private log(topic: string, partition: number): PartitionLog | undefined {
    return this.topics.get(topic)?.[partition]
  }

  // Batches are stored as the producer sent them; only baseOffset (outside the CRC) is
  // rewritten, so compressed batches pass through without being decoded.
  append(topic: string, partition: number, recordSet: Buffer): { errorCode: number; baseOffset: number } {
    const log = this.log(topic, partition)
    if (!log) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, baseOffset: -1 }
    const parsed: StoredBatch[] = []
    let pos = 0
    let next = log.highWatermark
    while (pos < recordSet.length) {
      if (recordSet.length - pos < BATCH_HEADER_SIZE) return { errorCode: ErrorCode.CORRUPT_MESSAGE, baseOffset: -1 }
      const size = 12 + recordSet.readInt32BE(pos + POS_LENGTH)
      if (pos + size > recordSet.length || recordSet.readInt8(pos + POS_MAGIC) !== 2) {
        return { errorCode: ErrorCode.CORRUPT_MESSAGE, baseOffset: -1 }
      }
      // As Kafka: the batch as sent (compressed) against the topic's max.message.bytes.
      if (size > this.configs.get(topic)!.maxMessageBytes) return { errorCode: ErrorCode.MESSAGE_TOO_LARGE, baseOffset: -1 }
      // Transactional and control batches would need markers and a last stable offset to read right.
      if ((recordSet.readInt16BE(pos + POS_ATTRIBUTES) & (TRANSACTIONAL | CONTROL)) !== 0) {
        throw new Error('a transactional or control batch: transactions are not modelled by the test broker; test them on the real broker')
      }
      const buf = Buffer.from(recordSet.subarray(pos, pos + size))
      const lastDelta = buf.readInt32BE(POS_LAST_OFFSET_DELTA)
      buf.writeBigInt64BE(BigInt(next), 0)
      parsed.push({
        base: next,
        last: next + lastDelta,
        maxTimestamp: Number(buf.readBigInt64BE(POS_MAX_TIMESTAMP)),
        buf,
      })
      next += lastDelta + 1
      pos += size
    }
    if (parsed.length === 0) return { errorCode: ErrorCode.CORRUPT_MESSAGE, baseOffset: -1 }
    const baseOffset = log.highWatermark
    log.batches.push(...parsed)
    log.highWatermark = next
    for (const l of this.listeners) l(topic, partition)
    return { errorCode: ErrorCode.NONE, baseOffset }
  }

  highWatermark(topic: string, partition: number): number | undefined {
    return this.log(topic, partition)?.highWatermark
  }

  logStart(topic: string, partition: number): number | undefined {
    return this.log(topic, partition)?.logStart
  }

  /**
   * DeleteRecords, as Kafka answers it: -1 means the high watermark, beyond it is
   * OFFSET_OUT_OF_RANGE, below the current log start changes nothing. Batches wholly below the new
   * start are dropped; one that straddles it stays (readers skip records below their offset).
   */
  deleteRecords(topic: string, partition: number, offset: number): { errorCode: number; lowWatermark: number } {
    const log = this.log(topic, partition)
    if (!log) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, lowWatermark: -1 }
    const to = offset === -1 ? log.highWatermark : offset
    if (to < 0 || to > log.highWatermark) return { errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, lowWatermark: -1 }
    if (to > log.logStart) {
      log.logStart = to
      log.batches = log.batches.filter((b) => b.last >= to)
    }
    return { errorCode: ErrorCode.NONE, lowWatermark: log.logStart }
  }

  // Whole stored batches from the one containing `offset`; kafkajs drops the records
  // below its fetch offset itself, exactly as with a real broker.
  read(topic: string, partition: number, offset: number, maxBytes: number, budget: number, mustReturnOne: boolean): ReadResult {
    const log = this.log(topic, partition)
    if (!log) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, highWatermark: -1, batches: [], size: 0 }
    const result: ReadResult = { errorCode: ErrorCode.NONE, highWatermark: log.highWatermark, batches: [], size: 0 }
    if (offset < log.logStart || offset > log.highWatermark) {
      result.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE
      return result
    }
    if (offset === log.highWatermark) return result
    let i = log.indexOf(offset)
    if (i < 0) return result
    for (; i < log.batches.length; i++) {
      const b = log.batches[i]!.buf
      const first = result.size === 0
      // KIP-74: one oversized batch is still returned so a consumer can always progress.
      const fits = result.size + b.length <= maxBytes && result.size + b.length <= budget
      if (!fits && !(first && (mustReturnOne || b.length <= budget))) break
      result.batches.push(b)
      result.size += b.length
    }
    return result
  }

  // Batch granularity is enough: kafkajs skips records below the offset it is given.
  offsetForTimestamp(topic: string, partition: number, timestamp: number): number | undefined {
    const log = this.log(topic, partition)
    if (!log) return undefined
    if (timestamp === -1) return log.highWatermark
    if (timestamp === -2) return log.logStart
    const hit = log.batches.find((b) => b.maxTimestamp >= timestamp)
    return hit ? Math.max(hit.base, log.logStart) : log.highWatermark
  }

  onAppend(listener: AppendListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async messages(topic: string, partition: number): Promise<BrokerMessage[]> {
    const log = this.log(topic, partition)
    if (!log) throw new Error(`unknown topic/partition ${topic}/${partition}`)
    const out: BrokerMessage[] = []
    for (const b of log.batches) {
      for (const r of (await decodeBatch(b.buf)).records) {
        if (Number(r.offset) < log.logStart) continue
        out.push({
          offset: Number(r.offset),
          timestamp: Number(r.timestamp),
          key: r.key,
          value: r.value,
          headers: r.headers,
        })
      }
    }
    return out
  }
}
