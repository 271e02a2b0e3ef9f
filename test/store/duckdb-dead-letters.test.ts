import { describe, test, expect } from 'vitest'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { createStoreDeadLetterSink } from '../../src/store/duckdb-dead-letters.js'
import { ingestFiles } from '../../src/compose/ingest.js'
import { createParser } from '../../src/parse/index.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import type { DeadLetter } from '../../src/schema/audit-event.js'

const FIXTURE = new URL('../fixtures/envoy/mixed-real-world.log', import.meta.url)
const kafka = (value: string, offset: number): RawRecord => ({
  value,
  coords: { kind: 'kafka', topic: 'envoy', partition: 1, offset: String(offset) },
})

describe("the store's dead_letters table", () => {
  test('the same bad line dead-lettered twice (a replay) is one row; another bad line is another row', async () => {
    const store = new DuckDbStore({ path: ':memory:', threads: 1 })
    try {
      const sink = createStoreDeadLetterSink(store)
      await sink.start()
      const bad = '2021-03-16T09:29:20.896837Z info Envoy proxy is ready'
      const first = createParser().parseBatch([kafka(bad, 7)]).deadLetters
      await sink.write(first)
      // The member died before committing offset 7: the replay dead-letters the line again, a minute later.
      const replay = createParser().parseBatch([kafka(bad, 7)]).deadLetters
      await sink.write(replay)
      // A forwarder retry put it at a new offset.
      await sink.write(createParser().parseBatch([kafka(bad, 907)]).deadLetters)
      await sink.write(createParser().parseBatch([kafka(`${bad} again`, 8)]).deadLetters)
      const rows = (
        await store.sql(
          'SELECT id, reason, stage, source_kind, source_topic, source_partition, source_offset, source_file, parts, dead_letter_json FROM dead_letters d ORDER BY d.source_offset',
        )
      ).rows
      expect(rows).toHaveLength(2)
      expect(sink.inserted).toBe(2)
      // The first copy stays, as with events.
      expect(rows[0]).toMatchObject({
        id: first[0]!.id,
        reason: 'EA_PARSE_NOT_ACCESS_LOG',
        stage: 'parse',
        source_kind: 'kafka',
        source_topic: 'envoy',
        source_partition: 1,
        source_offset: '7',
        source_file: null,
        parts: 0,
      })
      expect(JSON.parse(String(rows[0]!.dead_letter_json))).toEqual({ ...first[0]! })
      expect(rows[1]!.source_offset).toBe('8')
    } finally {
      await store.close()
    }
  })

  test('a joined CRI line that failed keeps its parts in the stored document', async () => {
    const store = new DuckDbStore({ path: ':memory:', threads: 1 })
    try {
      const sink = createStoreDeadLetterSink(store)
      const p = '2022-07-22T12:24:13.900328365Z stdout P [2022-07-22T12:24:12.945Z] "GET /a HTTP/1.1"'
      const f = '2022-07-22T12:24:13.900328366Z stdout F  200 and not the rest'
      const dls = createParser().parseBatch([kafka(p, 1), kafka(f, 2)]).deadLetters
      await sink.write(dls)
      await sink.write(dls)
      const rows = (await store.sql('SELECT parts, dead_letter_json FROM dead_letters')).rows
      expect(rows).toHaveLength(1)
      expect(rows[0]!.parts).toBe(1)
      const stored = JSON.parse(String(rows[0]!.dead_letter_json)) as DeadLetter
      expect([...(stored.parts ?? []).map((x) => x.raw), stored.raw]).toEqual([p, f])
    } finally {
      await store.close()
    }
  })

  test('ingest: re-reading a file under another name adds no dead-letter row, while the NDJSON file, append-only, holds every copy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-dlq-store-'))
    const store = new DuckDbStore({ path: join(dir, 'store.duckdb'), threads: 1 })
    try {
      copyFileSync(FIXTURE, join(dir, 'a.log'))
      copyFileSync(FIXTURE, join(dir, 'a.log.1'))
      const dlq = join(dir, 'dead-letters.ndjson')
      const run = (file: string) =>
        ingestFiles({ files: [file], store, processing: { redaction: { enabled: false } }, deadLetterPath: dlq, integrity: false })
      const first = await run(join(dir, 'a.log'))
      await run(join(dir, 'a.log.1'))
      // The fixture's 8 dead letters (mixed-real-world.expected.json).
      expect(first.counters.deadLettered).toBe(8)
      const rows = (await store.sql('SELECT source_file FROM dead_letters')).rows
      expect(rows).toHaveLength(8)
      expect(new Set(rows.map((r) => r.source_file))).toEqual(new Set([join(dir, 'a.log')]))
      expect(readFileSync(dlq, 'utf8').trim().split('\n')).toHaveLength(16)
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
