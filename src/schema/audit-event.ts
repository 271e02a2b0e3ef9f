import fastJson from 'fast-json-stringify'
import eventSchemaJson from '../../schemas/audit-event.schema.json' with { type: 'json' }
import deadLetterSchemaJson from '../../schemas/dead-letter.schema.json' with { type: 'json' }
import type { AuditEvent, DeadLetter } from '../generated/types.js'

export type { AuditEvent, DeadLetter, DeadLetterPart } from '../generated/types.js'

/** The JSON Schemas in schemas/ are the single source of truth for the event and dead-letter shapes. */
export const auditEventSchema: Readonly<Record<string, unknown>> = eventSchemaJson
export const deadLetterSchema: Readonly<Record<string, unknown>> = deadLetterSchemaJson
export const SCHEMA_VERSION: number = (eventSchemaJson as { 'x-schema-version': number })['x-schema-version']

export type Serializer<T> = (value: T) => string

/**
 * Compiles the schema into a serializer. Call once at startup, never per record (fastify): the
 * compiled function is what makes NDJSON bulk bodies cheap, and it also drops any key that is not in
 * the schema, so untrusted input cannot inject fields into the index.
 */
export function compileEventSerializer(): Serializer<AuditEvent> {
  const serialize = fastJson(serializerSchema as object) as Serializer<AuditEvent>
  return (event) => {
    for (const key of REQUIRED)
      if ((event as unknown as Record<string, unknown>)[key] === undefined) throw new Error(`audit event: ${key} is required`)
    return serialize(event)
  }
}

const REQUIRED: readonly string[] = (eventSchemaJson as { required: string[] }).required

/**
 * The schema as the serializer sees it: without the top-level `required` list, because
 * fast-json-stringify writes required properties first, and the stores rely on `audit` (the last
 * property) coming last, with `audit.hash` last inside it, so the hash stage can append the hash to
 * the document it hashed instead of serializing it twice (src/integrity/chain.ts). The wrapper in
 * compileEventSerializer still refuses an event without a required member.
 */
const serializerSchema: Record<string, unknown> = (() => {
  const { required: _required, ...rest } = eventSchemaJson as Record<string, unknown>
  const props = Object.keys((rest as { properties: Record<string, unknown> }).properties)
  const audit = (rest as { properties: { audit: { properties: Record<string, unknown> } } }).properties.audit
  const auditProps = Object.keys(audit.properties)
  if (props.at(-1) !== 'audit' || auditProps.at(-1) !== 'hash')
    throw new Error('audit-event schema: audit must be the last property and audit.hash the last of audit')
  return rest
})()

export function compileDeadLetterSerializer(): Serializer<DeadLetter> {
  return fastJson(deadLetterSchemaJson as object) as Serializer<DeadLetter>
}
