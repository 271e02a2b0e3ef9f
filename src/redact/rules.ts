/**
 * The redaction rules, compiled once from the config. Each rule is a global regex whose named group
 * `value` (or, for user rules without one, the whole match) is replaced by REDACTED; keys, header
 * names and auth schemes are kept so the record still says *what* was there.
 *
 * Shapes the built-in rules recognise:
 *
 *   /cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz            query parameter (name in `params`)
 *   /app;jsessionid=1A530637289A03B07199A44E8D531427      matrix parameter
 *   {"authorization":"Bearer abc","x-api-key":"k1"}       header logged under a JSON key, also with a
 *   {"req_authorization":"..."}                          prefix (custom formats name keys freely)
 *   {\"authorization\":\"...\"}                          the same inside an envelope's escaped string
 *   Authorization: Basic dXNlcjpwYXNz                     header written as `Name: value`
 *   "Bearer eyJhbGciOi..."                               bare %REQ(AUTHORIZATION)% in a text format
 *   eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln            JWT (JWS compact, RFC 7515 §7.1) anywhere
 */
import type { RedactionConfig } from './config.js'

export const REDACTED = '[REDACTED]'

interface CompiledRule {
  readonly re: RegExp
  /** Replace only the `value` group (true) or the whole match (false). */
  readonly group: boolean
  /**
   * Cheap pre-test without the `d` flag: a text it does not match cannot match `re`. Per rule, so a
   * user agent's `;` (which the matrix-parameter rule needs) does not send every line through every
   * header rule, and the costlier indices-tracking regex only runs where a match is likely.
   */
  readonly marker?: RegExp
  /** Its marker can only match a text that `CompiledRules.named` matches. */
  readonly named?: boolean
}

