/**
 * Secrets written into a config file, found and masked before the config is printed (`config validate`
 * echoes the config it read). The schema keeps secrets out by design (passwordEnv, passwordFile,
 * bearerTokenEnv, keyFile name where a secret lives), but a few places accept one literally: the
 * OpenSearch basic-auth password, a URL with user:password@, a credential header of the webhook, a
 * token in a URL's query. Each is replaced by [REDACTED] and reported by its option path.
 */
import { DEFAULT_SECRET_HEADERS, DEFAULT_SECRET_PARAMS } from '../redact/config.js'
import { REDACTED } from '../redact/rules.js'

export interface SecretFound {
  /** Option path, e.g. sink.opensearch.connection.password. */
  path: string
  /** What it is and where it belongs instead. */
  advice: string
}

// A key that holds a secret itself; `...Env` and `...File` name where one lives and are safe to print.
const SECRET_KEY = /(password|passwd|passphrase|secret|token|credential|apikey|privatekey|^key$)/i
const POINTER_KEY = /(env|file|path)$/i
const SECRET_HEADER = new Set(DEFAULT_SECRET_HEADERS.map((h) => h.toLowerCase()))
const SECRET_PARAM = new Set(DEFAULT_SECRET_PARAMS.map((p) => p.toLowerCase()))
const URL_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@:\s]*:)([^/?#@\s]+)@/i

const ADVICE: Record<string, string> = {
  'sink.opensearch.connection.password':
    'leave username and password out of the file and set OPENSEARCH_USERNAME and ' +
    'OPENSEARCH_PASSWORD (a Kubernetes secret in the environment)',
}
const GENERIC = 'secrets belong in environment variables or files (the ...Env and ...File options), not in the config file'

/** A copy of `config` with every literal secret masked, and where each was. */
export function redactConfigSecrets(config: unknown): { redacted: unknown; found: SecretFound[] } {
  const found: SecretFound[] = []
  const walk = (value: unknown, path: string[], parentKey: string | undefined): unknown => {
    const key = path[path.length - 1]
    const at = path.join('.')
    const isSecretKey = key !== undefined && SECRET_KEY.test(key.replace(/[-_]/g, '')) && !POINTER_KEY.test(key)
    if (isSecretKey && value !== undefined && value !== null && value !== '') {
      found.push({ path: at, advice: ADVICE[at] ?? GENERIC })
      return REDACTED
    }
    const isSecretHeader = key !== undefined && (SECRET_HEADER.has(key.toLowerCase()) || SECRET_KEY.test(key.replace(/[-_]/g, '')))
    if (parentKey === 'headers' && typeof value === 'string' && isSecretHeader) {
      found.push({ path: at, advice: 'a credential header belongs in bearerTokenEnv (an environment variable), not in the config file' })
      return REDACTED
    }
    if (typeof value === 'string') return redactUrl(value, at, found)
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, String(i)], key))
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, walk(v, [...path, k], key)]))
    }
    return value
  }
  return { redacted: walk(config, [], undefined), found }
}

function redactUrl(text: string, path: string, found: SecretFound[]): string {
  let out = text
  if (URL_USERINFO.test(out)) {
    out = out.replace(URL_USERINFO, `$1${REDACTED}@`)
    found.push({ path, advice: 'a password in a URL belongs in an environment variable or file, not in the config file' })
  }
  const q = out.indexOf('?')
  if (q !== -1 && /^[a-z][a-z0-9+.-]*:\/\//i.test(out)) {
    let hit = false
    const query = out.slice(q + 1).replace(/([^&=#]+)=([^&#]*)/g, (all, name: string, value: string) => {
      if (!SECRET_PARAM.has(decodeURIComponentSafe(name).toLowerCase()) || value === '') return all
      hit = true
      return `${name}=${REDACTED}`
    })
    if (hit) {
      out = `${out.slice(0, q + 1)}${query}`
      found.push({ path, advice: 'a token in a URL belongs in an environment variable or file, not in the config file' })
    }
  }
  return out
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}
