/** Builds stores through the real pipeline with the integrity stage and ledger, as the service wires them. */
import { fileURLToPath } from 'node:url'
import type { DeadLetter } from '../../src/schema/audit-event.js'
import type { DeadLetterSink, RawRecord, Sink } from '../../src/pipeline/component.js'
import { createBatchHandler, runPipeline } from '../../src/pipeline/runner.js'
import { pipelineFromOptions } from '../../src/cli/pipeline-options.js'
import { createFileSource } from '../../src/sources/file-source.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { createHashStage } from '../../src/integrity/chain.js'
import { DuckDbLedger, ledgeredSink } from '../../src/integrity/ledger.js'
import type { IntegrityKey } from '../../src/integrity/config.js'

/** 29 real Envoy/Istio lines; sources per line in mixed-real-world.expected.json. */
export const FIXTURE = fileURLToPath(new URL('../fixtures/envoy/mixed-real-world.log', import.meta.url))

export function memoryDlq(): DeadLetterSink & { letters: DeadLetter[] } {
  const letters: DeadLetter[] = []
  return { letters, start: async () => undefined, close: async () => undefined, write: async (d) => void letters.push(...d) }
}

export interface Ledgered {
  store: DuckDbStore
  ledger: DuckDbLedger
  sink: Sink
}

export async function openLedgered(path: string, key: IntegrityKey | undefined, layout?: 'table' | 'segments'): Promise<Ledgered> {
  const store = new DuckDbStore({ path, threads: 1, ...(layout === undefined ? {} : { layout }) })
  const ledger = new DuckDbLedger(store, key)
  // The caller closes the store: verify and SQL run on it after the pipeline has finished.
  const sink = ledgeredSink(store, ledger, false)
  await sink.start()
  return { store, ledger, sink }
}

export function stages() {
  const parts = pipelineFromOptions({ format: 'auto' })
  return { ...parts, stages: [...parts.stages, createHashStage()] }
}

export async function ingestFile(l: Ledgered, file = FIXTURE, batchRecords = 7): Promise<void> {
  await runPipeline(createFileSource({ files: [file], batchRecords }), { ...stages(), sink: l.sink, deadLetters: memoryDlq() })
}

export function handlerFor(l: Ledgered) {
  return createBatchHandler({ ...stages(), sink: l.sink, deadLetters: memoryDlq() })
}

/** Kafka records: the fixture's access-log lines spread over partitions, offsets counting per partition. */
export function kafkaRecords(lines: string[], partitions: number): RawRecord[][] {
  const byPartition: RawRecord[][] = Array.from({ length: partitions }, () => [])
  lines.forEach((value, i) => {
    const p = i % partitions
    const list = byPartition[p]!
    list.push({ value, coords: { kind: 'kafka', topic: 'envoy', partition: p, offset: String(100 + list.length) } })
  })
  return byPartition
}

export async function ledgerRows(store: DuckDbStore): Promise<Record<string, unknown>[]> {
  return (
    await store.sql('SELECT stream, CAST(pos AS VARCHAR) pos, event_id, hash, chain FROM integrity_ledger l ORDER BY l.stream, l.pos')
  ).rows
}
