/**
 * The whole pipeline into OpenSearch: real public log lines (test/fixtures/envoy/mixed-real-world.log, whose
 * sources are cited by the parser tests) → parser → transform stages → OpenSearchSink → the test server
 * with the strict templates `setup` installs. What the parser produces must index without a single
 * mapping rejection; a rejected item must come back as a dead letter with its original bytes; a replay
 * of the same file must not add a document.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { readFileSync } from 'node:fs'
import { Client } from '@opensearch-project/opensearch'
import { createBatchHandler } from '../../../src/pipeline/runner.js'
import { pipelineFromOptions } from '../../../src/cli/pipeline-options.js'
import { originalBytes } from '../../../src/pipeline/dead-letter.js'
import type { DeadLetterSink, RawRecord } from '../../../src/pipeline/component.js'
import type { DeadLetter } from '../../../src/schema/audit-event.js'
import { OpenSearchSink } from '../../../src/sinks/opensearch/sink.js'
import { loadSinkConfig } from '../../../src/sinks/opensearch/config.js'
import { runSetup } from '../../../src/lifecycle/setup.js'
import { loadLifecycleConfig } from '../../../src/lifecycle/config.js'
import { TestOpenSearch } from '../../support/opensearch-server/index.js'

const FILE = new URL('../../fixtures/envoy/mixed-real-world.log', import.meta.url)

function records(): RawRecord[] {
  const raw = readFileSync(FILE)
  const out: RawRecord[] = []
  let offset = 0
  let line = 0
  while (offset < raw.length) {
    const nl = raw.indexOf(0x0a, offset)
    const end = nl === -1 ? raw.length : nl
    line++
    if (end > offset)
      out.push({ value: raw.subarray(offset, end), coords: { kind: 'file', file: 'mixed-real-world.log', line, offset: String(offset) } })
    offset = end + 1
  }
  return out
}

class MemoryDlq implements DeadLetterSink {
  readonly written: DeadLetter[] = []
  async start(): Promise<void> {}
  async close(): Promise<void> {}
  async write(dls: DeadLetter[]): Promise<void> {
    this.written.push(...dls)
  }
}

let srv: TestOpenSearch
let client: Client
let sink: OpenSearchSink

beforeEach(async () => {
  srv = await TestOpenSearch.start()
  client = new Client({ node: srv.url, maxRetries: 0 })
  await runSetup(client, loadLifecycleConfig())
  sink = new OpenSearchSink({ client, config: loadSinkConfig({ flushIntervalMs: 1, retry: { initialMs: 1, maxMs: 5, maxAttempts: 0 } }) })
  await sink.start()
})

afterEach(async () => {
  await sink.close()
  await client.close()
  await srv.close()
})

describe('pipeline → OpenSearch sink', () => {
  test('every event the parser makes from real lines indexes under the strict template; replay adds nothing', async () => {
    const dlq = new MemoryDlq()
    const handler = createBatchHandler({ ...pipelineFromOptions({ format: 'auto' }), sink, deadLetters: dlq })
    const recs = records()
    await handler(recs)
    const sinkRejected = dlq.written.filter((d) => d.stage === 'sink')
    expect(sinkRejected.map((d) => d.message)).toEqual([])
    const indexed = srv.docs('envoy-audit-events')
    expect(indexed.length).toBe(handler.counters.eventsOut)
    expect(indexed.length).toBeGreaterThan(10)
    // A CRI partial line is held for its continuation rather than indexed or dead-lettered.
    expect(indexed.length + dlq.written.length + handler.counters.heldPartials).toBe(recs.length)
    const findings = srv.docs('envoy-audit-findings').length
    expect(findings).toBeGreaterThan(0)

    await handler(recs)
    expect(srv.docs('envoy-audit-events')).toHaveLength(indexed.length)
    expect(srv.docs('envoy-audit-findings')).toHaveLength(findings)
    expect(sink.stats.duplicates).toBe(indexed.length + findings)
  })

  test('a mapping rejection becomes a dead letter with the original bytes and EA_SINK_MAPPING; 429s are retried', async () => {
    const dlq = new MemoryDlq()
    const handler = createBatchHandler({ ...pipelineFromOptions({ format: 'auto' }), sink, deadLetters: dlq })
    const recs = records()
    let rejectedId: string | undefined
    srv.faults.item = ({ index, id, attempt }) => {
      if (!index.startsWith('envoy-audit-events-')) return null
      rejectedId ??= id
      if (id === rejectedId) return { status: 400, type: 'mapper_parsing_exception', reason: 'failed to parse field [url.path]' }
      return attempt === 0 ? 429 : null
    }
    await handler(recs)
    const fromSink = dlq.written.filter((d) => d.stage === 'sink')
    expect(fromSink).toHaveLength(1)
    expect(fromSink[0]!.reason).toBe('EA_SINK_MAPPING')
    expect(fromSink[0]!.message).toContain('mapper_parsing_exception')
    const original = recs.find((r) => r.coords.line === fromSink[0]!.source.line)!
    expect(originalBytes(fromSink[0]!).equals(Buffer.from(original.value))).toBe(true)
    expect(srv.docs('envoy-audit-events')).toHaveLength(handler.counters.eventsOut)
    expect(sink.stats.itemRetries).toBeGreaterThan(5)
  })

  test('a replay after its indices turned read-only adds nothing and loses nothing; an event missing there is a dead letter with its bytes and EA_SINK_INDEX_READ_ONLY', async () => {
    const dlq = new MemoryDlq()
    const handler = createBatchHandler({ ...pipelineFromOptions({ format: 'auto' }), sink, deadLetters: dlq })
    const recs = records()
    await handler(recs)
    // One event never made it (as if its line arrived only now), then ISM's warm state makes every index read-only.
    const missing = srv.docs('envoy-audit-events')[3]!
    for (const index of srv.state.resolve('envoy-audit-events')) index.docs.delete(missing._id)
    const indexed = srv.docs('envoy-audit-events').length
    for (const index of srv.state.resolve('envoy-audit-*')) index.settings['index.blocks.write'] = true
    await handler(recs)
    const fromSink = dlq.written.filter((d) => d.stage === 'sink')
    expect(fromSink.map((d) => [d.event_id, d.reason])).toEqual([[missing._id, 'EA_SINK_INDEX_READ_ONLY']])
    expect(fromSink[0]!.message).toContain(`index ${missing._index} is read-only (cluster_block_exception`)
    const original = recs.find((r) => r.coords.line === fromSink[0]!.source.line)!
    expect(originalBytes(fromSink[0]!).equals(Buffer.from(original.value))).toBe(true)
    expect(srv.docs('envoy-audit-events')).toHaveLength(indexed)
    expect(sink.stats.lookups).toBeGreaterThanOrEqual(indexed)
  })
})
