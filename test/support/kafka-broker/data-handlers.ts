import type { Handler, RequestContext } from './context.js'
import type { ReadResult } from './log-store.js'
import { ApiKey, ErrorCode, Writer } from './wire.js'

const NODE_ID = 0

// kafkajs uses min(its max, our max) and ignores our min, so each max here is the one
// version we implement. Produce 3 / Fetch 4 are the lowest carrying RecordBatch (headers);
// Metadata 4 is the lowest carrying allow_auto_topic_creation, which producers and consumers set to
// false (Kafka then answers UNKNOWN_TOPIC_OR_PARTITION instead of creating); kafkajs has no OffsetFetch v0.
export const SUPPORTED_VERSIONS: [key: number, min: number, max: number][] = [
  [ApiKey.Produce, 3, 3],
  [ApiKey.Fetch, 4, 4],
  [ApiKey.ListOffsets, 1, 1],
  [ApiKey.Metadata, 1, 4],
  [ApiKey.OffsetCommit, 2, 2],
  [ApiKey.OffsetFetch, 1, 1],
  [ApiKey.FindCoordinator, 0, 0],
  [ApiKey.JoinGroup, 2, 2],
  [ApiKey.Heartbeat, 0, 0],
  [ApiKey.LeaveGroup, 0, 0],
  [ApiKey.SyncGroup, 0, 0],
  [ApiKey.ApiVersions, 0, 2],
  [ApiKey.CreateTopics, 0, 0],
  [ApiKey.DeleteTopics, 0, 0],
  [ApiKey.InitProducerId, 0, 0],
  [ApiKey.DeleteRecords, 0, 0],
  [ApiKey.DescribeGroups, 0, 0],
  [ApiKey.CreatePartitions, 0, 0],
]

export const apiVersions: Handler = (_r, ctx) => {
  const w = new Writer()
  const versions = ctx.broker.opts.sasl
    ? [...SUPPORTED_VERSIONS, [ApiKey.SaslHandshake, 0, 1], [ApiKey.SaslAuthenticate, 0, 0]]
    : SUPPORTED_VERSIONS
  w.int16(ctx.apiVersion > 2 ? ErrorCode.UNSUPPORTED_VERSION : ErrorCode.NONE)
  w.array(versions, (w, [key, min, max]) => w.int16(key!).int16(min!).int16(max!))
  if (ctx.apiVersion >= 1) w.int32(0)
  return w
}

const topicMetadata = (w: Writer, ctx: RequestContext, topic: string, errorCode: number): void => {
  const count = errorCode === ErrorCode.NONE ? (ctx.broker.store.partitionCount(topic) ?? 0) : 0
  w.int16(errorCode).string(topic).bool(false)
  w.array(
    Array.from({ length: count }, (_, i) => i),
    (w, p) => {
      w.int16(ErrorCode.NONE).int32(p).int32(NODE_ID)
      w.array([NODE_ID], (w, n) => w.int32(n))
      w.array([NODE_ID], (w, n) => w.int32(n))
    },
  )
}

