/**
 * `envoy-audit verify`: tamper evidence for the stored audit trail (AU-9(3), AU-10), for the embedded
 * store (`--store`) or OpenSearch (`--opensearch URL`, with the connection options of opensearch-options.ts).
 * Exit codes: 0 intact (warnings allowed), 3 tampering found (deleted, modified or inserted events,
 * or a broken chain), 2 usage, 1 other errors (no ledger, store unreachable).
 */
import type { Command } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import { DEFAULT_STORE_PATH, openStoreForReading } from '../store/duckdb-store.js'
import { DEFAULT_SCRATCH_MEMORY } from '../store/verify-scratch.js'
import { DEFAULT_KEY_ENV, loadIntegrityKey, type IntegrityKey } from '../integrity/config.js'
import { verifyDuckDbStore } from '../integrity/verify-duckdb.js'
import { verifyOpenSearch } from '../integrity/verify-opensearch.js'
import type { VerifyReport } from '../integrity/verify-core.js'
import { DEFAULT_INTEGRITY_PREFIX } from '../integrity/opensearch-indices.js'
import { createOpenSearchClient } from '../connections/opensearch.js'
import { addOpenSearchOptions, connectionFromOptions, type OpenSearchCliOptions } from './opensearch-options.js'
import { headsToExport, readHeadsFile } from '../integrity/heads-file.js'
import type { CheckpointEntry } from '../integrity/verify-core.js'
import { writeFileSync } from 'node:fs'
import { progressEverySeconds } from './progress.js'
import { startVerifyProgress } from './verify-progress.js'
import { checkMemoryLimit } from './reader-memory.js'

export const EXIT_TAMPERED = 3

interface VerifyOptions extends OpenSearchCliOptions {
  store: string
  keyFile?: string
  requireKey?: boolean
  json?: boolean
  eventsAlias: string
  findingsAlias: string
  indexPrefix: string
  expiredBefore?: string
  progressEvery: string
  memoryLimit: string
  heads?: string
  exportHeads?: string
}

export function registerVerify(program: Command): void {
  const cmd = program
    .command('verify')
    .description(
      'check the stored events against the integrity ledger: report deleted, modified and inserted events (exit 3 when tampered)',
    )
    .option('--store <path>', 'DuckDB store file (when no --opensearch is given)', DEFAULT_STORE_PATH)
    .option('--key-file <file>', `checkpoint HMAC key (default: the ${DEFAULT_KEY_ENV} environment variable)`)
    .option('--require-key', 'fail when no key is available, instead of only checking the chain')
    .option('--json', 'the full report as JSON on stdout')
    .option(
      '--heads <file>',
      'also check the chains against heads exported earlier with --export-heads (kept where the writer cannot rewrite them)',
    )
    .option(
      '--export-heads <file>',
      "when intact, write each stream's head to FILE (signed with the key when there is one) for a later --heads",
    )
    .option('--progress-every <seconds>', 'a progress line on stderr every N seconds (0: none)', '10')
    .option(
      '--memory-limit <size>',
      "DuckDB's memory for verify's scratch database, where events, ledger and findings are matched by id " +
        '(it spills to TMPDIR beyond)',
      DEFAULT_SCRATCH_MEMORY,
    )
    .option('--events-alias <name>', 'with --opensearch: events alias, as given to setup (read as <name>*)', 'envoy-audit-events')
    .option('--findings-alias <name>', 'with --opensearch: findings alias, as given to setup (read as <name>*)', 'envoy-audit-findings')
    .option(
      '--expired-before <date>',
      'with --opensearch: missing events with an earlier @timestamp count as removed by retention (ISM), not as deleted',
    )
    .option(
      '--index-prefix <prefix>',
      'with --opensearch: integrity ledger indices <prefix>-ledger, -checkpoints, -heads (integrity.indexPrefix)',
      DEFAULT_INTEGRITY_PREFIX,
    )
  addOpenSearchOptions(cmd)
    .addHelpText(
      'after',
      '\nOpenSearch is verified only when --opensearch is given (OPENSEARCH_URL alone keeps the embedded store);\n' +
        'the password comes from OPENSEARCH_PASSWORD or --password-file, and TLS is verified unless --insecure.\n' +
        'See docs/integrity.md for what is and is not detected.\n',
    )
    .action(async (opts: VerifyOptions) => {
      const key = loadIntegrityKey({
        keyEnv: DEFAULT_KEY_ENV,
        requireKey: opts.requireKey === true,
        ...(opts.keyFile === undefined ? {} : { keyFile: opts.keyFile }),
      })
      checkMemoryLimit(opts.memoryLimit, '64MB or 1GB')
      if (opts.opensearch === undefined && opts.expiredBefore !== undefined)
        throw new EnvoyAuditError('EA_USAGE', '--expired-before applies to --opensearch only (embedded store: retention cuts are ledgered)')
      const anchors = opts.heads === undefined ? [] : readHeadsFile(opts.heads)
      const { report, where } =
        opts.opensearch !== undefined ? await fromOpenSearch(opts, key, anchors) : await fromStore(opts, key, anchors)
      if (!report.hasLedger) {
        // Not "tampered" and not "intact": there is nothing to check against.
        throw new EnvoyAuditError(
          'EA_IO',
          `${where} has no integrity ledger (written by ingest/demo, with integrity disabled, or under another --index-prefix): nothing to verify`,
        )
      }
      process.stdout.write(opts.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report, key !== undefined))
      if (!report.ok) {
        process.exitCode = EXIT_TAMPERED
        if (opts.exportHeads !== undefined) process.stderr.write(`heads not exported: the store is not intact\n`)
      } else if (opts.exportHeads !== undefined) {
        // Only an intact store is anchored: exporting a tampered one would vouch for the tampering.
        writeFileSync(opts.exportHeads, `${JSON.stringify(headsToExport(report, key, where, new Date()), null, 2)}\n`)
        process.stderr.write(`heads of ${report.heads.length} streams written to ${opts.exportHeads}\n`)
      }
    })
}

