/**
 * A Sigma rule file read and checked: the fields the Sigma specification requires (title, logsource,
 * detection; https://github.com/SigmaHQ/sigma-specification, sigma-rules-specification.md) and those
 * OpenSearch Security Analytics refuses a rule without (a UUID id, level, status, description, author;
 * SigmaRule.fromDict in opensearch-project/security-analytics). The detection is compiled by
 * detection.ts; this file only checks the metadata.
 */
import { parse as parseYaml } from 'yaml'
import { EnvoyAuditError } from '../errors.js'

export const SIGMA_LEVELS = ['informational', 'low', 'medium', 'high', 'critical'] as const
export const SIGMA_STATUSES = ['stable', 'test', 'experimental', 'deprecated', 'unsupported'] as const
export type SigmaLevel = (typeof SIGMA_LEVELS)[number]

export interface SigmaRule {
  /** Where it was read from (a path relative to the rules folder), for messages. */
  source: string
  title: string
  id: string
  status: (typeof SIGMA_STATUSES)[number]
  level: SigmaLevel
  description: string
  author: string
  date: string
  references: string[]
  tags: string[]
  logsource: { category?: string; product?: string; service?: string }
  detection: Record<string, unknown>
  falsepositives: string[]
  /** The rule's text exactly as read: what is uploaded to Security Analytics. */
  text: string
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
// Tags: namespace, dot, name; lower-case letters, digits, underscores, hyphens and dots (specification, Tags).
const TAG = /^[a-z0-9_-]+\.[a-z0-9._-]+$/
const DATE = /^\d{4}[-/]\d{2}[-/]\d{2}$/

function invalid(source: string, message: string): EnvoyAuditError {
  return new EnvoyAuditError('EA_SIGMA_INVALID', `${source}: ${message}`)
}

function stringList(source: string, doc: Record<string, unknown>, key: string): string[] {
  const v = doc[key]
  if (v === undefined) return []
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalid(source, `${key} must be a list of strings`)
  return v as string[]
}

function requiredString(source: string, doc: Record<string, unknown>, key: string, max = 10_000): string {
  const v = doc[key]
  if (typeof v !== 'string' || v.trim() === '') throw invalid(source, `${key} is required (a non-empty string)`)
  if (v.length > max) throw invalid(source, `${key} is longer than ${max} characters`)
  return v
}

export function parseSigmaRule(text: string, source: string): SigmaRule {
  let doc: unknown
  try {
    // Dates stay strings (yaml's core schema has no timestamp type), as Security Analytics reads them.
    doc = parseYaml(text, { uniqueKeys: true })
  } catch (err) {
    throw invalid(source, `not valid YAML: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw invalid(source, 'a rule is a YAML mapping')
  const d = doc as Record<string, unknown>
  if ('correlation' in d || 'action' in d)
    throw new EnvoyAuditError('EA_SIGMA_UNSUPPORTED', `${source}: correlation and action documents are not evaluated`)
  const title = requiredString(source, d, 'title', 256)
  const id = requiredString(source, d, 'id')
  if (!UUID.test(id)) throw invalid(source, `id must be a UUID: ${id}`)
  const status = requiredString(source, d, 'status') as SigmaRule['status']
  if (!SIGMA_STATUSES.includes(status)) throw invalid(source, `status must be one of ${SIGMA_STATUSES.join(', ')}: ${status}`)
  const level = requiredString(source, d, 'level') as SigmaLevel
  if (!SIGMA_LEVELS.includes(level)) throw invalid(source, `level must be one of ${SIGMA_LEVELS.join(', ')}: ${level}`)
  const date = requiredString(source, d, 'date')
  if (!DATE.test(date)) throw invalid(source, `date must be YYYY-MM-DD: ${date}`)
  const logsource = d.logsource
  if (logsource === null || typeof logsource !== 'object' || Array.isArray(logsource))
    throw invalid(source, 'logsource is required (a mapping)')
  const ls = logsource as Record<string, unknown>
  if (!['category', 'product', 'service'].some((k) => typeof ls[k] === 'string'))
    throw invalid(source, 'logsource needs at least one of category, product, service')
  const detection = d.detection
  if (detection === null || typeof detection !== 'object' || Array.isArray(detection))
    throw invalid(source, 'detection is required (a mapping)')
  if (!('condition' in detection)) throw invalid(source, 'detection.condition is required')
  const tags = stringList(source, d, 'tags')
  for (const t of tags) if (!TAG.test(t)) throw invalid(source, `tag ${JSON.stringify(t)} is not namespace.name in lower case`)
  return {
    source,
    title,
    id,
    status,
    level,
    description: requiredString(source, d, 'description'),
    author: requiredString(source, d, 'author'),
    date,
    references: stringList(source, d, 'references'),
    tags,
    logsource: {
      ...(typeof ls.category === 'string' ? { category: ls.category } : {}),
      ...(typeof ls.product === 'string' ? { product: ls.product } : {}),
      ...(typeof ls.service === 'string' ? { service: ls.service } : {}),
    },
    detection: detection as Record<string, unknown>,
    falsepositives: stringList(source, d, 'falsepositives'),
    text,
  }
}

/** The fields the Sigma rule JSON schema lists as required (json-schema/sigma-detection-rule-schema.json). */
export const SIGMA_REQUIRED_FIELDS = ['title', 'logsource', 'detection'] as const
