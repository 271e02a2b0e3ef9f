/**
 * Embedded store ingest: DuckDbStore.write (the sink the `ingest` command and `run` with the DuckDB
 * store use) over pipeline events, in the pipeline's batches of 2,000, into a fresh file. The events
 * are the demo mesh lines parsed and staged before the clock starts, so this measures the store, not
 * the parser. Baseline in the same run: a bare DuckDB appender writing the same events as (id, JSON
 * text) rows into a two-column table, the floor of moving these bytes into DuckDB from Node; both take
 * the event's JSON from the integrity stage when it ran (as in `ingest`), else serialize it. Both
 * clocks include a final CHECKPOINT, so deferring checkpoints (the store's checkpointThreshold, given
 * to the baseline too) is not counted as a gain when it only moves the work past the clock.
 * Each layout of the store (table, segments: docs/store.md) is measured in the same run, with the bytes
 * on disk per event after the final checkpoint (the DuckDB file, its log, and the segment files).
 * With the segment layout, `parquetFloor` prints the CPU µs per event of copying the stored rows, already
 * typed, to zstd Parquet on one thread: the part of a segment write no change in Node can remove.
 * Target: ≥ 100k events/s and ≤ 1 KB per event. Size with BENCH_STORE_EVENTS; BENCH_STORE_CALL_TABLES=0
 * stores without the per-call tables; BENCH_STORE_LAYOUTS=segments measures one layout only.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { createParser } from '../../src/parse/index.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { CHECKPOINT_THRESHOLD, DuckDbStore } from '../../src/store/duckdb-store.js'
import { STORE_LAYOUTS, type StoreLayout, segmentsDirOf } from '../../src/store/duckdb-segments.js'
import { compileEventSerializer } from '../../src/schema/audit-event.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { createHashStage } from '../../src/integrity/chain.js'
import { storedJson } from '../../src/schema/stored-document.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { emit } from './util.js'

// 50k by default: the staged events stay in memory for the run, and a much larger live heap makes GC, not the store, the measurement.
const EVENTS = Number(process.env.BENCH_STORE_EVENTS ?? 50_000)
// BENCH_STORE_BATCH: events per store write (the pipeline batch the sink receives).
const BATCH = Number(process.env.BENCH_STORE_BATCH ?? 2000)
// BENCH_STORE_HASHED=0 stages the events without the integrity hash stage (then both sides serialize).
const HASHED = process.env.BENCH_STORE_HASHED !== '0'
// BENCH_STORE_CALL_TABLES=0: the store keeps no per-call tables (`callTables: false`), to price them.
const CALL_TABLES = process.env.BENCH_STORE_CALL_TABLES !== '0'
const LAYOUTS = (process.env.BENCH_STORE_LAYOUTS ?? STORE_LAYOUTS.join(',')).split(',') as StoreLayout[]

/** Bytes under `path`: a file, or a directory's files recursively. */
function bytesUnder(path: string): number {
  if (!existsSync(path)) return 0
  const st = statSync(path)
  if (!st.isDirectory()) return st.size
  return readdirSync(path).reduce((n, f) => n + bytesUnder(join(path, f)), 0)
}

function pipelineEvents(n: number): AuditEvent[] {
  const lines = generateMeshTraffic({ seed: 7, sessions: 3000, noise: false }).lines.map((l) => l.text)
  const parser = createParser()
  // As `ingest` runs them: the integrity stage last, whose serialization the store then reuses.
  const stages = [...createTransformStages(loadTransformsConfig()), ...(HASHED ? [createHashStage()] : [])]
  const out: AuditEvent[] = []
  for (let i = 0; out.length < n; i += BATCH) {
    const records: RawRecord[] = []
    // Distinct offsets give distinct event ids even where the demo lines repeat.
    for (let j = i; j < i + BATCH; j++)
      records.push({ value: lines[j % lines.length] as string, coords: { kind: 'kafka', topic: 'bench', partition: 0, offset: String(j) } })
    out.push(...applyStages(stages, parser.parseBatch(records).events).events)
  }
  return out.slice(0, n)
}

const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9
/**
 * CPU seconds of the process (Node and DuckDB's threads) since `c0`:
 * far less disturbed than wall time by other load on a shared machine.
 */
const cpuSeconds = (c0: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(c0)
  return (d.user + d.system) / 1e6
}
let baselineCpu = 0

