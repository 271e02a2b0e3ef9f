/** Reading the `envoy-audit.*` headers of a dead-letter topic message (src/sinks/kafka-dlq.ts writes them). */

/** A Kafka header value as text (kafkajs gives a Buffer or an array of them). */
export function headerText(v: Buffer | Buffer[] | undefined): string {
  if (v === undefined) return ''
  return (Array.isArray(v) ? v[0] : v)?.toString('utf8') ?? ''
}

/** `partition/offset` of the source record a dead-letter message stands for (from its envoy-audit.* headers). */
export function dlqKey(m: { headers: Record<string, Buffer | Buffer[] | undefined> }): string {
  return `${headerText(m.headers['envoy-audit.source.partition'])}/${headerText(m.headers['envoy-audit.source.offset'])}`
}