async function fromStore(
  opts: VerifyOptions,
  key: IntegrityKey | undefined,
  anchors: readonly CheckpointEntry[],
): Promise<{ report: VerifyReport; where: string }> {
  const store = await openStoreForReading(opts.store, { memoryLimit: STORE_SCAN_MEMORY })
  try {
    const progress = startVerifyProgress(progressEverySeconds(opts.progressEvery))
    try {
      const report = await verifyDuckDbStore(store, key, anchors, progress.update, {
        scratchMemoryLimit: opts.memoryLimit,
        storeMemoryLimit: { tables: TABLE_SCAN_MEMORY, segments: STORE_SCAN_MEMORY },
      })
      return { report, where: opts.store }
    } finally {
      progress.stop()
    }
  } finally {
    await store.close()
  }
}

async function fromOpenSearch(
  opts: VerifyOptions,
  key: IntegrityKey | undefined,
  anchors: readonly CheckpointEntry[],
): Promise<{ report: VerifyReport; where: string }> {
  const expiredBefore = opts.expiredBefore === undefined ? undefined : new Date(opts.expiredBefore)
  if (expiredBefore !== undefined && Number.isNaN(expiredBefore.getTime()))
    throw new EnvoyAuditError('EA_USAGE', `--expired-before: not a date: ${opts.expiredBefore}`)
  const connection = connectionFromOptions(opts)
  const client = await createOpenSearchClient(connection, { maxRetries: 3 })
  const progress = startVerifyProgress(progressEverySeconds(opts.progressEvery))
  try {
    const report = await verifyOpenSearch(
      client,
      {
        scratchMemoryLimit: opts.memoryLimit,
        eventsAlias: opts.eventsAlias,
        findingsAlias: opts.findingsAlias,
        indexPrefix: opts.indexPrefix,
        key,
        anchors,
        ...(expiredBefore === undefined ? {} : { expiredBefore }),
      },
      progress.update,
    )
    return { report, where: connection.node }
  } catch (err) {
    if (err instanceof EnvoyAuditError) throw err
    throw new EnvoyAuditError(
      'EA_SINK_UNAVAILABLE',
      `verify: reading OpenSearch failed: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    )
  } finally {
    progress.stop()
    await client.close()
  }
}

/**
 * DuckDB's cap for the store while verify reads a segment store's Parquet files: chunk by chunk, never
 * sorted or joined there, but a segment's row group (up to 16,384 documents) has its document column
 * decompressed whole, which is tens of MB for ordinary lines and more for long ones; a cap below that
 * fails verify outright.
 */
const STORE_SCAN_MEMORY = '256MB'

/**
 * The cap while verify reads the store's tables (the ledger; a table store's events): a block at a
 * time, which DuckDB would otherwise keep cached up to the larger cap.
 */
const TABLE_SCAN_MEMORY = '32MB'

// eslint-disable-next-line no-control-regex
const clean = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')

export function formatReport(r: VerifyReport, keyed: boolean): string {
  const lines: string[] = []
  lines.push(
    `${r.ok ? 'INTACT' : 'TAMPERED'}: ${r.events} events, ${r.ledgered} ledger entries in ${r.streams} streams, ${r.checkpoints} checkpoints` +
      (keyed ? ` (${r.signedVerified} signatures verified)` : ' (no key: signatures not checked)'),
  )
  lines.push(`deleted ${r.counts.deleted}, modified ${r.counts.modified}, inserted ${r.counts.inserted}, chain ${r.counts.chain}`)
  if (r.unsignedTail > 0) lines.push(`note: ${r.unsignedTail} ledger entries after the last checkpoint of their stream`)
  for (const w of r.warnings) lines.push(`warning: ${w}`)
  for (const i of r.issues) lines.push(`${i.kind}\t${clean(i.id)}\t${clean(i.detail)}`)
  const listed = r.counts.deleted + r.counts.modified + r.counts.inserted + r.counts.chain
  if (listed > r.issues.length) lines.push(`... ${listed - r.issues.length} more (see --json)`)
  return `${lines.join('\n')}\n`
}