async function baseline(dir: string, events: AuditEvent[]): Promise<number> {
  const serialize = compileEventSerializer()
  const instance = await DuckDBInstance.create(join(dir, 'baseline.duckdb'), {
    autoinstall_known_extensions: 'false',
    memory_limit: '1GB',
    checkpoint_threshold: CHECKPOINT_THRESHOLD.table,
  })
  const conn = await instance.connect()
  try {
    await conn.run('CREATE TABLE t (id VARCHAR PRIMARY KEY, json VARCHAR)')
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < events.length; i += BATCH) {
      const appender = await conn.createAppender('t')
      for (const e of events.slice(i, i + BATCH)) {
        appender.appendVarchar(e.event.id)
        appender.appendVarchar(storedJson(e, serialize))
        appender.endRow()
      }
      appender.flushSync()
      appender.closeSync()
    }
    await conn.run('CHECKPOINT')
    baselineCpu = cpuSeconds(c0)
    return seconds(t0)
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
}

/**
 * The floor of the segment write: the stored events rows, already typed in a DuckDB table, copied to
 * one zstd Parquet file as the segment writer copies them, on one DuckDB thread, so its CPU time is
 * one core's. No JSON, no Node, no catalog: what 100k events/s would have to beat on its own.
 */
async function parquetFloor(dir: string, segments: string): Promise<Record<string, number>> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1', autoinstall_known_extensions: 'false' })
  const conn = await instance.connect()
  try {
    await conn.run(`CREATE TABLE t AS SELECT * FROM read_parquet('${segments}/*/*.events.parquet')`)
    const n = Number((await conn.runAndReadAll('SELECT count(*)::BIGINT FROM t')).getRows()[0]![0])
    const copy = async (select: string, name: string): Promise<number> => {
      const c0 = process.cpuUsage()
      await conn.run(`COPY (${select}) TO '${join(dir, name)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 16384)`)
      return Math.round((cpuSeconds(c0) * 1e6) / n)
    }
    return {
      rows: n,
      allColumnsCpuMicrosPerEvent: await copy('SELECT * FROM t', 'floor-all.parquet'),
      eventJsonOnlyCpuMicrosPerEvent: await copy('SELECT event_json FROM t', 'floor-doc.parquet'),
      typedOnlyCpuMicrosPerEvent: await copy('SELECT * EXCLUDE (event_json) FROM t', 'floor-typed.parquet'),
    }
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
}

export async function main(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'ea-bench-store-'))
  try {
    const events = pipelineEvents(EVENTS)
    const base = await baseline(dir, events)
    // BENCH_STORE_CHECKPOINT sets the store's checkpointThreshold, to compare it against DuckDB's 16MB.
    const checkpoint = process.env.BENCH_STORE_CHECKPOINT
    const layouts: Record<string, unknown> = {}
    for (const layout of LAYOUTS) {
      const path = join(dir, `${layout}.duckdb`)
      const store = new DuckDbStore({
        path,
        layout,
        serveReaders: false,
        ...(checkpoint === undefined ? {} : { checkpointThreshold: checkpoint }),
        ...(CALL_TABLES ? {} : { callTables: false }),
      })
      await store.start()
      let ours: number
      let oursCpu: number
      try {
        const c0 = process.cpuUsage()
        const t0 = process.hrtime.bigint()
        for (let i = 0; i < events.length; i += BATCH) await store.write(events.slice(i, i + BATCH))
        await store.sql('CHECKPOINT')
        ours = seconds(t0)
        oursCpu = cpuSeconds(c0)
        if (store.stats.inserted !== events.length) throw new Error(`stored ${store.stats.inserted} of ${events.length} events`)
      } finally {
        await store.close()
      }
      const bytes = bytesUnder(path) + bytesUnder(`${path}.wal`) + bytesUnder(segmentsDirOf(path))
      if (layout === 'segments') layouts.parquetFloor = await parquetFloor(dir, segmentsDirOf(path))
      layouts[layout] = {
        storeEventsPerSec: Math.round(events.length / ours),
        ratio: Number((base / ours).toFixed(3)),
        storeCpuMicrosPerEvent: Math.round((oursCpu * 1e6) / events.length),
        cpuRatio: Number((baselineCpu / oursCpu).toFixed(3)),
        bytesPerEvent: Math.round(bytes / events.length),
      }
    }
    const result = {
      bench: 'store-ingest',
      events: events.length,
      batch: BATCH,
      findings: events.reduce((n, e) => n + (e.audit.findings?.length ?? 0), 0),
      baselineEventsPerSec: Math.round(events.length / base),
      baselineCpuMicrosPerEvent: Math.round((baselineCpu * 1e6) / events.length),
      ...layouts,
      hashed: HASHED,
      callTables: CALL_TABLES,
      checkpointThreshold: checkpoint ?? CHECKPOINT_THRESHOLD,
      target: 100_000,
    }
    emit(result)
    return result
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
