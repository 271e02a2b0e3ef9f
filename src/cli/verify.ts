/**
 * `envoy-audit verify`: tamper evidence for the stored audit trail (AU-9(3), AU-10). Exit codes:
 * 0 intact (warnings allowed), 3 tampering found (deleted, modified or inserted events, or a broken
 * chain), 2 usage, 1 other errors.
 */
import type { Command } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import { DEFAULT_STORE_PATH, openDuckDbStore } from '../store/duckdb-store.js'
import { DEFAULT_KEY_ENV, loadIntegrityKey } from '../integrity/config.js'
import { verifyDuckDbStore, type VerifyReport } from '../integrity/verify-duckdb.js'

export const EXIT_TAMPERED = 3

interface VerifyOptions {
  store: string
  opensearch?: string
  keyFile?: string
  requireKey?: boolean
  json?: boolean
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('check the stored events against the integrity ledger: report deleted, modified and inserted events (exit 3 when tampered)')
    .option('--store <path>', 'DuckDB store file', DEFAULT_STORE_PATH)
    .option('--opensearch <url>', 'verify an OpenSearch store (not supported yet: the OpenSearch sink keeps no ledger)')
    .option('--key-file <file>', `checkpoint HMAC key (default: the ${DEFAULT_KEY_ENV} environment variable)`)
    .option('--require-key', 'fail when no key is available, instead of only checking the chain')
    .option('--json', 'the full report as JSON on stdout')
    .addHelpText('after', '\nSee docs/integrity.md for what is and is not detected.\n')
    .action(async (opts: VerifyOptions) => {
      if (opts.opensearch !== undefined) {
        throw new EnvoyAuditError('EA_USAGE', 'verify --opensearch is not supported yet: only the embedded store keeps an integrity ledger (use --store)')
      }
      const key = loadIntegrityKey({ keyEnv: DEFAULT_KEY_ENV, requireKey: opts.requireKey === true, ...(opts.keyFile === undefined ? {} : { keyFile: opts.keyFile }) })
      const store = await openDuckDbStore(opts.store, { mustExist: true })
      let report: VerifyReport
      try {
        report = await verifyDuckDbStore(store, key)
      } finally {
        await store.close()
      }
      if (!report.hasLedger) {
        // Not "tampered" and not "intact": there is nothing to check against.
        throw new EnvoyAuditError('EA_IO', `${opts.store} has no integrity ledger (written by ingest/demo, or with integrity disabled): nothing to verify`)
      }
      process.stdout.write(opts.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report, key !== undefined))
      if (!report.ok) process.exitCode = EXIT_TAMPERED
    })
}

// eslint-disable-next-line no-control-regex
const clean = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')

export function formatReport(r: VerifyReport, keyed: boolean): string {
  const lines: string[] = []
  lines.push(`${r.ok ? 'INTACT' : 'TAMPERED'}: ${r.events} events, ${r.ledgered} ledger entries in ${r.streams} streams, ${r.checkpoints} checkpoints` +
    (keyed ? ` (${r.signedVerified} signatures verified)` : ' (no key: signatures not checked)'))
  lines.push(`deleted ${r.counts.deleted}, modified ${r.counts.modified}, inserted ${r.counts.inserted}, chain ${r.counts.chain}`)
  if (r.unsignedTail > 0) lines.push(`note: ${r.unsignedTail} ledger entries after the last checkpoint of their stream`)
  for (const w of r.warnings) lines.push(`warning: ${w}`)
  for (const i of r.issues) lines.push(`${i.kind}\t${clean(i.id)}\t${clean(i.detail)}`)
  const listed = r.counts.deleted + r.counts.modified + r.counts.inserted + r.counts.chain
  if (listed > r.issues.length) lines.push(`... ${listed - r.issues.length} more (see --json)`)
  return `${lines.join('\n')}\n`
}