export const metadata: Handler = (r, ctx) => {
  const requested = r.nullableArray((r) => r.string())
  const allowAutoCreate = ctx.apiVersion >= 4 ? r.int8() !== 0 : true
  const { store, opts, host, port } = ctx.broker
  const w = new Writer()
  if (ctx.apiVersion >= 3) w.int32(0) // throttle time
  w.array([NODE_ID], (w) => w.int32(NODE_ID).string(host).int32(port).string(null))
  if (ctx.apiVersion >= 2) w.string('envoy-audit-test-cluster')
  w.int32(NODE_ID)
  const names = requested ?? store.topicNames()
  w.array(names, (w, topic) => {
    if (ctx.forcedError !== undefined) return topicMetadata(w, ctx, topic, ctx.forcedError)
    if (store.partitionCount(topic) === undefined && opts.autoCreateTopics !== false && allowAutoCreate) {
      store.createTopic(topic, opts.defaultPartitions ?? 1)
    }
    const known = store.partitionCount(topic) !== undefined
    topicMetadata(w, ctx, topic, known ? ErrorCode.NONE : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
  })
  return w
}

const NO_TRANSACTIONS =
  'transactions are not modelled by the test broker (no coordinator, markers or last stable offset): test them on the real broker'

export const produce: Handler = (r, ctx) => {
  if (r.nullableString() !== null) throw new Error(NO_TRANSACTIONS)
  const acks = r.int16()
  r.int32()
  const topics = r.array((r) => ({
    topic: r.string(),
    partitions: r.array((r) => ({ partition: r.int32(), records: r.bytes() ?? Buffer.alloc(0) })),
  }))
  const results = topics.map((t) => ({
    topic: t.topic,
    partitions: t.partitions.map((p) =>
      ctx.forcedError !== undefined
        ? { partition: p.partition, errorCode: ctx.forcedError, baseOffset: -1 }
        : { partition: p.partition, ...ctx.broker.store.append(t.topic, p.partition, p.records) },
    ),
  }))
  if (acks === 0) return null
  const w = new Writer()
  w.array(results, (w, t) =>
    w.string(t.topic).array(t.partitions, (w, p) => w.int32(p.partition).int16(p.errorCode).int64(p.baseOffset).int64(-1)),
  )
  return w.int32(0)
}

interface FetchPartition {
  partition: number
  offset: number
  maxBytes: number
}

const waitForAppend = (ctx: RequestContext, topics: Set<string>, ms: number): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      off()
      ctx.conn.closed.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    const off = ctx.broker.store.onAppend((topic) => topics.has(topic) && done())
    ctx.conn.closed.addEventListener('abort', done)
  })

// Long-polls until minBytes are available or maxWait passes, so idle consumers do not spin.
export const fetch: Handler = async (r, ctx) => {
  r.int32() // replica id
  const maxWait = r.int32()
  const minBytes = r.int32()
  const maxBytes = r.int32()
  r.int8() // isolation level: no transactions, so both levels read the same data
  const topics = r.array((r) => ({
    topic: r.string(),
    partitions: r.array((r): FetchPartition => ({ partition: r.int32(), offset: r.int64(), maxBytes: r.int32() })),
  }))
  const collect = () => {
    let total = 0
    let anyError = false
    const out = topics.map((t) => ({
      topic: t.topic,
      partitions: t.partitions.map((p) => {
        const res: ReadResult =
          ctx.forcedError !== undefined
            ? { errorCode: ctx.forcedError, highWatermark: -1, batches: [], size: 0 }
            : ctx.broker.store.read(t.topic, p.partition, p.offset, p.maxBytes, maxBytes - total, total === 0)
        total += res.size
        anyError ||= res.errorCode !== ErrorCode.NONE
        return { partition: p.partition, ...res }
      }),
    }))
    return { out, total, anyError }
  }
  let res = collect()
  const cap = ctx.broker.opts.maxFetchWaitMs ?? Number.POSITIVE_INFINITY
  const deadline = Date.now() + Math.min(maxWait, cap)
  const names = new Set(topics.map((t) => t.topic))
  while (res.total < Math.max(minBytes, 1) && !res.anyError && !ctx.conn.closed.aborted && Date.now() < deadline) {
    await waitForAppend(ctx, names, deadline - Date.now())
    res = collect()
  }
  const w = new Writer().int32(0)
  w.array(res.out, (w, t) =>
    w.string(t.topic).array(t.partitions, (w, p) => {
      w.int32(p.partition).int16(p.errorCode).int64(p.highWatermark).int64(p.highWatermark)
      w.array([], () => undefined) // aborted transactions
      w.int32(p.size)
      for (const b of p.batches) w.raw(b)
    }),
  )
  return w
}

export const listOffsets: Handler = (r, ctx) => {
  r.int32() // replica id
  const topics = r.array((r) => ({ topic: r.string(), partitions: r.array((r) => ({ partition: r.int32(), timestamp: r.int64() })) }))
  const w = new Writer()
  w.array(topics, (w, t) =>
    w.string(t.topic).array(t.partitions, (w, p) => {
      const offset = ctx.broker.store.offsetForTimestamp(t.topic, p.partition, p.timestamp)
      const errorCode = ctx.forcedError ?? (offset === undefined ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : ErrorCode.NONE)
      w.int32(p.partition)
        .int16(errorCode)
        .int64(-1)
        .int64(errorCode === ErrorCode.NONE ? offset! : -1)
    }),
  )
  return w
}

