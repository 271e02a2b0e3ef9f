/**
 * The books of a real-server drill, kept from the servers themselves, never from the service's word:
 * - TopicReader: every record of the source topic (what must be indexed or dead-lettered, by offset)
 *   and of the dead-letter topic (which source offsets were dead-lettered, with their reason), read by
 *   the drill's own consumers.
 * - IndexBooks: what OpenSearch holds, always read through `<eventsAlias>*` (the alias, a concrete index
 *   named like it, or time-bucketed indices behind it), counted by the `event.id` field.
 */
import { Kafka, type Admin, type Consumer } from 'kafkajs'
import { sleep } from './real-traffic.js'

export interface SourceRecord {
  /** The deterministic event id the record must be indexed under, or 'dead' when it must be dead-lettered. */
  expect: string
  hash: string
}

/** One message of the dead-letter topic. */
export interface DeadLetterRecord {
  /** `partition/offset` of the source record it stands for. */
  key: string
  reason: string
}

/** Reads a topic from the beginning, for the whole drill, surviving broker restarts (kafkajs rejoins). */
export class TopicReader<T> {
  readonly records = new Map<number, Map<number, T>>()
  /** Messages read, re-reads after a rejoin included. */
  messagesRead = 0
  private readonly consumer: Consumer
  private readonly next = new Map<number, number>()

  constructor(
    kafka: Kafka,
    private readonly topic: string,
    groupId: string,
    private readonly decode: (
      partition: number,
      offset: number,
      value: Buffer,
      headers: Record<string, Buffer | Buffer[] | undefined>,
      old: T | undefined,
    ) => T,
  ) {
    this.consumer = kafka.consumer({
      groupId,
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: 200,
      retry: { retries: 100, initialRetryTime: 300, maxRetryTime: 3000 },
    })
  }

  async start(): Promise<void> {
    await this.consumer.connect()
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true })
    await this.consumer.run({
      autoCommit: true,
      eachMessage: async ({ partition, message }) => {
        const offset = Number(message.offset)
        let p = this.records.get(partition)
        if (p === undefined) this.records.set(partition, (p = new Map()))
        p.set(
          offset,
          this.decode(
            partition,
            offset,
            message.value ?? Buffer.alloc(0),
            (message.headers ?? {}) as Record<string, Buffer | Buffer[] | undefined>,
            p.get(offset),
          ),
        )
        this.messagesRead++
        if (offset + 1 > (this.next.get(partition) ?? 0)) this.next.set(partition, offset + 1)
      },
    })
  }

  get size(): number {
    let n = 0
    for (const p of this.records.values()) n += p.size
    return n
  }

  /** Waits until every offset below `targets[partition]` has been read. */
  async caughtUp(targets: Map<number, number>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const behind = [...targets].filter(([p, o]) => (this.next.get(p) ?? 0) < o)
      if (behind.length === 0) return
      if (Date.now() > deadline)
        throw new Error(
          `reading ${this.topic}: partitions ` +
            `${behind.map(([p, o]) => `${p} at ${this.next.get(p) ?? 0}/${o}`).join(', ')} ` +
            `not read after ${timeoutMs} ms`,
        )
      await sleep(100)
    }
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect().catch(() => undefined)
  }
}

export async function highWatermarks(admin: Admin, topic: string): Promise<Map<number, number>> {
  const offsets = await admin.fetchTopicOffsets(topic)
  return new Map(offsets.map((o) => [o.partition, Number(o.high)]))
}

/** The group's committed offsets (a partition never committed is absent). */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<Map<number, number>> {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
  return new Map((t?.partitions ?? []).filter((p) => Number(p.offset) >= 0).map((p) => [p.partition, Number(p.offset)]))
}

interface SearchHits {
  hits: { total: { value: number }; hits: { _source?: { event?: { id?: string } } }[] }
}

/** OpenSearch, read through `<alias>*` only. */
export class IndexBooks {
  readonly pattern: string
  private field: string | undefined

  constructor(
    private readonly url: string,
    readonly alias: string,
    private readonly headers: Record<string, string> = {},
  ) {
    this.pattern = `${alias}*`
  }

