/**
 * Request-path handling the way Envoy prepares `url_path` for RBAC under Istio's pathNormalization modes
 * (istio/api mesh/v1alpha1/config.proto ProxyPathNormalization; istio.io normalization page):
 * - the query (and fragment) is never part of the matched path;
 * - BASE/DEFAULT: %-decode unreserved characters once, `\` → `/`, RFC 3986 dot-segment removal;
 * - MERGE_SLASHES: BASE plus `//` → `/`;
 * - DECODE_AND_MERGE_SLASHES: `%2F %2f %5C %5c` decoded first, then MERGE_SLASHES.
 * Case is never normalized. `%00` makes Envoy reject the request (400): reported as `rejected`.
 */
import type { PathNormalization } from './mesh-config.js'

export type NormalizedPath = { ok: true; path: string } | { ok: false; reason: string }

// Unreserved characters Envoy decodes once under BASE: %2d - %2e . %30-39 digits %41-5a A-Z %5f _ %61-7a a-z %7e ~
const UNRESERVED_ESCAPE = /%(2[dDeE]|3[0-9]|4[1-9a-fA-F]|5[0-9aAfF]|6[1-9a-fA-F]|7[0-9aAeE])/g
const SLASH_ESCAPE = /%(2[fF]|5[cC])/g

export function stripQuery(path: string): string {
  const q = path.search(/[?#]/)
  return q === -1 ? path : path.slice(0, q)
}

export function normalizePath(raw: string, mode: PathNormalization): NormalizedPath {
  let p = stripQuery(raw)
  if (/%00/.test(p)) return { ok: false, reason: 'path contains %00 (Envoy rejects with 400)' }
  if (mode === 'NONE') return { ok: true, path: p }
  if (mode === 'DECODE_AND_MERGE_SLASHES') p = p.replace(SLASH_ESCAPE, (m) => decodeURIComponent(m))
  p = p.replace(UNRESERVED_ESCAPE, (m) => {
    const c = String.fromCharCode(parseInt(m.slice(1), 16))
    return /[A-Za-z0-9\-._~]/.test(c) ? c : m
  })
  p = p.replace(/\\/g, '/')
  p = removeDotSegments(p)
  if (mode === 'MERGE_SLASHES' || mode === 'DECODE_AND_MERGE_SLASHES') p = p.replace(/\/{2,}/g, '/')
  return { ok: true, path: p }
}

/** RFC 3986 §5.2.4 remove_dot_segments over an absolute path. */
export function removeDotSegments(path: string): string {
  if (!path.startsWith('/')) path = `/${path}`
  const segs = path.split('/').slice(1)
  const out: string[] = []
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!
    const last = i === segs.length - 1
    if (s === '.') {
      if (last) out.push('')
    } else if (s === '..') {
      out.pop()
      if (last) out.push('')
    } else {
      out.push(s)
    }
  }
  return `/${out.join('/')}`
}

/** True when an Istio path value is an Envoy uri_template (`{*}` / `{**}` operators). */
export function isPathTemplate(value: string): boolean {
  return value.includes('{*}') || value.includes('{**}')
}

const templateCache = new Map<string, RegExp>()

/**
 * Compiles a path template: `{*}` is exactly one non-empty segment, `{**}` is zero or more characters
 * across segments (istio authz_test.go TestAuthz_PathTemplating: `/allow/admin/{**}` matches
 * `/allow/admin/` but not `/allow/admin`; `/store/{**}/cart` matches `/store//cart`).
 */
export function templateRegex(template: string): RegExp {
  let re = templateCache.get(template)
  if (re !== undefined) return re
  let src = '^'
  for (const part of template.split(/(\{\*\*\}|\{\*\})/)) {
    if (part === '{**}') src += '[^?#]*'
    else if (part === '{*}') src += '[^/?#]+'
    else src += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  }
  re = new RegExp(`${src}$`)
  if (templateCache.size < 10_000) templateCache.set(template, re)
  return re
}

/** Validation of a template (istio CheckValidPathTemplate): `{**}` last operator, no bare `*`. */
export function templateProblem(value: string): string | null {
  if (!isPathTemplate(value)) return null
  const ops: string[] = value.match(/\{\*\*?\}/g) ?? []
  const lastDouble = value.lastIndexOf('{**}')
  if (lastDouble !== -1 && ops.indexOf('{**}') !== ops.length - 1) return '{**} must be the last operator in a path template'
  if (value.replace(/\{\*\*?\}/g, '').includes('*')) return '`*` outside a {*}/{**} operator is not allowed in a path template'
  if (/\{[^*}]*\}/.test(value.replace(/\{\*\*?\}/g, ''))) return 'only {*} and {**} operators are supported'
  return null
}