export const createTopics: Handler = (r, ctx) => {
  const requests = r.array((r) => {
    const topic = r.string()
    const partitions = r.int32()
    r.int16() // replication factor: one node, so it is ignored
    r.array((r) => [r.int32(), r.array((r) => r.int32())])
    const configs = new Map(r.array((r) => [r.string(), r.nullableString()] as const))
    const maxMessageBytes = configs.get('max.message.bytes')
    return { topic, partitions, ...(maxMessageBytes ? { config: { maxMessageBytes: Number(maxMessageBytes) } } : {}) }
  })
  r.int32() // timeout
  const { store, opts } = ctx.broker
  const w = new Writer()
  w.array(requests, (w, t) => {
    const n = t.partitions === -1 ? (opts.defaultPartitions ?? 1) : t.partitions
    let code: number = ctx.forcedError ?? ErrorCode.NONE
    if (code === ErrorCode.NONE && n <= 0) code = ErrorCode.INVALID_PARTITIONS
    if (code === ErrorCode.NONE && !store.createTopic(t.topic, n, t.config)) code = ErrorCode.TOPIC_ALREADY_EXISTS
    w.string(t.topic).int16(code)
  })
  return w
}

export const deleteTopics: Handler = (r, ctx) => {
  const topics = r.array((r) => r.string())
  r.int32()
  const w = new Writer()
  w.array(topics, (w, topic) => {
    const code = ctx.forcedError ?? (ctx.broker.store.deleteTopic(topic) ? ErrorCode.NONE : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    w.string(topic).int16(code)
  })
  return w
}

export const createPartitions: Handler = (r, ctx) => {
  const topics = r.array((r) => {
    const topic = r.string()
    const count = r.int32()
    r.nullableArray((r) => r.array((r) => r.int32())) // replica assignment: one node
    return { topic, count }
  })
  r.int32() // timeout
  const validateOnly = r.int8() !== 0
  const w = new Writer().int32(0)
  w.array(topics, (w, t) => {
    const current = ctx.broker.store.partitionCount(t.topic)
    const code =
      ctx.forcedError ??
      (current === undefined
        ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        : t.count <= current
          ? ErrorCode.INVALID_PARTITIONS
          : validateOnly
            ? ErrorCode.NONE
            : ctx.broker.store.addPartitions(t.topic, t.count))
    w.string(t.topic)
      .int16(code)
      .string(
        code === ErrorCode.INVALID_PARTITIONS
          ? `Topic currently has ${current} partitions, which is higher than the requested ${t.count}.`
          : null,
      )
  })
  return w
}

export const deleteRecords: Handler = (r, ctx) => {
  const topics = r.array((r) => ({ topic: r.string(), partitions: r.array((r) => ({ partition: r.int32(), offset: r.int64() })) }))
  r.int32() // timeout
  const w = new Writer().int32(0)
  w.array(topics, (w, t) =>
    w.string(t.topic).array(t.partitions, (w, p) => {
      const res =
        ctx.forcedError !== undefined
          ? { errorCode: ctx.forcedError, lowWatermark: -1 }
          : ctx.broker.store.deleteRecords(t.topic, p.partition, p.offset)
      w.int32(p.partition).int64(res.lowWatermark).int16(res.errorCode)
    }),
  )
  return w
}

let nextProducerId = 1000

// Only so `idempotent: true` producers can start; sequence numbers are not checked.
export const initProducerId: Handler = (r, ctx) => {
  if (r.nullableString() !== null) throw new Error(NO_TRANSACTIONS)
  r.int32()
  return new Writer()
    .int32(0)
    .int16(ctx.forcedError ?? ErrorCode.NONE)
    .int64(nextProducerId++)
    .int16(0)
}
