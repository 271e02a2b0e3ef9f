import { readFileSync } from 'node:fs'

/** Reads the version from package.json at run time (dist/src/cli → package root is three levels up). */
export function packageVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'envoy-audit' && pkg.version !== undefined) return pkg.version
    } catch {
      // try the next candidate: the layout differs between tsx (src/) and the build (dist/src/)
    }
  }
  return '0.0.0'
}