export interface CompiledRules {
  /** Built-in rules that only fire when the text contains one of the markers. */
  readonly builtIn: readonly CompiledRule[]
  /** The query rule, applied to url.query unconditionally (it has no `?` of its own). */
  readonly query: CompiledRule | undefined
  readonly user: readonly CompiledRule[]
  /** Cheap pre-test: a text without any marker cannot match a built-in rule. */
  readonly markers: RegExp | undefined
  /**
   * The markers without `[?;]`: one scan that rules out every header, auth-scheme and JWT rule at once,
   * where their own markers would each scan the text (a user agent's `;` sends nearly every line past
   * `markers`).
   */
  readonly named: RegExp | undefined
  /** Whether `markers` holds `[?;]` (the query rule's): `named` or one of those two characters is `markers`. */
  readonly separators: boolean
  readonly headers: ReadonlySet<string>
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
/** Header spellings vary between `x-api-key` and `x_api_key` in custom JSON keys. */
const headerAlt = (names: readonly string[]): string => names.map((n) => escapeRe(n).replace(/[-_]/g, '[-_]')).join('|')

const AUTH_SCHEMES = ['Bearer', 'bearer', 'Basic', 'basic', 'Digest', 'Negotiate', 'NTLM']

export function compileRules(config: RedactionConfig): CompiledRules {
  const builtIn: CompiledRule[] = []
  const markers: string[] = []
  let query: CompiledRule | undefined
  let separators = false
  if (config.headers.length > 0) {
    const names = headerAlt(config.headers)
    const marker = new RegExp(names, 'i')
    // Plain JSON: "…authorization": "value" (value with JSON escapes).
    builtIn.push({
      re: new RegExp(`"(?:[A-Za-z0-9_.-]*[_.-])?(?:${names})"\\s*:\\s*"(?<value>(?:[^"\\\\]|\\\\.)+)"`, 'gid'),
      group: true,
      marker,
      named: true,
    })
    // JSON inside a JSON string (an envelope's `log` field): \"authorization\":\"value\".
    builtIn.push({
      re: new RegExp(`\\\\"(?:[A-Za-z0-9_.-]*[_.-])?(?:${names})\\\\"\\s*:\\s*\\\\"(?<value>(?:(?!\\\\")[^\\r\\n])+)\\\\"`, 'gid'),
      group: true,
      marker,
      named: true,
    })
    // Name: value, as a header dump prints it; the value runs to the end of the quoted field.
    builtIn.push({
      re: new RegExp(`\\b(?:${names})\\s*:\\s*(?<value>[^"\\\\\\r\\n\\s][^"\\\\\\r\\n]*)`, 'gid'),
      group: true,
      marker,
      named: true,
    })
    markers.push(...config.headers.map((h) => headerAlt([h])))
  }
  if (config.authSchemes) {
    builtIn.push({
      re: new RegExp(`\\b(?:${AUTH_SCHEMES.join('|')})\\s+(?<value>[A-Za-z0-9._~+/=-]{6,})`, 'gd'),
      group: true,
      marker: new RegExp(`\\b(?:${AUTH_SCHEMES.join('|')})\\s`),
      named: true,
    })
    markers.push('bearer', 'basic', 'digest', 'negotiate', 'ntlm')
  }
  if (config.params.length > 0) {
    const names = config.params.map(escapeRe).join('|')
    // The separator is consumed rather than looked behind: a lookbehind is tried at every position of
    // every text, and this rule sees the 1 KB original line of each event. Adjacent parameters still
    // match, because a value never swallows the `&`/`;` that starts the next one.
    query = { re: new RegExp(`(?:^|[?&;])(?:${names})=(?<value>[^&#;\\s"'\\\\]+)`, 'gid'), group: true }
    builtIn.push({ ...query, marker: new RegExp(`(?:^|[?&;])(?:${names})=`, 'i') })
    separators = true
  }
  if (config.jwt) {
    builtIn.push({
      re: /eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/dg,
      group: false,
      marker: /eyJ[A-Za-z0-9_-]+\.eyJ/,
      named: true,
    })
    markers.push('eyJ')
  }
  const user = config.rules.map((r) => {
    const flags = [...new Set(`gd${r.flags}`)].join('')
    const re = new RegExp(r.pattern, flags)
    return { re, group: /\(\?<value>/.test(r.pattern) }
  })
  return {
    builtIn,
    query,
    user,
    markers: markers.length === 0 && !separators ? undefined : new RegExp([...markers, ...(separators ? ['[?;]'] : [])].join('|'), 'i'),
    named: markers.length === 0 ? undefined : new RegExp(markers.join('|'), 'i'),
    separators,
    headers: new Set(config.headers.map((h) => h.toLowerCase())),
  }
}

export interface Redacted {
  text: string
  count: number
}

/**
 * Applies the rules to one text. `isQuery` is for url.query, which has no `?` for the markers to
 * find. A value that is already REDACTED is not counted again, so redaction is idempotent.
 */
export function redactText(rules: CompiledRules, text: string, isQuery = false): Redacted {
  let count = 0
  let out = text
  // rules.named or a separator is what rules.markers matches, so the same texts take this branch.
  const named = rules.named !== undefined && rules.named.test(out)
  if (named || (rules.separators && (out.includes('?') || out.includes(';')))) {
    // The header rules share one marker: tested once while the text stays the same.
    let tested: RegExp | undefined
    let found = false
    let changed = false
    for (const rule of rules.builtIn) {
      // Until a rule has replaced something, `named` answers for the marker of every rule it covers.
      if (rule.named === true && !named && !changed) continue
      const marker = rule.marker
      if (marker !== undefined) {
        if (marker !== tested) {
          found = marker.test(out)
          tested = marker
        }
        if (!found) continue
      }
      const r = applyRule(rule, out)
      if (r.count > 0) {
        tested = undefined
        changed = true
      }
      out = r.text
      count += r.count
    }
  } else if (isQuery && rules.query !== undefined) {
    const r = applyRule(rules.query, out)
    out = r.text
    count += r.count
  }
  for (const rule of rules.user) {
    const r = applyRule(rule, out)
    out = r.text
    count += r.count
  }
  return { text: out, count }
}

function applyRule(rule: CompiledRule, text: string): Redacted {
  const re = rule.re
  re.lastIndex = 0
  let m: RegExpExecArray | null
  let out = ''
  let last = 0
  let count = 0
  while ((m = re.exec(text)) !== null) {
    if (m[0].length === 0) {
      // An empty match (a user pattern like `x*`) would loop forever.
      re.lastIndex++
      continue
    }
    const span = rule.group ? m.indices?.groups?.value : m.indices?.[0]
    if (span === undefined) continue
    const [start, end] = span
    if (end <= start || text.slice(start, end) === REDACTED) continue
    out += text.slice(last, start) + REDACTED
    last = end
    count++
  }
  if (count === 0) return { text, count: 0 }
  return { text: out + text.slice(last), count }
}
