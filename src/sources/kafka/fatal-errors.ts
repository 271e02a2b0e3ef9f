/**
 * The errors of a Kafka consumer that kafkajs will not restart: which of them the source restarts
 * itself (a broker or coordinator that is away for longer than kafkajs retries), and the typed error
 * for the rest.
 */
import { EnvoyAuditError } from '../../errors.js'
import { KafkaCodecError } from './codecs.js'
import type { KafkaSourceConfig } from './config.js'

/** The error and its causes, outermost first (kafkajs wraps what it retried). */
const causes = (err: unknown): unknown[] => {
  const out: unknown[] = []
  for (let e = err; e !== undefined && e !== null && !out.includes(e) && out.length < 10; e = (e as { cause?: unknown }).cause) out.push(e)
  return out
}

/**
 * kafkajs errors that say a broker or the group coordinator could not be reached or answered "not me",
 * not that the request or the configuration is wrong. kafkajs gives up on them without a restart when
 * they end a coordinator lookup (KafkaJSGroupCoordinatorNotFound: no broker named a coordinator, e.g.
 * while the brokers are down or the coordinator moves), although they pass once the brokers are back.
 */
const TRANSIENT = new Set([
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSLockTimeout',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
  'KafkaJSStaleTopicMetadataAssignment',
])

/**
 * Whether the source restarts a consumer kafkajs stopped for good: an unreachable broker or coordinator,
 * or a broker error Kafka marks retriable (that kafkajs wrapped and gave up on). Never a refused
 * session timeout, a batch that does not decode, or an error Kafka marks non-retriable (authorization,
 * an incompatible group protocol): restarting would fail the same way.
 */
export function restartableCrash(err: Error): boolean {
  const chain = causes(err)
  if (chain.some((e) => e instanceof KafkaCodecError || (e as { type?: string }).type === 'INVALID_SESSION_TIMEOUT')) return false
  if (chain.some((e) => (e as { retriable?: unknown }).retriable === false && (e as { type?: string }).type !== undefined)) return false
  return chain.some((e) => TRANSIENT.has((e as { name?: string }).name ?? '') || (e as { retriable?: unknown }).retriable === true)
}

/** The typed error for a consumer that kafkajs will not restart. */
export function fatalSourceError(cfg: KafkaSourceConfig, err: Error): EnvoyAuditError {
  const chain = causes(err)
  if (chain.some((e) => (e as { type?: string }).type === 'INVALID_SESSION_TIMEOUT')) {
    const { minMs, maxMs } = cfg.brokerSessionTimeoutBounds
    return new EnvoyAuditError(
      'EA_CONFIG_INVALID',
      `source.kafka.sessionTimeoutMs: the broker refused ${cfg.sessionTimeoutMs} ms at join (INVALID_SESSION_TIMEOUT): it lies outside the broker's ` +
        `group.min.session.timeout.ms .. group.max.session.timeout.ms, which are stricter than the ${minMs} .. ${maxMs} ms configured in ` +
        'source.kafka.brokerSessionTimeoutBounds; set both to what the cluster allows',
      { cause: err },
    )
  }
  const corrupt = chain.find((e) => e instanceof KafkaCodecError)
  if (corrupt !== undefined) {
    return new EnvoyAuditError('EA_SOURCE_CORRUPT_BATCH', `kafka consumer stopped at a batch it cannot decode: ${corrupt.message}`, {
      cause: err,
    })
  }
  return new EnvoyAuditError('EA_SOURCE_UNAVAILABLE', `kafka consumer stopped: ${err.message}`, { cause: err })
}
