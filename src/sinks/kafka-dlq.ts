/**
 * Dead-letter topic writer. Each dead letter becomes one Kafka record: by default (format "raw", the
 * Kafka Connect convention) the value is the original record's bytes, unchanged, and the reason, stage,
 * time and source topic/partition/offset travel as `envoy-audit.*` headers next to the original
 * headers, so a replay is "consume the DLQ topic, produce the values back" (a joined CRI line: one
 * record per part, see rawPieces). Format "json" writes the dead-letter document
 * (schemas/dead-letter.schema.json) instead. The key is the dead letter's deterministic id.
 *
 * A successful write is the acknowledgement of those records (acks=-1 by default). A failed write
 * throws EA_DLQ_UNAVAILABLE; the source then commits nothing past those records and re-delivers.
 * A write is cut into produce requests of at most maxBatchBytes, and a dead letter alone larger than
 * that is truncated with headers naming its original length and SHA-256 (kafka-dlq-size.ts). If a
 * write fails after some of its requests succeeded, the re-delivery writes those again (at least once).
 */
import { Partitioners, type Message, type Producer } from 'kafkajs'
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'
import type { DeadLetterSink } from '../pipeline/component.js'
import { originalBytes } from '../pipeline/dead-letter.js'
import { compileDeadLetterSerializer, type DeadLetter, type Serializer } from '../schema/audit-event.js'
import { createKafkaClient, silentLogger, type ClientDeps } from '../connections/kafka.js'
import { kafkaConnectionSchema, topicName, type KafkaConnectionConfig } from '../connections/kafka-config.js'
import { preflight } from '../connections/kafka-startup.js'
import { compressionType, kafkaCodecName } from '../sources/kafka/codecs.js'
import { loadConfigSection } from '../config/validate.js'
import { fitDeadLetter, splitByBytes } from './kafka-dlq-size.js'

export const kafkaDlqConfigSchema = kafkaConnectionSchema
  .extend({
    clientId: z.string().min(1).max(255).default('envoy-audit-dlq'),
    topic: topicName,
    /** -1: all in-sync replicas. A dead letter is the only copy of a record once its offset is committed. */
    acks: z.union([z.literal(-1), z.literal(1)]).default(-1),
    /** Any codec Kafka has: none, gzip, snappy, lz4, zstd (src/sources/kafka/codecs.ts). */
    compression: kafkaCodecName.default('gzip'),
    format: z.enum(['raw', 'json']).default('raw'),
    /** Broker-side wait for the acks, per produce request. */
    ackTimeoutMs: z.number().int().min(100).max(300_000).default(30_000),
    /** Longest error message carried in the reason header. */
    maxMessageChars: z.number().int().min(16).max(65_536).default(1_024),
    /**
     * Most bytes of records (keys, values, headers; before compression) in one produce request. Keep it
     * at or below the topic's max.message.bytes (Kafka's default 1,048,588), or the broker refuses the
     * request (MESSAGE_TOO_LARGE). A dead letter alone larger than this is truncated (kafka-dlq-size.ts).
     */
    maxBatchBytes: z.number().int().min(4_096).max(104_857_600).default(1_000_000),
  })
  .strict()

export type KafkaDlqConfig = Readonly<z.output<typeof kafkaDlqConfigSchema>>

/**
 * The writer never creates its topic (partitions and retention are the operator's choice), so a missing
 * one is a configuration error to report at startup: found at the first dead letter instead, it would
 * stall the pipeline with only kafkajs' "does not host this topic-partition" to go on.
 */
