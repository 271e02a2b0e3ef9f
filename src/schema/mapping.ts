/**
 * Derives the OpenSearch `mappings` from the event JSON Schema, so the index and the serializer can
 * never disagree. Leaves default to keyword (identities, codes and names are matched exactly in SIEM
 * queries); `x-opensearch` overrides that per leaf.
 */

interface SchemaNode {
  type?: string | string[]
  properties?: Record<string, SchemaNode>
  items?: SchemaNode
  additionalProperties?: boolean | SchemaNode
  'x-opensearch'?: string
}

export type FieldMapping = Record<string, unknown>

const KEYWORD_IGNORE_ABOVE = 1024

function leafMapping(node: SchemaNode): FieldMapping {
  const hint = node['x-opensearch']
  if (hint === 'text_noindex') return { type: 'text', index: false }
  // Kept in _source only, as ECS maps event.original (keyword, index and doc_values off).
  if (hint === 'keyword_noindex') return { type: 'keyword', index: false, doc_values: false }
  if (hint === 'wildcard') return { type: 'keyword', ignore_above: 8191, fields: { text: { type: 'text' } } }
  if (hint !== undefined) return { type: hint }
  const types = Array.isArray(node.type) ? node.type : [node.type]
  if (types.includes('integer')) return { type: 'long' }
  if (types.includes('number')) return { type: 'double' }
  if (types.includes('boolean')) return { type: 'boolean' }
  return { type: 'keyword', ignore_above: KEYWORD_IGNORE_ABOVE }
}

function nodeMapping(node: SchemaNode): FieldMapping {
  if (node['x-opensearch'] !== undefined && node.properties === undefined) return leafMapping(node)
  if (node.properties !== undefined) {
    const properties: Record<string, FieldMapping> = {}
    for (const [name, child] of Object.entries(node.properties)) properties[name] = nodeMapping(child)
    return { properties }
  }
  // Arrays map as their item type: OpenSearch fields are multi-valued by nature.
  if (node.items !== undefined) return nodeMapping(node.items)
  return leafMapping(node)
}

/** The `mappings` object for the events index: strict, so an unexpected field is an error, not a new column. */
export function mappingFromSchema(schema: Readonly<Record<string, unknown>>): FieldMapping {
  const root = nodeMapping(schema as SchemaNode)
  return { dynamic: 'strict', ...root }
}

/** Every dotted leaf path with its mapping type: what dashboards and queries may reference. */
export function leafFields(mapping: FieldMapping, prefix = ''): Map<string, string> {
  const out = new Map<string, string>()
  const props = (mapping as { properties?: Record<string, FieldMapping> }).properties ?? {}
  for (const [name, child] of Object.entries(props)) {
    const path = prefix === '' ? name : `${prefix}.${name}`
    const childProps = (child as { properties?: unknown }).properties
    if (childProps !== undefined) {
      for (const [k, v] of leafFields(child, path)) out.set(k, v)
    } else {
      out.set(path, String((child as { type?: unknown }).type))
      const subFields = (child as { fields?: Record<string, { type: string }> }).fields ?? {}
      for (const [sub, def] of Object.entries(subFields)) out.set(`${path}.${sub}`, def.type)
    }
  }
  return out
}
