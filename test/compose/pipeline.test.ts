/**
 * buildPipeline: the stage order written once, no side effects at build, an idempotent close, and the
 * redaction stage's dead-letter hook handed to the runner explicitly.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, test } from 'vitest'
import { buildPipeline } from '../../src/compose/pipeline.js'
import { buildProcessing, STAGE_ORDER } from '../../src/compose/stages.js'
import { validateConfig } from '../../src/compose/config.js'
import { logFile } from './lines.js'

const quiet = () => ({ env: {}, warn: () => undefined, stdout: new PassThrough() })

describe('buildPipeline', () => {
  test('orders the stages redact → spiffe → au3 → detect → policy → hash, leaving out the ones that are off', () => {
    expect([...STAGE_ORDER]).toEqual(['redact', 'spiffe', 'au3', 'detect', 'policy', 'hash'])
    const all = buildProcessing({ policy: { policies: ['test/fixtures/policy/seed-000.yaml'] }, integrity: { enabled: true } })
    expect(all.stages.map((s) => s.name)).toEqual(['redact', 'spiffe', 'au3', 'detect', 'policy-check', 'integrity'])
    expect(all.redactDeadLetters).toBeTypeOf('function')
    const bare = buildProcessing({ redaction: { enabled: false }, integrity: { enabled: false } })
    expect(bare.stages.map((s) => s.name)).toEqual(['spiffe', 'au3', 'detect'])
    expect(bare.redactDeadLetters).toBeUndefined()
    // The run config reaches the same builder: its stages follow the same order.
    const run = buildPipeline(validateConfig({ sink: { kind: 'ndjson' } }), quiet())
    expect(run.processing.stages.map((s) => s.name)).toEqual(['redact', 'spiffe', 'au3', 'detect', 'integrity'])
  })

  test('building opens nothing; close() before run() is safe and idempotent', async () => {
    const { dir } = logFile(0, 0)
    try {
      const store = join(dir, 'audit.duckdb')
      const dlq = join(dir, 'dlq.ndjson')
      const config = validateConfig({
        source: { kind: 'file', file: { paths: [join(dir, 'not-yet.log')] } },
        sink: { kind: 'embedded', embedded: { path: store } },
        deadLetter: { kind: 'file', path: dlq },
      })
      const pipeline = buildPipeline(config, quiet())
      expect(existsSync(store)).toBe(false)
      expect(existsSync(dlq)).toBe(false)
      const first = pipeline.close()
      expect(pipeline.close()).toBe(first)
      await first
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('dead letters are redacted through the hook the redaction stage hands over, before the output sees them', async () => {
    const run = async (redaction: boolean) => {
      const { dir, file } = logFile(3, 4)
      const dlq = join(dir, 'dlq.ndjson')
      try {
        const pipeline = buildPipeline(
          {
            source: { kind: 'file', file: { paths: [file] } },
            sink: { kind: 'ndjson' },
            deadLetter: { kind: 'file', path: dlq },
            redaction: { enabled: redaction },
            integrity: { enabled: false },
          },
          quiet(),
        )
        const counters = await pipeline.run()
        return { counters, dlq: readFileSync(dlq, 'utf8') }
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
    const on = await run(true)
    expect(on.counters.deadLettered).toBe(4)
    expect(on.dlq).not.toContain('hunter')
    expect(on.dlq).toContain('[REDACTED]')
    // Three events with a token each (in url.query and in event.original), four dead letters with a password each.
    expect(on.counters.redactions).toBe(3 * 2 + 4)
    const off = await run(false)
    expect(off.dlq).toContain('password=hunter0')
    expect(off.counters.redactions).toBe(0)
  })

  test('a Kafka dead-letter topic without a Kafka source is refused at build, naming the option', () => {
    expect(() =>
      buildPipeline({ source: { kind: 'stdin', file: {} }, sink: { kind: 'ndjson' }, deadLetter: { kind: 'kafka' } }, quiet()),
    ).toThrow(/deadLetter\.kind: a kafka dead-letter topic needs a kafka source/)
  })
})
