/**
 * The source, sink and deadLetter sections: the YAML users write (kind plus a key per variant) is read as
 * before, and the result is a discriminated union on kind.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { configDefaults, validateConfig } from '../../src/compose/config.js'

describe('config sections by kind', () => {
  test('a kind without its section is refused by option path, every problem at once', () => {
    expect(() => validateConfig({ source: { kind: 'kafka' }, sink: { kind: 'opensearch' } })).toThrow(
      'source.kafka: source.kind kafka needs a source.kafka section; sink.opensearch: sink.kind opensearch needs a sink.opensearch section',
    )
    expect(() => validateConfig({ sink: { kind: 'carrier-pigeon' } })).toThrow(/^sink\.kind: Invalid option/)
    expect(() => validateConfig({ deadLetter: { kind: 'kafka' } })).toThrow(
      /deadLetter\.kind: a kafka dead-letter topic needs a kafka source/,
    )
  })

  test("the other variants' sections are still accepted and kept, as config defaults prints them", () => {
    const c = validateConfig({
      source: { kind: 'file', kafka: { brokers: ['k:9092'], topics: ['t'] }, file: { paths: ['a.log'] } },
      sink: { kind: 'ndjson', opensearch: { connection: { node: 'https://os:9200' } } },
    })
    expect(c.source.kind).toBe('file')
    expect(c.source.kafka?.brokers).toEqual(['k:9092'])
    expect(c.sink.embedded).toEqual(configDefaults().sink.embedded)
  })

  test('kind narrows the type: the selected section is there without a check', () => {
    const c = validateConfig({
      source: { kind: 'kafka', kafka: { brokers: ['k:9092'], topics: ['t'] } },
      sink: { kind: 'opensearch', opensearch: { connection: { node: 'https://os:9200' } } },
      deadLetter: { kind: 'kafka', topic: 'dlq' },
    })
    // These lines compile only because kind narrows the union (npm run typecheck covers test/).
    const brokers = c.source.kind === 'kafka' ? c.source.kafka.brokers : []
    const node = c.sink.kind === 'opensearch' ? c.sink.opensearch.connection.node : ''
    expect([brokers, node, c.deadLetter.kind, c.deadLetter.topic]).toEqual([['k:9092'], 'https://os:9200', 'kafka', 'dlq'])
  })

  test('every config under deploy/ still validates', () => {
    const files = readdirSync('deploy').filter((f) => /\.ya?ml$/.test(f))
    let configs = 0
    for (const f of files) {
      for (const doc of readFileSync(`deploy/${f}`, 'utf8').split(/^---$/m)) {
        const y = parseYaml(doc) as Record<string, unknown> | null
        if (y === null || typeof y !== 'object' || !('sink' in y || 'source' in y)) continue
        configs++
        expect(() => validateConfig(y), f).not.toThrow()
      }
    }
    expect(configs).toBeGreaterThan(0)
  })
})
