import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { describe, expect, test } from 'vitest'
import { createFileSource } from '../../src/sources/file-source.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { EnvoyAuditError } from '../../src/errors.js'

async function collect(source: ReturnType<typeof createFileSource>): Promise<RawRecord[][]> {
  const batches: RawRecord[][] = []
  await source.run(async (b) => {
    batches.push(b)
  })
  return batches
}

describe('file source', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-fs-'))

  test('keeps exact bytes, 1-based lines and byte offsets, including a last line without newline', async () => {
    const path = join(dir, 'a.log')
    writeFileSync(path, Buffer.concat([Buffer.from('first\n\nthird é\n'), Buffer.from([0xff, 0xfe]), Buffer.from('\nlast')]))
    const records = (await collect(createFileSource({ files: [path], batchRecords: 2 }))).flat()
    expect(records.map((r) => r.coords.line)).toEqual([1, 2, 3, 4, 5])
    expect(records.map((r) => r.coords.offset)).toEqual(['0', '6', '7', '16', '19'])
    expect(records[2]?.value.toString()).toBe('third é')
    expect(Buffer.compare(records[3]?.value as Buffer, Buffer.from([0xff, 0xfe]))).toBe(0)
    expect(records[4]?.value.toString()).toBe('last')
    expect(records.every((r) => r.coords.file === path && r.coords.kind === 'file')).toBe(true)
  })

  test('batches by record count and waits for each batch before reading on', async () => {
    const path = join(dir, 'b.log')
    writeFileSync(path, Array.from({ length: 25 }, (_, i) => `line ${i}`).join('\n') + '\n')
    let inFlight = 0
    let maxInFlight = 0
    const sizes: number[] = []
    await createFileSource({ files: [path], batchRecords: 10 }).run(async (b) => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      sizes.push(b.length)
      await new Promise((r) => setTimeout(r, 5))
      inFlight--
    })
    expect(sizes).toEqual([10, 10, 5])
    expect(maxInFlight).toBe(1)
  })

  test('truncates a runaway line at the buffer cap instead of holding it all', async () => {
    const path = join(dir, 'c.log')
    writeFileSync(path, 'x'.repeat(5000) + '\nok\n')
    const records = (await collect(createFileSource({ files: [path], maxBufferedLineBytes: 100 }))).flat()
    expect(records).toHaveLength(2)
    expect(records[0]?.value.length).toBeLessThanOrEqual(100)
    expect(records[1]?.value.toString()).toBe('ok')
    expect(records[1]?.coords.offset).toBe('5001')
  })

  test('reads stdin when the file is -', async () => {
    const stdin = Readable.from([Buffer.from('a\nb'), Buffer.from('c\n')])
    const records = (await collect(createFileSource({ files: ['-'], stdin }))).flat()
    expect(records.map((r) => r.value.toString())).toEqual(['a', 'bc'])
    expect(records[0]?.coords.kind).toBe('stdin')
  })

  test('a missing file is a typed I/O error naming the file', async () => {
    const err = await collect(createFileSource({ files: [join(dir, 'nope.log')] })).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(EnvoyAuditError)
    expect((err as EnvoyAuditError).code).toBe('EA_IO')
    expect((err as Error).message).toContain('nope.log')
  })
})

