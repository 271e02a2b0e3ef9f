import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { EnvoyAuditError } from './errors.js'

let root: string | undefined

/**
 * The envoy-audit package directory (the one whose package.json is named envoy-audit), found by
 * walking up from this module: src/ under tsx, dist/src/ when built, node_modules/envoy-audit when
 * installed. Files shipped with the package (dashboards/, schemas/) are resolved against it.
 */
export function packageRoot(): string {
  if (root !== undefined) return root
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    const pkg = path.join(dir, 'package.json')
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'envoy-audit') return (root = dir)
      } catch {
        // an unreadable package.json is not ours; keep walking up
      }
    }
    dir = path.dirname(dir)
  }
  throw new EnvoyAuditError('EA_IO', 'cannot find the envoy-audit package directory (package.json) above this module')
}

/** A file shipped with the package, e.g. `dashboards/monitors`; EA_IO when it is missing. */
export function packageFile(relative: string): string {
  const p = path.join(packageRoot(), relative)
  if (!existsSync(p)) throw new EnvoyAuditError('EA_IO', `${relative} not found in the envoy-audit package at ${packageRoot()}`)
  return p
}
