import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { describe, expect, test } from 'vitest'
import { EnvoyAuditError } from '../../src/errors.js'
import type { DeadLetter } from '../../src/schema/audit-event.js'
import { createNdjsonDeadLetterSink } from '../../src/sinks/ndjson-sink.js'
import { NdjsonWriter } from '../../src/sinks/ndjson-writer.js'

const dl = (raw: string): DeadLetter =>
  ({
    id: `dl-${raw.length}`,
    reason: 'EA_PARSE_NOT_ACCESS_LOG',
    message: 'not an access log',
    stage: 'parse',
    raw,
    source: { kind: 'file', file: 'x.log', line: 1, offset: '0' },
    at: '2026-12-06T00:00:00.000Z',
  }) as unknown as DeadLetter

describe('dead letters to a file', () => {
  test('a missing folder is created; the file appears with the first dead letter, holding it', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ndjson-')), 'nested', 'dir', 'dlq.ndjson')
    const sink = createNdjsonDeadLetterSink(path)
    await sink.start()
    expect(existsSync(join(path, '..'))).toBe(true)
    expect(existsSync(path)).toBe(false)
    await sink.write([dl('line one')])
    // Acknowledged means on disk: readable before close.
    expect(JSON.parse(readFileSync(path, 'utf8').trim()).raw).toBe('line one')
    await sink.close()
  })

  test('a path that can never be written fails start() with EA_IO, naming the path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ndjson-'))
    writeFileSync(join(dir, 'a-file'), 'x')
    const sink = createNdjsonDeadLetterSink(join(dir, 'a-file', 'dlq.ndjson'))
    const err = await sink.start().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(EnvoyAuditError)
    expect((err as EnvoyAuditError).code).toBe('EA_IO')
    expect((err as Error).message).toContain('a-file')
  })

  test('a write that fails is rejected, never acknowledged (a directory where the file should be)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ndjson-'))
    mkdirSync(join(dir, 'dlq.ndjson'))
    const sink = createNdjsonDeadLetterSink(join(dir, 'dlq.ndjson'))
    await sink.start()
    await expect(sink.write([dl('kept at its source')])).rejects.toMatchObject({ code: 'EA_IO' })
    expect(sink.written).toBe(0)
  })
})

describe('NdjsonWriter on a stream', () => {
  test('resolves only after the stream took the chunk, and rejects when the stream fails it', async () => {
    const taken: string[] = []
    let fail = false
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        setTimeout(() => {
          if (fail) cb(new Error('disk full'))
          else {
            taken.push(chunk.toString())
            cb()
          }
        }, 20)
      },
    })
    const w = new NdjsonWriter(stream, 'test stream')
    await w.write('a\n')
    expect(taken).toEqual(['a\n'])
    fail = true
    await expect(w.write('b\n')).rejects.toThrow(/cannot write test stream: disk full/)
  })

  test('many writes add no listeners (no MaxListenersExceededWarning on a slow stream)', async () => {
    const stream = new Writable({ highWaterMark: 1, write: (_c, _e, cb) => setImmediate(cb) })
    const w = new NdjsonWriter(stream, 'slow')
    for (let i = 0; i < 50; i++) await w.write(`${i}\n`)
    expect(stream.listenerCount('error')).toBe(1)
    expect(stream.listenerCount('drain')).toBe(0)
  })
})
