/** The typed errors of a Kafka consumer that kafkajs will not restart. */
import { EnvoyAuditError } from '../../errors.js'
import { KafkaCodecError } from './codecs.js'
import type { KafkaSourceConfig } from './config.js'

/** The error and its causes, outermost first (kafkajs wraps what it retried). */
const causes = (err: unknown): unknown[] => {
  const out: unknown[] = []
  for (let e = err; e !== undefined && e !== null && !out.includes(e) && out.length < 10; e = (e as { cause?: unknown }).cause) out.push(e)
  return out
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
