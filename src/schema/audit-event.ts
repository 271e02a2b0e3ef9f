import fastJson from 'fast-json-stringify'
import eventSchemaJson from '../../schemas/audit-event.schema.json' with { type: 'json' }
import deadLetterSchemaJson from '../../schemas/dead-letter.schema.json' with { type: 'json' }
import type { AuditEvent, DeadLetter } from '../generated/types.js'

export type { AuditEvent, DeadLetter } from '../generated/types.js'

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
  return fastJson(eventSchemaJson as object) as Serializer<AuditEvent>
}

export function compileDeadLetterSerializer(): Serializer<DeadLetter> {
  return fastJson(deadLetterSchemaJson as object) as Serializer<DeadLetter>
}
