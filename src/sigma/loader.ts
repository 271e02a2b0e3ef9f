/**
 * Reads a folder of Sigma rules: every .yml/.yaml file below it, one rule per file, in path order. The
 * first folder level is the rule's group (transport, identity, access, egress, audit, behaviour): setup
 * creates one Security Analytics detector per group. Rules with the same id are refused, since the id is
 * how a rule is found again in the cluster.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { EnvoyAuditError } from '../errors.js'
import { packageRoot } from '../package-root.js'
import { parseSigmaRule, type SigmaRule } from './rule.js'

export interface LoadedRule extends SigmaRule {
  group: string
}

/** The rules shipped with envoy-audit. */
export function defaultRulesDir(): string {
  return path.join(packageRoot(), 'detections', 'sigma')
}

/** Rules that need placeholder lists from a baseline (src/sigma/baseline.ts); setup writes the lists in (expand.ts). */
export function baselineRulesDir(): string {
  return path.join(packageRoot(), 'detections', 'baseline')
}

function walk(dir: string, rel: string, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name)
    const relPath = rel === '' ? name : `${rel}/${name}`
    if (statSync(full).isDirectory()) walk(full, relPath, out)
    else if (/\.ya?ml$/i.test(name)) out.push(relPath)
  }
}

export function loadSigmaRules(dir: string = defaultRulesDir()): LoadedRule[] {
  const files: string[] = []
  try {
    walk(dir, '', files)
  } catch (err) {
    throw new EnvoyAuditError('EA_IO', `cannot read the rules folder ${dir}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    })
  }
  if (files.length === 0) throw new EnvoyAuditError('EA_SIGMA_INVALID', `${dir}: no .yml rule files`)
  const seen = new Map<string, string>()
  return files.map((rel) => {
    const rule = parseSigmaRule(readFileSync(path.join(dir, rel), 'utf8'), rel)
    const other = seen.get(rule.id)
    if (other !== undefined) throw new EnvoyAuditError('EA_SIGMA_INVALID', `${rel}: id ${rule.id} is also the id of ${other}`)
    seen.set(rule.id, rel)
    return { ...rule, group: rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : 'default' }
  })
}
