/**
 * The one error catalogue. Codes are stable: dead letters, metrics and alerts carry them, and users
 * write queries against them, so a code is never renamed or reused. `retryable` is decided where the
 * error is raised (platformatic `canRetry`, OTel `NewPermanent`) so the runner never has to guess.
 */

export type Stage = 'config' | 'source' | 'parse' | 'transform' | 'sink' | 'store' | 'cli'

interface CodeSpec {
  readonly stage: Stage
  readonly retryable: boolean
  readonly description: string
}

export const ERROR_CODES = {
  // Config and usage: fail fast at startup.
  EA_CONFIG_INVALID: {
    stage: 'config',
    retryable: false,
    description: 'Configuration failed validation; the message names the option path.',
  },
  EA_USAGE: { stage: 'cli', retryable: false, description: 'Bad command-line usage.' },
  EA_IO: { stage: 'source', retryable: false, description: 'An input or output file could not be read or written.' },

  // Parse: a record that cannot become an event. Permanent: it goes to the dead-letter output.
  EA_PARSE_EMPTY: { stage: 'parse', retryable: false, description: 'Empty or whitespace-only record.' },
  EA_PARSE_INVALID_UTF8: { stage: 'parse', retryable: false, description: 'Record bytes are not valid UTF-8.' },
  EA_PARSE_TOO_LONG: { stage: 'parse', retryable: false, description: 'Record longer than the configured maximum line length.' },
  EA_PARSE_INVALID_JSON: { stage: 'parse', retryable: false, description: 'Record looks like JSON but does not parse (often truncated).' },
  EA_PARSE_NOT_OBJECT: { stage: 'parse', retryable: false, description: 'JSON value is not an object.' },
  EA_PARSE_NOT_ACCESS_LOG: {
    stage: 'parse',
    retryable: false,
    description: 'Not an Envoy access-log record (istio-agent or Envoy application log, unknown text).',
  },
  EA_PARSE_MALFORMED_TEXT: {
    stage: 'parse',
    retryable: false,
    description: 'Looks like an Envoy TEXT access log but a field does not parse.',
  },
  EA_PARSE_BAD_TIMESTAMP: { stage: 'parse', retryable: false, description: 'Start time missing or not a valid date.' },
  EA_PARSE_ENVELOPE: {
    stage: 'parse',
    retryable: false,
    description: 'A log envelope (Fluent Bit, Vector, CRI, Docker, an OTLP export request) is malformed or carries no log line.',
  },
  EA_PARSE_PARTIAL: {
    stage: 'parse',
    retryable: false,
    description: 'A CRI partial (P) line whose continuation never arrived, or a partial line over the size cap.',
  },
  EA_PARSE_UNSAFE_KEY: {
    stage: 'parse',
    retryable: false,
    description: 'JSON carries a prototype-polluting key (__proto__, constructor, prototype) in a position that matters.',
  },

  // Transform stages: never expected; a bug is dead-lettered rather than crashing the pipeline.
  EA_TRANSFORM_FAILED: {
    stage: 'transform',
    retryable: false,
    description: 'A transform threw on this record (a bug): the record is dead-lettered with the error.',
  },

  // Sinks.
  EA_SINK_UNAVAILABLE: {
    stage: 'sink',
    retryable: true,
    description: 'Sink unreachable or overloaded (connection error, 429, 502, 503, 504).',
  },
  EA_SINK_ITEM_RETRYABLE: { stage: 'sink', retryable: true, description: 'A bulk item failed with 429 or 5xx; only that item is re-sent.' },
  EA_SINK_MAPPING: {
    stage: 'sink',
    retryable: false,
    description: 'The sink rejected the document permanently (mapping error, other 4xx).',
  },
  EA_SINK_AUTH: { stage: 'sink', retryable: false, description: 'Authentication or authorization with the sink failed (401/403).' },
  EA_SINK_NOT_SET_UP: {
    stage: 'sink',
    retryable: false,
    description:
      'OpenSearch lacks the index templates `envoy-audit setup` installs: run setup first (or set sink.opensearch.requireSetup: false to accept dynamic mappings and no read alias).',
  },
  EA_SINK_INDEX_READ_ONLY: {
    stage: 'sink',
    retryable: false,
    description:
      "The event's index is read-only (ISM warm state, index.blocks.write) and does not hold the event: it arrived too late to be indexed.",
  },
  EA_SINK_EVENT_TIME: {
    stage: 'sink',
    retryable: false,
    description:
      'The event has no usable @timestamp to choose its index, or is dated outside the window the sink may create indices for (maxFutureHours, maxPastDays).',
  },
  EA_SINK_ID_TOO_LONG: {
    stage: 'sink',
    retryable: false,
    description: 'The document _id is longer than the 512 bytes OpenSearch allows (it would fail the whole bulk request).',
  },
  EA_SINK_TOO_LARGE: {
    stage: 'sink',
    retryable: false,
    description: 'One document alone is larger than the cluster accepts in a request (HTTP 413, http.max_content_length).',
  },
  EA_RETENTION_UNENFORCED: {
    stage: 'cli',
    retryable: false,
    description:
      'setup found no Index Management (ISM) plugin: indices are never made read-only or deleted (pass --without-ism to accept).',
  },
  EA_DLQ_UNAVAILABLE: {
    stage: 'sink',
    retryable: true,
    description: 'The dead-letter output could not be written; nothing past it is committed.',
  },

  // Sources.
  EA_SOURCE_UNAVAILABLE: { stage: 'source', retryable: true, description: 'The source (Kafka brokers) is unreachable.' },
  EA_SOURCE_AUTH: {
    stage: 'source',
    retryable: false,
    description:
      'The Kafka brokers refused the credentials (SASL authentication failed) or an authorization (topic, group, cluster), or a broker certificate failed TLS verification.',
  },
  EA_SOURCE_CORRUPT_BATCH: {
    stage: 'source',
    retryable: false,
    description:
      'A Kafka batch does not decompress or decode: the source stops at it, with nothing committed past it (as a Java consumer does).',
  },

  // Detection rules (Sigma) and the SIEM plugins they are deployed to.
  EA_SIGMA_INVALID: {
    stage: 'config',
    retryable: false,
    description: 'A Sigma rule file is not valid YAML or lacks a field the Sigma specification or Security Analytics requires.',
  },
  EA_SIGMA_UNSUPPORTED: {
    stage: 'config',
    retryable: false,
    description: 'A Sigma rule uses a construct (modifier, condition, aggregation) outside the subset envoy-audit evaluates.',
  },
  EA_PLUGIN_MISSING: {
    stage: 'config',
    retryable: false,
    description: 'An OpenSearch plugin a requested step needs is not installed on the cluster (e.g. Security Analytics).',
  },

  // Store.
  EA_STORE_QUERY: { stage: 'store', retryable: false, description: 'A store query failed.' },
} as const satisfies Record<string, CodeSpec>

export type ErrorCode = keyof typeof ERROR_CODES

export class EnvoyAuditError extends Error {
  readonly code: ErrorCode
  readonly retryable: boolean
  readonly stage: Stage

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'EnvoyAuditError'
    this.code = code
    this.stage = ERROR_CODES[code].stage
    // A code's default can be overridden where the raiser knows better (e.g. a 400 that is transient).
    this.retryable = options?.retryable ?? ERROR_CODES[code].retryable
  }
}

export function isRetryable(err: unknown): boolean {
  return err instanceof EnvoyAuditError ? err.retryable : false
}

export function errorCodeOf(err: unknown): ErrorCode {
  return err instanceof EnvoyAuditError ? err.code : 'EA_TRANSFORM_FAILED'
}
