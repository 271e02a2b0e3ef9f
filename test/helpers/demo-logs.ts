import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ingestFiles } from '../../src/compose/ingest.js'
import { CLUSTERS } from '../../src/demo/east-west.js'
import { linesByFile, type MeshLine } from '../../src/demo/mesh-traffic.js'
import type { DuckDbStore } from '../../src/store/duckdb-store.js'

/**
 * The demo traffic through the real pipeline, as `envoy-audit demo` stores it: its log files written under
 * DIR/logs, ingested in file-name order, the raw CRI files as the first cluster's (demo's --cluster).
 */
export async function ingestDemoLogs(dir: string, lines: readonly MeshLine[], store: DuckDbStore): Promise<void> {
  mkdirSync(join(dir, 'logs'))
  const files: string[] = []
  for (const [name, fileLines] of linesByFile(lines)) {
    writeFileSync(join(dir, 'logs', name), fileLines.join('\n') + '\n')
    files.push(join(dir, 'logs', name))
  }
  await ingestFiles({
    files: files.sort(),
    store,
    processing: { parser: { format: 'auto', cluster: CLUSTERS.first } },
    deadLetterPath: join(dir, 'dlq.ndjson'),
  })
}