describe('file source: gzip input, detected by its magic bytes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-fs-gz-'))
  const text = Array.from({ length: 50 }, (_, i) => `line ${i} ${'é'.repeat(i % 3)}`).join('\n') + '\nlast without newline'
  const plain = join(dir, 'plain.log')
  writeFileSync(plain, text)
  const summary = (records: RawRecord[]) => records.map((r) => [r.value.toString(), r.coords.line, r.coords.offset])

  test('a gzip file, whatever its name, gives the records (and offsets in the text) the plain file gives', async () => {
    const gz = join(dir, 'rotated-without-suffix')
    writeFileSync(gz, gzipSync(text))
    const expected = summary((await collect(createFileSource({ files: [plain], batchRecords: 7 }))).flat())
    const source = createFileSource({ files: [gz], batchRecords: 7 })
    const records = (await collect(source)).flat()
    expect(summary(records)).toEqual(expected)
    expect(records).toHaveLength(51)
    expect(source.progress()).toEqual({ bytesRead: gzipSync(text).length, bytesTotal: gzipSync(text).length })
    expect(source.recordsByFile.get(gz)).toBe(51)
  })

  test('a file named .gz that is not gzip is read as text', async () => {
    const fake = join(dir, 'not-really.gz')
    writeFileSync(fake, 'a\nb\n')
    expect((await collect(createFileSource({ files: [fake] }))).flat().map((r) => r.value.toString())).toEqual(['a', 'b'])
  })

  test('gzip on stdin, arriving one byte first, and concatenated gzip members decode as one text', async () => {
    const bytes = Buffer.concat([gzipSync('a\nb'), gzipSync('c\nd\n')])
    const stdin = Readable.from([bytes.subarray(0, 1), bytes.subarray(1, 5), bytes.subarray(5)])
    const records = (await collect(createFileSource({ files: ['-'], stdin }))).flat()
    expect(records.map((r) => r.value.toString())).toEqual(['a', 'bc', 'd'])
    expect(records.map((r) => r.coords.offset)).toEqual(['0', '2', '5'])
  })

  test('a truncated gzip file hands on the lines before the damage, then fails with EA_IO naming the file', async () => {
    const full = gzipSync(Array.from({ length: 20_000 }, (_, i) => `record ${i}`).join('\n') + '\n')
    const cut = join(dir, 'cut.log.gz')
    writeFileSync(cut, full.subarray(0, Math.floor(full.length / 2)))
    const seen: RawRecord[] = []
    const err = await createFileSource({ files: [cut] })
      .run(async (b) => void seen.push(...b))
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(EnvoyAuditError)
    expect((err as EnvoyAuditError).code).toBe('EA_IO')
    expect((err as Error).message).toMatch(/cut\.log\.gz: gzip data is corrupt or truncated/)
    expect(seen.length).toBeGreaterThan(1000)
    expect(seen.slice(0, -1).every((r, i) => r.value.toString() === `record ${i}`)).toBe(true)
  })
})

describe('file source on a live input (stdin that stays open)', () => {
  const values = (b: RawRecord[]): string[] => b.map((r) => r.value.toString())

  test('lines on an idle input are handed on after lingerMs, not held back for a full batch', async () => {
    const stdin = new PassThrough()
    const batches: string[][] = []
    const source = createFileSource({ files: ['-'], stdin, batchRecords: 1000, lingerMs: 50 })
    const running = source.run(async (b) => {
      batches.push(values(b))
    })
    stdin.write('a\nb\nc\n')
    await waitUntil(() => batches.length === 1)
    expect(batches).toEqual([['a', 'b', 'c']])
    stdin.write('d\n')
    await waitUntil(() => batches.length === 2)
    stdin.end('e\n')
    await running
    expect(batches).toEqual([['a', 'b', 'c'], ['d'], ['e']])
  })

  test('with lingerMs 0 a partial batch waits for more lines or the end', async () => {
    const stdin = new PassThrough()
    const batches: string[][] = []
    const running = createFileSource({ files: ['-'], stdin, batchRecords: 1000, lingerMs: 0 }).run(async (b) => {
      batches.push(values(b))
    })
    stdin.write('a\n')
    await new Promise((r) => setTimeout(r, 200))
    expect(batches).toEqual([])
    stdin.end()
    await running
    expect(batches).toEqual([['a']])
  })

  test('close() while the input is idle stops at once, after handing on what was read (the partial last line too)', async () => {
    const stdin = new PassThrough()
    const batches: string[][] = []
    const source = createFileSource({ files: ['-'], stdin, batchRecords: 1000, lingerMs: 0 })
    const running = source.run(async (b) => {
      batches.push(values(b))
    })
    stdin.write('a\nb\npart')
    await new Promise((r) => setTimeout(r, 50))
    const t0 = Date.now()
    await source.close()
    await running
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(batches).toEqual([['a', 'b', 'part']])
  })
})

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}