async function assertTopicExists(cfg: KafkaDlqConfig, deps: KafkaDlqDeps): Promise<void> {
  const { topic, brokers } = cfg
  try {
    // Within startupTimeoutMs, naming each broker that did not answer (startup.ts); `run` takes the
    // connection options from source.kafka, so messages name those.
    await preflight({
      cfg,
      deps,
      prefix: 'source.kafka',
      component: 'kafka-dlq',
      topics: [topic],
      unavailable: 'EA_DLQ_UNAVAILABLE',
      what: `dead-letter topic ${topic}`,
    })
  } catch (err) {
    if (err instanceof EnvoyAuditError) throw err
    const type = (err as { type?: string }).type
    if (type === 'UNKNOWN_TOPIC_OR_PARTITION') {
      throw new EnvoyAuditError(
        'EA_CONFIG_INVALID',
        `deadLetter.topic: the dead-letter topic ${topic} does not exist on ${brokers.join(',')}; create it (it is never auto-created)`,
        { cause: err },
      )
    }
    throw new EnvoyAuditError('EA_DLQ_UNAVAILABLE', `dead-letter topic ${topic} on ${brokers.join(',')}: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

export function loadKafkaDlqConfig(input: unknown, prefix = 'deadLetter.kafka'): KafkaDlqConfig {
  return loadConfigSection(kafkaDlqConfigSchema, input, prefix)
}

/**
 * The dead-letter topic on the source's own cluster: same brokers, TLS, SASL and retries, so one set
 * of credentials is configured once.
 */
export function dlqConfigFromSource(source: KafkaConnectionConfig, topic: string, overrides: Record<string, unknown> = {}): KafkaDlqConfig {
  const { brokers, connectionTimeoutMs, requestTimeoutMs, startupTimeoutMs, retry, tls, sasl } = source
  return loadKafkaDlqConfig({
    brokers,
    connectionTimeoutMs,
    requestTimeoutMs,
    startupTimeoutMs,
    retry,
    tls,
    ...(sasl ? { sasl } : {}),
    topic,
    ...overrides,
  })
}

export const DLQ_HEADER_PREFIX = 'envoy-audit.'

export type KafkaDlqDeps = ClientDeps

export interface KafkaDeadLetterSink extends DeadLetterSink {
  readonly written: number
  /** Dead letters truncated to fit maxBatchBytes. */
  readonly truncated: number
}

function headersFor(dl: DeadLetter, maxMessageChars: number): Record<string, string> {
  const h = Object.create(null) as Record<string, string>
  for (const [k, v] of Object.entries(dl.headers ?? {})) if (v !== undefined) h[k] = v
  const set = (name: string, value: string | number | undefined): void => {
    if (value !== undefined) h[DLQ_HEADER_PREFIX + name] = String(value)
  }
  set('reason', dl.reason)
  set('stage', dl.stage)
  set('message', dl.message.slice(0, maxMessageChars))
  set('at', dl.at)
  set('event-id', dl.event_id)
  set('source.kind', dl.source.kind)
  set('source.topic', dl.source.topic)
  set('source.partition', dl.source.partition)
  set('source.offset', dl.source.offset)
  set('source.file', dl.source.file)
  set('source.line', dl.source.line)
  return h
}

/**
 * Keyed by the dead letter's deterministic id (src/pipeline/dead-letter.ts): a dead letter written again
 * after a crash or replay has the same key, lands on the same partition as its first copy, and a
 * consumer (or log compaction) dedupes on it.
 */
function keyFor(dl: DeadLetter): string {
  return dl.id
}

export const PART_HEADER = DLQ_HEADER_PREFIX + 'part'

/**
 * Format raw writes every record a dead letter holds as its own Kafka record, in the order they were
 * read: a joined CRI line's P parts, then the record that completed it. They share the key (so one
 * partition keeps their order) and carry `envoy-audit.part: i/n`; replaying the values in order
 * reassembles the line. A dead letter of one record is one Kafka record without that header.
 */
function rawPieces(dl: DeadLetter): DeadLetter[] {
  const parts = dl.parts ?? []
  if (parts.length === 0) return [dl]
  const { parts: _parts, ...last } = dl
  const pieces: DeadLetter[] = parts.map((p) => {
    const piece: DeadLetter = { ...last, source: p.source }
    delete piece.raw
    delete piece.raw_base64
    delete piece.headers
    if (p.raw_base64 !== undefined) piece.raw_base64 = p.raw_base64
    else piece.raw = p.raw ?? ''
    return piece
  })
  return [...pieces, last]
}

export function createKafkaDeadLetterSink(cfg: KafkaDlqConfig, deps: KafkaDlqDeps = {}): KafkaDeadLetterSink {
  const logger = deps.logger ?? silentLogger
  let serialize: Serializer<DeadLetter> | undefined
  let producer: Producer | undefined
  let closed = false
  let written = 0
  let truncated = 0

  const build = (dl: DeadLetter, raw?: Buffer, part?: string): Message => {
    const at = Date.parse(dl.at)
    const headers = headersFor(dl, cfg.maxMessageChars)
    if (part !== undefined) headers[PART_HEADER] = part
    return {
      key: keyFor(dl),
      value: cfg.format === 'raw' ? (raw ?? originalBytes(dl)) : (serialize ??= compileDeadLetterSerializer())(dl),
      headers,
      ...(Number.isFinite(at) ? { timestamp: String(at) } : {}),
    }
  }
  const fit = (dl: DeadLetter, part?: string): Message => {
    const fitted = fitDeadLetter(dl, (d, raw) => build(d, raw, part), cfg.maxBatchBytes)
    if (fitted.truncated) {
      truncated++
      logger.warn(
        { topic: cfg.topic, source: dl.source, reason: dl.reason, maxBatchBytes: cfg.maxBatchBytes },
        'dead letter larger than maxBatchBytes: truncated, with its original length and SHA-256 in headers',
      )
    }
    return fitted.message
  }
  const toMessages = (dl: DeadLetter): Message[] => {
    if (cfg.format !== 'raw') return [fit(dl)]
    const pieces = rawPieces(dl)
    return pieces.length === 1 ? [fit(dl)] : pieces.map((p, i) => fit(p, `${i + 1}/${pieces.length}`))
  }

  return {
    get written() {
      return written
    },
    get truncated() {
      return truncated
    },
    async start() {
      if (producer || closed) return
      // The client is configured first: an unreadable CA file or unset password is a config error, not an outage.
      const kafka = await createKafkaClient(cfg, deps, 'deadLetter.kafka', 'kafka-dlq')
      await assertTopicExists(cfg, deps)
      const p = kafka.producer({
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      })
      try {
        await p.connect()
      } catch (err) {
        throw new EnvoyAuditError(
          'EA_DLQ_UNAVAILABLE',
          `dead-letter topic brokers ${cfg.brokers.join(',')} unreachable: ${(err as Error).message}`,
          {
            cause: err,
          },
        )
      }
      producer = p
    },
    async write(deadLetters) {
      if (deadLetters.length === 0) return
      if (!producer || closed) {
        throw new EnvoyAuditError('EA_DLQ_UNAVAILABLE', `dead-letter topic ${cfg.topic}: writer ${closed ? 'closed' : 'not started'}`)
      }
      const requests = splitByBytes(deadLetters.flatMap(toMessages), cfg.maxBatchBytes)
      try {
        for (const messages of requests) {
          await producer.send({
            topic: cfg.topic,
            acks: cfg.acks,
            timeout: cfg.ackTimeoutMs,
            compression: compressionType(cfg.compression),
            messages,
          })
          written += messages.length
        }
      } catch (err) {
        const type = (err as { type?: string }).type
        const tooLarge = type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE'
        const message = tooLarge
          ? `dead-letter topic ${cfg.topic} refused a request of up to ${cfg.maxBatchBytes} bytes as too large (${type}): set deadLetter.maxBatchBytes at or below the topic's max.message.bytes`
          : `dead-letter topic ${cfg.topic}: ${(err as Error).message}`
        logger.warn(
          { topic: cfg.topic, records: deadLetters.length, requests: requests.length, error: (err as Error).message },
          'dead-letter write failed',
        )
        throw new EnvoyAuditError('EA_DLQ_UNAVAILABLE', message, { cause: err })
      }
    },
    async close() {
      if (closed) return
      closed = true
      await producer?.disconnect()
    },
  }
}
