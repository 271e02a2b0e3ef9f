/** Leaf fields of the generated index mapping (schemas/generated/audit-event.mapping.json) → type. */
import { readFileSync } from 'node:fs'

interface Node {
  type?: string
  properties?: Record<string, Node>
  fields?: Record<string, Node>
}

export function mappingFields(): Map<string, string> {
  const mapping = JSON.parse(readFileSync(new URL('../../schemas/generated/audit-event.mapping.json', import.meta.url), 'utf8')) as {
    properties: Record<string, Node>
  }
  const out = new Map<string, string>()
  const walk = (props: Record<string, Node>, prefix: string) => {
    for (const [k, n] of Object.entries(props)) {
      const name = prefix === '' ? k : `${prefix}.${k}`
      if (n.properties !== undefined) walk(n.properties, name)
      else {
        out.set(name, n.type ?? 'object')
        for (const [s, sn] of Object.entries(n.fields ?? {})) out.set(`${name}.${s}`, sn.type ?? 'object')
      }
    }
  }
  walk(mapping.properties, '')
  return out
}

/** Types OpenSearch can aggregate and sort on (doc values). */
export const AGGREGATABLE = new Set(['keyword', 'long', 'integer', 'date', 'boolean', 'ip', 'double', 'float'])

/** Field names a KQL query references: `a.b.c:` tokens, and `not a.b:*`. */
export function kqlFields(query: string): string[] {
  return [...query.matchAll(/([@A-Za-z_][\w.@]*)\s*:/g)].map((m) => m[1]!)
}
