/**
 * Options that were renamed stay readable under their old name for existing config files, with a
 * warning that names the option path and the new name (`run` logs it at startup, `config validate`
 * prints it). A section's schema moves the old name's value to the new name and marks the parsed object
 * with what it moved; the mark is a symbol-keyed property, so printing the config (YAML, JSON) and the
 * secret scan never see it.
 */

const RENAMED = Symbol('renamed options')

interface Renamed {
  /** Old name -> new name, within one config object. */
  [RENAMED]?: Readonly<Record<string, string>>
}

/** `value` marked as having been given `from` (now read as `to`); returns the same object. */
export function markRenamed<T extends object>(value: T, from: string, to: string): T {
  const v = value as T & Renamed
  v[RENAMED] = { ...(v[RENAMED] ?? {}), [from]: to }
  return value
}

/**
 * One warning per renamed option the parsed config was given, e.g.
 * `alerting.kafka.ssl is a deprecated name: it is read as alerting.kafka.tls; ...`.
 */
export function renamedOptionWarnings(config: unknown, prefix = ''): string[] {
  const out: string[] = []
  const walk = (value: unknown, path: string): void => {
    if (value === null || typeof value !== 'object') return
    const at = (key: string): string => (path === '' ? key : `${path}.${key}`)
    for (const [from, to] of Object.entries((value as Renamed)[RENAMED] ?? {})) {
      out.push(`${at(from)} is a deprecated name: it is read as ${at(to)}; rename it in the config file (same options)`)
    }
    for (const [key, child] of Object.entries(value)) walk(child, at(key))
  }
  walk(config, prefix)
  return out
}
