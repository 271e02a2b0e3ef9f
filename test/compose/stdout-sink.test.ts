/**
 * The worked example of docs/architecture.md, "Adding a sink": the stdout sink is one folder
 * (src/sinks/stdout) and one registration line (src/compose/sinks.ts), and a pipeline built from a
 * section `{ kind: 'stdout' }` finds it through the registry.
 */
import { PassThrough } from 'node:stream'
import { rmSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { sinks } from '../../src/compose/sinks.js'
import { buildPipeline } from '../../src/compose/pipeline.js'
import { okEvent } from '../sinks/opensearch/fixtures.js'
import { logFile } from './lines.js'

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough()
  const chunks: Buffer[] = []
  stream.on('data', (c: Buffer) => chunks.push(c))
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') }
}

const context = (stdout: PassThrough) => ({ env: {}, warn: () => undefined, stdout })

describe('the stdout sink, through the registry', () => {
  test('is registered under its kind and built from its options, validated by its schema', async () => {
    expect(sinks.kinds()).toContain('stdout')
    const out = capture()
    const sink = sinks.build('stdout', {}, context(out.stream))
    await sink.start()
    const events = [okEvent(1), okEvent(2)]
    expect(await sink.write(events)).toEqual({ rejected: [] })
    await sink.close()
    const lines = out.text().trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    // The fixture's source workload is named in mesh.source; its destination only by address.
    expect(lines).toEqual([
      '2020-11-25T21:26:19.409Z ok-000001 sleep -> 10.0.45.184:8000 418',
      '2020-11-25T21:26:20.409Z ok-000002 sleep -> 10.0.45.184:8000 418',
    ])

    const json = capture()
    const jsonSink = sinks.build('stdout', { json: true }, context(json.stream))
    await jsonSink.write([okEvent(3)])
    expect(JSON.parse(json.text()).event.id).toBe(okEvent(3).event.id)

    expect(() => sinks.build('stdout', { colour: true }, context(out.stream))).toThrow(/sink\.stdout: Unrecognized key/)
  })

  test('a pipeline whose sink section says kind stdout writes one line per event', async () => {
    const { dir, file } = logFile(5, 0)
    try {
      const out = capture()
      const pipeline = buildPipeline(
        {
          source: { kind: 'file', file: { paths: [file] } },
          sink: { kind: 'stdout' },
          deadLetter: { kind: 'file', path: `${dir}/dlq.ndjson` },
          integrity: { enabled: false },
        },
        context(out.stream),
      )
      const counters = await pipeline.run()
      expect(counters.eventsOut).toBe(5)
      expect(out.text().trimEnd().split('\n')).toHaveLength(5)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('an unknown kind is refused naming the section and the kinds there are', () => {
    expect(() => sinks.build('carrier-pigeon', {}, context(new PassThrough()))).toThrow(
      /sink\.kind: unknown kind "carrier-pigeon" \(known: opensearch, embedded, ndjson, stdout\)/,
    )
    expect(() =>
      sinks.register({
        kind: 'stdout',
        schema: sinks.get('stdout').schema,
        build: () => sinks.build('stdout', {}, context(new PassThrough())),
      }),
    ).toThrow(/registered twice/)
  })
})
