/**
 * The Sigma condition language, as far as the rules use it: search identifiers, `and`, `or`, `not`,
 * brackets, `1 of`/`any of`/`all of` an identifier pattern or `them`, and one aggregation after a pipe,
 * `count([field]) [by field] <op> N` (Sigma 1.0 specification, Condition; the aggregation form is the one
 * OpenSearch Security Analytics converts into a bucket-level monitor). Precedence, least binding first:
 * `|`, `or`, `and`, `not`, `x of`, brackets. Anything else is EA_SIGMA_UNSUPPORTED, never a guess.
 */
import { EnvoyAuditError } from '../errors.js'

export type ConditionNode =
  | { kind: 'id'; name: string }
  | { kind: 'of'; quantifier: 'any' | 'all'; pattern: string }
  | { kind: 'not'; arg: ConditionNode }
  | { kind: 'and' | 'or'; args: ConditionNode[] }

export type CompareOp = '>' | '>=' | '<' | '<=' | '='

export interface Aggregation {
  fn: 'count'
  /** count(field): distinct values of the field; count(): events. */
  field?: string
  by?: string
  op: CompareOp
  threshold: number
}

export interface ParsedCondition {
  expr: ConditionNode
  aggregation?: Aggregation
}

function unsupported(source: string, message: string): EnvoyAuditError {
  return new EnvoyAuditError('EA_SIGMA_UNSUPPORTED', `${source}: ${message}`)
}

const TOKEN = /\s*(\(|\)|[A-Za-z0-9_*\-.]+)/y

function tokenize(text: string, source: string): string[] {
  const out: string[] = []
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < text.length) {
    if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) break
    const at = TOKEN.lastIndex
    const m = TOKEN.exec(text)
    if (m === null) throw unsupported(source, `condition: unexpected ${JSON.stringify(text.slice(at).trim().slice(0, 20))}`)
    out.push(m[1]!)
  }
  return out
}

function parseExpression(text: string, source: string): ConditionNode {
  const tokens = tokenize(text, source)
  let i = 0
  const peek = (): string | undefined => tokens[i]
  const lower = (t: string | undefined): string | undefined => t?.toLowerCase()
  const fail = (what: string): never => {
    throw unsupported(source, `condition ${JSON.stringify(text)}: ${what}`)
  }
  const primary = (): ConditionNode => {
    const t = peek()
    if (t === undefined) return fail('ends early')
    if (t === '(') {
      i++
      const e = or()
      if (peek() !== ')') fail('missing )')
      i++
      return e
    }
    if (['1', 'any', 'all'].includes(lower(t)!) && lower(tokens[i + 1]) === 'of') {
      const pattern = tokens[i + 2]
      if (pattern === undefined || pattern === '(' || pattern === ')') fail('`of` needs an identifier pattern or them')
      i += 3
      return { kind: 'of', quantifier: lower(t) === 'all' ? 'all' : 'any', pattern: pattern! }
    }
    if (['and', 'or', 'not', 'near', ')'].includes(lower(t)!)) fail(`unexpected ${t}`)
    i++
    return { kind: 'id', name: t }
  }
  const not = (): ConditionNode => {
    if (lower(peek()) === 'not') {
      i++
      return { kind: 'not', arg: not() }
    }
    return primary()
  }
  const chain = (op: 'and' | 'or', next: () => ConditionNode) => (): ConditionNode => {
    const args = [next()]
    while (lower(peek()) === op) {
      i++
      args.push(next())
    }
    return args.length === 1 ? args[0]! : { kind: op, args }
  }
  const and = chain('and', not)
  const or = chain('or', and)
  const expr = or()
  if (i < tokens.length) fail(`unexpected ${tokens[i]}`)
  return expr
}

const AGGREGATION = /^\s*(\w+)\s*\(\s*([A-Za-z0-9_.]*)\s*\)\s*(?:by\s+([A-Za-z0-9_.]+)\s*)?(>=|<=|==|=|>|<)\s*(\d+)\s*$/i

function parseAggregation(text: string, source: string): Aggregation {
  const m = AGGREGATION.exec(text)
  if (m === null) throw unsupported(source, `aggregation ${JSON.stringify(text.trim())}: expected count([field]) [by field] <op> N`)
  if (m[1]!.toLowerCase() !== 'count') throw unsupported(source, `aggregation function ${m[1]} (only count)`)
  const op = (m[4] === '==' ? '=' : m[4]) as CompareOp
  return {
    fn: 'count',
    ...(m[2] !== '' ? { field: m[2]! } : {}),
    ...(m[3] !== undefined ? { by: m[3] } : {}),
    op,
    threshold: Number(m[5]),
  }
}

/** One condition string; a list of conditions is their `or` and may not aggregate (see detection.ts). */
export function parseCondition(text: string, source: string): ParsedCondition {
  const parts = text.split('|')
  if (parts.length > 2) throw unsupported(source, `condition ${JSON.stringify(text)}: more than one pipe`)
  const expr = parseExpression(parts[0]!, source)
  return parts.length === 2 ? { expr, aggregation: parseAggregation(parts[1]!, source) } : { expr }
}

export function compare(value: number, op: CompareOp, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold
    case '>=':
      return value >= threshold
    case '<':
      return value < threshold
    case '<=':
      return value <= threshold
    case '=':
      return value === threshold
  }
}
