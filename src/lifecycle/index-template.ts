/**
 * Composable index templates for the events and findings period indices, generated from the JSON Schemas
 * (schemas/audit-event.schema.json, schemas/opensearch/finding.schema.json) through the same
 * `mappingFromSchema` as everything else, so the index can never disagree with the serializer.
 * `version` is the schema's x-schema-version: setup replaces an installed template only with a newer
 * version (or the same version with different content), never with an older one.
 */
import { createHash } from 'node:crypto'
import { auditEventSchema, SCHEMA_VERSION } from '../schema/audit-event.js'
import { mappingFromSchema } from '../schema/mapping.js'
import { findingSchema, FINDING_SCHEMA_VERSION } from '../sinks/opensearch/documents.js'
import type { LifecycleConfig } from './config.js'

export interface IndexTemplate {
  index_patterns: string[]
  priority: number
  version: number
  _meta: { managed_by: 'envoy-audit'; schema: string; schema_version: number; content_hash: string }
  template: { settings: Record<string, unknown>; aliases: Record<string, Record<string, never>>; mappings: Record<string, unknown> }
}

/** sha256 over canonical JSON (sorted keys): the same content always hashes the same. */
export function contentHash(value: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical)
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {}
      for (const k of Object.keys(v).sort()) out[k] = canonical((v as Record<string, unknown>)[k])
      return out
    }
    return v
  }
  return createHash('sha256')
    .update(JSON.stringify(canonical(value)))
    .digest('hex')
    .slice(0, 16)
}

function build(
  alias: string,
  schemaName: string,
  schema: Readonly<Record<string, unknown>>,
  version: number,
  c: LifecycleConfig,
): IndexTemplate {
  const template = {
    // No ISM setting here: a node without the plugin refuses unknown index settings, and the policy
    // attaches itself through its ism_template.
    settings: {
      number_of_shards: c.shards,
      number_of_replicas: c.replicas,
      refresh_interval: c.refreshInterval,
    },
    // Every period index joins the alias, as a read alias: the sink names the period index itself.
    aliases: { [alias]: {} },
    mappings: mappingFromSchema(schema),
  }
  const body = { index_patterns: [`${alias}-*`], priority: 200, version, template }
  return { ...body, _meta: { managed_by: 'envoy-audit', schema: schemaName, schema_version: version, content_hash: contentHash(body) } }
}

export function eventsTemplate(c: LifecycleConfig): IndexTemplate {
  return build(c.eventsAlias, 'audit-event', auditEventSchema, SCHEMA_VERSION, c)
}

export function findingsTemplate(c: LifecycleConfig): IndexTemplate {
  return build(c.findingsAlias, 'finding', findingSchema, FINDING_SCHEMA_VERSION, c)
}

/** Template name for an alias. */
export function templateName(alias: string): string {
  return `${alias}-template`
}

/** The first write index of the earlier layout (a rolling write alias): `<alias>-000001`. Setup no longer creates it. */
export function bootstrapIndex(alias: string): string {
  return `${alias}-000001`
}
