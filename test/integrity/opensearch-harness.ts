/**
 * The OpenSearch ledger wired as the service wires it (sink wrapped by ledgeredOpenSearchSink), over the
 * real @opensearch-project/opensearch client against the wire-compatible test server
 * (test/support/opensearch-server: a test double with in-memory state, not OpenSearch).
 */
import type { Client } from '@opensearch-project/opensearch'
import type { RawRecord, Sink } from '../../src/pipeline/component.js'
import { createBatchHandler, runPipeline } from '../../src/pipeline/runner.js'
import { createFileSource } from '../../src/sources/file-source.js'
import { OpenSearchSink } from '../../src/sinks/opensearch/sink.js'
import { loadConnectionConfig } from '../../src/connections/opensearch.js'
import { loadSinkConfig } from '../../src/sinks/opensearch/config.js'
import { createOpenSearchClient } from '../../src/connections/opensearch.js'
import { OpenSearchLedger } from '../../src/integrity/opensearch-ledger.js'
import { ledgeredOpenSearchSink } from '../../src/integrity/opensearch-ledgered-sink.js'
import { verifyOpenSearch } from '../../src/integrity/verify-opensearch.js'
import type { VerifyReport } from '../../src/integrity/verify-core.js'
import type { IntegrityKey } from '../../src/integrity/config.js'
import { decodeLedgerDoc, type LedgerDocEntry } from '../../src/integrity/opensearch-blocks.js'
import type { TestOpenSearch } from '../support/opensearch-server/index.js'
import { FIXTURE, memoryDlq, stages } from './harness.js'

export const KEY: IntegrityKey = { id: 'os-test', bytes: Buffer.from('opensearch-ledger-key-0123456789') }

export interface Names {
  eventsAlias: string
  findingsAlias: string
  indexPrefix: string
}

export const DEFAULT_NAMES: Names = {
  eventsAlias: 'envoy-audit-events',
  findingsAlias: 'envoy-audit-findings',
  indexPrefix: 'envoy-audit-integrity',
}

export function client(url: string): Promise<Client> {
  return createOpenSearchClient(loadConnectionConfig({ node: url }), { maxRetries: 0 })
}

export interface Writer {
  ledger: OpenSearchLedger
  sink: Sink
}

/** One pipeline member: its own sink and ledger on a shared client (the caller closes the client). */
export function writer(c: Client, key: IntegrityKey | undefined = KEY, names: Names = DEFAULT_NAMES, closeTimeoutMs = 5_000): Writer {
  const os = new OpenSearchSink({
    client: c,
    config: loadSinkConfig({
      eventsAlias: names.eventsAlias,
      findingsAlias: names.findingsAlias,
      flushIntervalMs: 2,
      retry: { initialMs: 5, maxMs: 40 },
      closeTimeoutMs,
    }),
  })
  const ledger = new OpenSearchLedger({
    client: c,
    key,
    indexPrefix: names.indexPrefix,
    retry: { initialMs: 5, maxMs: 40 },
    closeTimeoutMs,
  })
  return { ledger, sink: ledgeredOpenSearchSink(os, ledger) }
}

export async function ingestFile(w: Writer, file = FIXTURE, batchRecords = 7): Promise<void> {
  await runPipeline(createFileSource({ files: [file], batchRecords }), { ...stages(), sink: w.sink, deadLetters: memoryDlq() })
}

/** A batch handler as the Kafka source calls it; start the writer's sink first. */
export function handlerFor(w: Writer): (records: RawRecord[]) => Promise<void> {
  const handler = createBatchHandler({ ...stages(), sink: w.sink, deadLetters: memoryDlq() })
  return async (records) => void (await handler(records))
}

/** `key: null` verifies without a key. */
export function verify(c: Client, key: IntegrityKey | null = KEY, names: Names = DEFAULT_NAMES): Promise<VerifyReport> {
  return verifyOpenSearch(c, { ...names, key: key ?? undefined, pageSize: 7 })
}

export const kinds = (r: VerifyReport): string[] => r.issues.map((i) => `${i.kind}:${i.id}`)

export type StreamEntry = LedgerDocEntry & { stream: string }

/**
 * Every ledger entry the test server holds in a ledger index, whatever documents carry them (blocks or
 * per-event documents), sorted by stream and position. Throws on a document verify would flag: the
 * tests that use this check what the writer wrote, tampering is tested through verify.
 */
export function ledgerEntries(srv: TestOpenSearch, index = 'envoy-audit-integrity-ledger'): StreamEntry[] {
  const out: StreamEntry[] = []
  for (const d of srv.docs(index)) {
    const doc = decodeLedgerDoc(d._id, d._source as Record<string, unknown>)
    if (doc === undefined || doc.problem !== undefined) throw new Error(`ledger document ${d._id}: ${doc?.problem ?? 'no position'}`)
    for (const e of doc.entries) out.push({ stream: doc.stream, ...e })
  }
  return out.sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : Number(BigInt(a.pos) - BigInt(b.pos))))
}
