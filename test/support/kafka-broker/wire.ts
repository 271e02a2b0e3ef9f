// Primitive encoding for the classic (non-flexible) Kafka protocol. kafkajs 2.x never
// negotiates flexible versions, so compact types and tagged fields are not needed here.

export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  SaslHandshake: 17,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  DeleteRecords: 21,
  InitProducerId: 22,
  SaslAuthenticate: 36,
  CreatePartitions: 37,
} as const

export type ApiName = keyof typeof ApiKey

export const apiNameOf = (key: number): ApiName | undefined => (Object.keys(ApiKey) as ApiName[]).find((name) => ApiKey[name] === key)

// Only the codes the broker emits or tests are likely to inject.
export const ErrorCode = {
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_FOR_PARTITION: 6,
  REQUEST_TIMED_OUT: 7,
  MESSAGE_TOO_LARGE: 10,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  INVALID_TOPIC_EXCEPTION: 17,
  NOT_ENOUGH_REPLICAS: 19,
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  UNSUPPORTED_SASL_MECHANISM: 33,
  ILLEGAL_SASL_STATE: 34,
  UNSUPPORTED_VERSION: 35,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  SASL_AUTHENTICATION_FAILED: 58,
} as const

export class Reader {
  offset = 0
  constructor(readonly buf: Buffer) {}

  int8(): number {
    const v = this.buf.readInt8(this.offset)
    this.offset += 1
    return v
  }
  int16(): number {
    const v = this.buf.readInt16BE(this.offset)
    this.offset += 2
    return v
  }
  int32(): number {
    const v = this.buf.readInt32BE(this.offset)
    this.offset += 4
    return v
  }
  // Offsets and timestamps stay far below 2^53 in tests, so plain numbers are safe.
  int64(): number {
    const v = this.buf.readBigInt64BE(this.offset)
    this.offset += 8
    return Number(v)
  }
  nullableString(): string | null {
    const len = this.int16()
    if (len < 0) return null
    const s = this.buf.toString('utf8', this.offset, this.offset + len)
    this.offset += len
    return s
  }
  string(): string {
    return this.nullableString() ?? ''
  }
  bytes(): Buffer | null {
    const len = this.int32()
    if (len < 0) return null
    const b = this.buf.subarray(this.offset, this.offset + len)
    this.offset += len
    return b
  }
  // Null (-1) is kept distinct from empty because Metadata v1 uses null to mean "all topics".
  nullableArray<T>(item: (r: Reader) => T): T[] | null {
    const len = this.int32()
    if (len < 0) return null
    const out: T[] = []
    for (let i = 0; i < len; i++) out.push(item(this))
    return out
  }
  array<T>(item: (r: Reader) => T): T[] {
    return this.nullableArray(item) ?? []
  }
}

// Small values go to a scratch buffer; large payloads (record sets) are kept by reference
// so Fetch responses do not copy stored batches more than once.
export class Writer {
  private chunks: Buffer[] = []
  private scratch = Buffer.allocUnsafe(1024)
  private pos = 0
  private total = 0

  private room(n: number): void {
    if (this.pos + n <= this.scratch.length) return
    this.flush()
    if (n > this.scratch.length) this.scratch = Buffer.allocUnsafe(n)
  }
  private flush(): void {
    if (this.pos === 0) return
    this.chunks.push(Buffer.from(this.scratch.subarray(0, this.pos)))
    this.pos = 0
  }

  int8(v: number): this {
    this.room(1)
    this.pos = this.scratch.writeInt8(v, this.pos)
    this.total += 1
    return this
  }
  int16(v: number): this {
    this.room(2)
    this.pos = this.scratch.writeInt16BE(v, this.pos)
    this.total += 2
    return this
  }
  int32(v: number): this {
    this.room(4)
    this.pos = this.scratch.writeInt32BE(v, this.pos)
    this.total += 4
    return this
  }
  int64(v: number): this {
    this.room(8)
    this.pos = this.scratch.writeBigInt64BE(BigInt(v), this.pos)
    this.total += 8
    return this
  }
  bool(v: boolean): this {
    return this.int8(v ? 1 : 0)
  }
  string(v: string | null): this {
    if (v === null) return this.int16(-1)
    const len = Buffer.byteLength(v)
    this.int16(len)
    this.room(len)
    this.pos += this.scratch.write(v, this.pos, 'utf8')
    this.total += len
    return this
  }
  raw(b: Buffer): this {
    if (b.length <= 256) {
      this.room(b.length)
      b.copy(this.scratch, this.pos)
      this.pos += b.length
    } else {
      this.flush()
      this.chunks.push(b)
    }
    this.total += b.length
    return this
  }
  bytes(b: Buffer | null): this {
    if (b === null) return this.int32(-1)
    return this.int32(b.length).raw(b)
  }
  array<T>(items: readonly T[] | null, each: (w: Writer, item: T) => void): this {
    if (items === null) return this.int32(-1)
    this.int32(items.length)
    for (const it of items) each(this, it)
    return this
  }
  get size(): number {
    return this.total
  }
  toBuffer(): Buffer {
    this.flush()
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.total)
  }
}
