/**
 * The contracts between pipeline components. Build-time and run-time are separate: factories build
 * components without side effects; `start()` opens sockets and files; `close()` is idempotent, safe
 * before `start()`, flushes in-flight work and commits last.
 */
import type { AuditEvent, DeadLetter } from '../schema/audit-event.js'
import type { AuditSourceFields } from '../generated/types.js'
import type { ErrorCode } from '../errors.js'

/** Where a record came from: file+line+byte offset, or topic+partition+offset (offsets as strings: 64-bit). */
export type SourceCoords = AuditSourceFields

/** One record as a source delivers it: the bytes exactly as read, before any envelope is removed. */
export interface RawRecord {
  value: Buffer | string
  coords: SourceCoords
  /** Kafka headers, kept for the dead-letter record. */
  headers?: Record<string, string>
  /** The Kafka message key, when there is one: names the container stream CRI partial lines are joined in. */
  key?: Buffer | string
  /** The cluster the source says the record came from (a per-topic or per-source option). */
  cluster?: string
  /**
   * Set by a source that could not unwrap the record (an OTLP export request that does not decode): the
   * parser dead-letters it with this reason and its bytes as they came.
   */
  invalid?: { code: ErrorCode; message: string }
}

export interface Lifecycle {
  start(): Promise<void>
  /** Idempotent; flushes in-flight work; safe to call before start(). */
  close(): Promise<void>
}

/**
 * Called by a source with a batch of records. It resolves once every record of the batch is
 * acknowledged: indexed by the sink or written to the dead-letter output. Only then may a source
 * commit past those records. It rejects when that could not be done (sink or DLQ down at close):
 * the source must then commit nothing past the batch.
 */
export type BatchHandler = (records: RawRecord[]) => Promise<BatchAck | void>

/**
 * What an acknowledged batch became, for a source that answers its sender per batch (the OTLP receiver's
 * partial_success): how many of its records went to the dead-letter output, by reason.
 */
export interface BatchAck {
  deadLettered: number
  reasons: Readonly<Record<string, number>>
}

export interface Source extends Lifecycle {
  /** Begins delivering batches to the handler; resolves when delivery has begun (or, for finite sources, ended). */
  run(handler: BatchHandler): Promise<void>
  /**
   * Long-running sources (Kafka) settle this when they have stopped after close(), or reject when
   * they failed for good. Finite sources leave it undefined: run() resolving is their end.
   */
  readonly stopped?: Promise<void>
}

export interface SinkRejection {
  event: AuditEvent
  code: ErrorCode
  message: string
}

export interface SinkWriteResult {
  /** Events the sink refused permanently (mapping errors, other 4xx). Everything else was accepted. */
  rejected: SinkRejection[]
}

/**
 * A sink's write resolves only when every event is durably accepted or permanently rejected.
 * Retryable failures (429, 5xx, network) are retried inside with capped, jittered backoff, which is
 * what makes a slow sink push back on the source; write rejects only when closing interrupts it.
 */
export interface Sink extends Lifecycle {
  readonly name: string
  write(events: AuditEvent[]): Promise<SinkWriteResult>
}

/** Dead-letter output. A successful write is the acknowledgement of those records; a failure must propagate. */
export interface DeadLetterSink extends Lifecycle {
  write(deadLetters: DeadLetter[]): Promise<void>
}

/**
 * What one stage did, summed by the runner over acknowledged batches and exported per stage on /metrics
 * (parse, each transform stage, sink), as Data Prepper's processors count records in and out.
 */
export interface StageCounts {
  in: number
  out: number
  deadLettered: number
  /** Time spent in the stage (for the sink: until it acknowledged). */
  seconds: number
}

/**
 * Redacts dead letters in place before the dead-letter output sees them; returns the values replaced.
 * Handed to the runner explicitly by whoever built the redaction stage (src/compose/stages.ts).
 */
export type DeadLetterRedaction = (deadLetters: DeadLetter[]) => number

export interface StageResult {
  events: AuditEvent[]
  deadLetters: DeadLetter[]
}

/**
 * A transform stage over a batch. It takes ownership of the events it is given (it may annotate them
 * in place, as OTel processors that declare MutatesData do) and returns the events that continue.
 * It must not throw for any input the parser can produce; if it does, the runner dead-letters the batch's
 * offending record with EA_TRANSFORM_FAILED instead of crashing.
 */
export interface TransformStage {
  readonly name: string
  process(events: AuditEvent[]): StageResult
}