  async request<T>(method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { ...this.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`)
    return JSON.parse(text) as T
  }

  async refresh(): Promise<void> {
    await this.request('POST', `/${this.pattern}/_refresh`)
  }

  async count(target = this.pattern): Promise<number> {
    return (await this.request<{ count: number }>('GET', `/${target}/_count`)).count
  }

  /** `_count` through the alias name alone; undefined when no alias or index has that name. */
  async countAlias(): Promise<number | undefined> {
    const res = await fetch(`${this.url}/${this.alias}/_count`, { headers: this.headers, signal: AbortSignal.timeout(30_000) })
    if (res.status === 404) return undefined
    if (!res.ok) throw new Error(`GET /${this.alias}/_count: HTTP ${res.status}`)
    return ((await res.json()) as { count: number }).count
  }

  /** The aggregatable field holding event.id: `event.id` when mapped keyword, its `.keyword` sub-field under dynamic mapping. */
  async idField(): Promise<string> {
    if (this.field !== undefined) return this.field
    type FieldMapping = Record<string, { mappings: Record<string, { mapping: Record<string, { type?: string }> }> }>
    const m = await this.request<FieldMapping>('GET', `/${this.pattern}/_mapping/field/event.id,event.id.keyword`)
    const types = new Map<string, Set<string>>()
    for (const idx of Object.values(m)) {
      for (const [name, f] of Object.entries(idx.mappings)) {
        for (const v of Object.values(f.mapping)) {
          if (!types.has(name)) types.set(name, new Set())
          types.get(name)!.add(v.type ?? '?')
        }
      }
    }
    const only = (name: string): boolean => types.get(name)?.size === 1 && types.get(name)!.has('keyword')
    if (only('event.id')) this.field = 'event.id'
    else if (only('event.id.keyword')) this.field = 'event.id.keyword'
    else if (types.size === 0)
      return 'event.id' // nothing indexed yet; not cached
    else
      throw new Error(
        `${this.pattern}: event.id is mapped as ` +
          `${JSON.stringify(Object.fromEntries([...types].map(([k, v]) => [k, [...v]])))}, ` +
          `not as one keyword field`,
      )
    return this.field
  }

  /** Which of `ids` are indexed (by event.id). */
  async present(ids: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>()
    const field = await this.idField()
    for (let i = 0; i < ids.length; i += 2000) {
      const chunk = ids.slice(i, i + 2000)
      const r = await this.request<SearchHits>('POST', `/${this.pattern}/_search`, {
        size: 10_000,
        _source: ['event.id'],
        query: { terms: { [field]: chunk } },
      })
      if (r.hits.total.value > r.hits.hits.length)
        throw new Error(`${this.pattern}: ${r.hits.total.value} hits for ${chunk.length} ids, more than one page`)
      for (const h of r.hits.hits) if (h._source?.event?.id !== undefined) found.add(h._source.event.id)
    }
    return found
  }

  /** Documents per event.id over the whole pattern (composite aggregation, paged), and documents without one. */
  async idCounts(): Promise<{ counts: Map<string, number>; withoutId: number }> {
    const field = await this.idField()
    const counts = new Map<string, number>()
    let after: Record<string, string> | undefined
    for (;;) {
      type Composite = {
        aggregations: { ids: { after_key?: Record<string, string>; buckets: { key: { id: string }; doc_count: number }[] } }
      }
      const r = await this.request<Composite>(
        'POST',
        `/${this.pattern}/_search`,
        {
          size: 0,
          aggs: { ids: { composite: { size: 10_000, sources: [{ id: { terms: { field } } }], ...(after ? { after } : {}) } } },
        },
        120_000,
      )
      for (const b of r.aggregations.ids.buckets) counts.set(b.key.id, b.doc_count)
      if (r.aggregations.ids.buckets.length === 0 || r.aggregations.ids.after_key === undefined) break
      after = r.aggregations.ids.after_key
    }
    const withoutId = (
      await this.request<{ count: number }>('POST', `/${this.pattern}/_count`, { query: { bool: { must_not: { exists: { field } } } } })
    ).count
    return { counts, withoutId }
  }

  /** A second, independent count of duplicated ids: a terms aggregation with min_doc_count 2. */
  async duplicatedIdsByTerms(): Promise<number> {
    const field = await this.idField()
    type Terms = { aggregations: { dup: { buckets: unknown[]; sum_other_doc_count: number } } }
    const r = await this.request<Terms>(
      'POST',
      `/${this.pattern}/_search`,
      { size: 0, aggs: { dup: { terms: { field, min_doc_count: 2, size: 10_000 } } } },
      120_000,
    )
    return r.aggregations.dup.buckets.length
  }

  /** Bulk requests the node is executing right now (to show a restart landed mid-bulk); their per-shard subtasks are not counted. */
  async bulkTasksInFlight(): Promise<number> {
    const r = await this.request<{ nodes: Record<string, { tasks: Record<string, { action: string }> }> }>(
      'GET',
      '/_tasks?actions=indices:data/write/bulk',
      undefined,
      5000,
    )
    return Object.values(r.nodes).reduce(
      (n, node) => n + Object.values(node.tasks).filter((t) => t.action === 'indices:data/write/bulk').length,
      0,
    )
  }
}
