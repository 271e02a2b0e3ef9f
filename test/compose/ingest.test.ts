/**
 * buildIngestPipeline: `ingest` and `demo` read their input in batches of INGEST_BATCH_RECORDS unless
 * told otherwise (each batch is one store write, whose fixed costs a larger batch spreads).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { buildIngestPipeline, INGEST_BATCH_RECORDS } from '../../src/compose/ingest.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { logFile } from './lines.js'

async function batchSizes(batchRecords?: number): Promise<number[]> {
  const { dir, file } = logFile(25_000, 0)
  try {
    // Building opens nothing: the store is never started, only the source is run.
    const store = new DuckDbStore({ path: join(dir, 'audit.duckdb') })
    const pipeline = buildIngestPipeline({
      files: [file],
      store,
      deadLetterPath: join(dir, 'dlq.ndjson'),
      warn: () => undefined,
      env: {},
      ...(batchRecords === undefined ? {} : { batchRecords }),
    })
    const sizes: number[] = []
    await pipeline.source.run(async (batch) => void sizes.push(batch.length))
    return sizes
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('buildIngestPipeline', () => {
  test('reads batches of INGEST_BATCH_RECORDS (5,000) by default, and the size it is given otherwise', async () => {
    expect(INGEST_BATCH_RECORDS).toBe(5_000)
    expect(await batchSizes()).toEqual([5_000, 5_000, 5_000, 5_000, 5_000])
    expect(await batchSizes(7_000)).toEqual([7_000, 7_000, 7_000, 4_000])
  })
})
