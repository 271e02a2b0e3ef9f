/**
 * Field values as OpenSearch indexes them, by mapped type, for the test server's queries and
 * aggregations: a `date` is epoch milliseconds whatever the _source held (ISO string or number), a
 * `boolean` is true/false (the string "true" too), numbers are numbers, an `ip` compares as its 16-byte
 * form (IPv4 mapped into IPv6, so `::1` < `10.0.0.1` < `2001:db8::1`), a `keyword` is a string. An
 * unmapped field keeps the loose reading the server had before mappings were consulted.
 */
import { isIP } from 'node:net'
import { docDate } from './dates.js'

type Json = Record<string, unknown>

export type FieldType = 'date' | 'boolean' | 'number' | 'ip' | 'keyword' | 'other'
const NUMERIC = new Set(['long', 'integer', 'short', 'byte', 'double', 'float', 'half_float', 'scaled_float', 'unsigned_long'])

/** Every dotted path of a mapping with its type. */
export function mappedTypes(mappings: Json, prefix = '', out = new Map<string, FieldType>()): Map<string, FieldType> {
  for (const [name, def] of Object.entries((mappings.properties ?? {}) as Record<string, Json>)) {
    const path = prefix === '' ? name : `${prefix}.${name}`
    if (def.properties !== undefined) mappedTypes(def, path, out)
    const t = def.type
    if (typeof t !== 'string') continue
    out.set(
      path,
      t === 'date' || t === 'date_nanos'
        ? 'date'
        : t === 'boolean'
          ? 'boolean'
          : t === 'ip'
            ? 'ip'
            : t === 'keyword' || t === 'constant_keyword'
              ? 'keyword'
              : NUMERIC.has(t)
                ? 'number'
                : 'other',
    )
  }
  return out
}

/** Every value at a dotted path, flattening arrays on the way (OpenSearch fields are multi-valued). */
export function valuesAt(doc: unknown, path: string): unknown[] {
  let current: unknown[] = [doc]
  for (const part of path.split('.')) {
    const next: unknown[] = []
    for (const v of current) {
      if (v === null || typeof v !== 'object') continue
      const child = Object.hasOwn(v, part) ? (v as Json)[part] : undefined
      if (Array.isArray(child)) next.push(...child)
      else if (child !== undefined) next.push(child)
    }
    current = next
  }
  return current.filter((v) => v !== null && v !== undefined)
}

/** 32 hex digits of an address (IPv4 as ::ffff:a.b.c.d), the order OpenSearch sorts ip fields in. */
export function ipBytes(ip: string): string {
  if (isIP(ip) === 4)
    return (
      '00000000000000000000ffff' +
      ip
        .split('.')
        .map((o) => Number(o).toString(16).padStart(2, '0'))
        .join('')
    )
  let text = ip
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (v4 !== null) {
    const hex = ipBytes(v4[1]!).slice(24)
    text = text.slice(0, -v4[1]!.length) + `${hex.slice(0, 4)}:${hex.slice(4)}`
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined]
  const h = head === '' ? [] : head!.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  return groups
    .map((g) => g.padStart(4, '0'))
    .join('')
    .toLowerCase()
}

/** The value as indexed for a field of this type, or undefined when the index would not hold it. */
export function indexedValue(v: unknown, type: FieldType | undefined): unknown {
  switch (type) {
    case 'date':
      return docDate(v)
    case 'boolean':
      return v === true || v === 'true' ? true : v === false || v === 'false' ? false : undefined
    case 'number': {
      const n = typeof v === 'number' ? v : Number(v)
      return Number.isNaN(n) ? undefined : n
    }
    case 'ip':
      return typeof v === 'string' && isIP(v) !== 0 ? v : undefined
    case 'keyword':
      return typeof v === 'object' ? undefined : String(v)
    default:
      return v
  }
}

/** A sortable form: numbers stay numbers, booleans are 1/0, ips their bytes, the rest strings. */
export function sortKey(v: unknown, type: FieldType | undefined): number | string {
  if (typeof v === 'number') return v
  if (typeof v === 'boolean') return v ? 1 : 0
  if (type === 'ip') return ipBytes(String(v))
  const s = String(v)
  if (type === undefined && /^\d{4}-\d{2}-\d{2}/.test(s)) {
    // Unmapped: dates still compare as instants, so `gte: '2024-01-01'` matches '2024-01-01T00:00:00.000Z'.
    const t = Date.parse(s)
    if (!Number.isNaN(t)) return t
  }
  return s
}

export function compareKeys(a: number | string, b: number | string): number {
  if (a === b) return 0
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : 1
  // Mixed (only for unmapped fields): numbers first, as doc values of different types never mix in OpenSearch.
  if (typeof a === 'number') return -1
  if (typeof b === 'number') return 1
  return a < b ? -1 : 1
}

/** Whether `ip` lies in `cidr` ("10.0.0.0/8") or equals it (no prefix). */
export function ipMatches(ip: string, cidr: string): boolean {
  const [addr, bits] = cidr.split('/')
  const a = ipBytes(ip)
  const b = ipBytes(addr!)
  if (bits === undefined) return a === b
  const prefix = Number(bits) + (isIP(addr!) === 4 ? 96 : 0)
  const bin = (hex: string) => [...hex].map((c) => parseInt(c, 16).toString(2).padStart(4, '0')).join('')
  return bin(a).slice(0, prefix) === bin(b).slice(0, prefix)
}
