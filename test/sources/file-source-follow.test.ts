import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, test } from 'vitest'
import { createFileSource, type FileSource } from '../../src/sources/file-source.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { EnvoyAuditError } from '../../src/errors.js'

const FAST = { follow: true, pollMs: 20, lingerMs: 50, rotateWaitMs: 300 } as const

interface Run {
  source: FileSource
  records: RawRecord[]
  batches: RawRecord[][]
  warnings: string[]
  done: Promise<void>
}

const running: Run[] = []
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.source.close()
    await r.done.catch(() => undefined)
  }
})

function follow(
  files: string[],
  extra: Partial<Parameters<typeof createFileSource>[0]> = {},
  handler?: (b: RawRecord[]) => Promise<void>,
): Run {
  const warnings: string[] = []
  const source = createFileSource({ files, ...FAST, warn: (m) => void warnings.push(m), ...extra })
  const run: Run = { source, records: [], batches: [], warnings, done: Promise.resolve() }
  run.done = source.run(async (b) => {
    if (handler !== undefined) await handler(b)
    run.batches.push(b)
    run.records.push(...b)
  })
  running.push(run)
  return run
}

const text = (rs: RawRecord[]): string[] => rs.map((r) => r.value.toString())

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 10))
  }
}

const state = (path: string): { files: { path: string; offset: number; line: number; rotated?: boolean }[] } =>
  JSON.parse(readFileSync(path, 'utf8'))

describe('file source, follow mode (tail -F)', () => {
  test('appended lines are handed on as they come; a line is a record only once its newline is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-'))
    const path = join(dir, 'a.log')
    writeFileSync(path, 'one\n')
    const r = follow([path])
    await waitUntil(() => r.records.length === 1)
    appendFileSync(path, 'two\nthr')
    await waitUntil(() => r.records.length === 2)
    await new Promise((res) => setTimeout(res, 200))
    expect(text(r.records)).toEqual(['one', 'two'])
    appendFileSync(path, 'ee\n')
    await waitUntil(() => r.records.length === 3)
    expect(text(r.records)).toEqual(['one', 'two', 'three'])
    expect(r.records.map((x) => [x.coords.file, x.coords.line, x.coords.offset])).toEqual([
      [path, 1, '0'],
      [path, 2, '4'],
      [path, 3, '8'],
    ])
  })

  test('a file that does not exist yet is read once it appears', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-'))
    const path = join(dir, 'later.log')
    const r = follow([path])
    await new Promise((res) => setTimeout(res, 100))
    writeFileSync(path, 'hello\n')
    await waitUntil(() => r.records.length === 1)
    expect(text(r.records)).toEqual(['hello'])
  })

  test('rename rotation: late writes to the old file are read, its last unterminated line is a record, the new file is read from its start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-'))
    const path = join(dir, 'a.log')
    writeFileSync(path, 'old 1\n')
    const r = follow([path])
    await waitUntil(() => r.records.length === 1)
    renameSync(path, `${path}.1`)
    writeFileSync(path, 'new 1\n')
    // The writer still had its old file open for a moment.
    appendFileSync(`${path}.1`, 'old 2\nold 3 without newline')
    await waitUntil(() => r.records.length === 4)
    expect(text(r.records).sort()).toEqual(['new 1', 'old 1', 'old 2', 'old 3 without newline'])
    appendFileSync(path, 'new 2\n')
    await waitUntil(() => r.records.length === 5)
    expect(text(r.records.filter((x) => x.value.toString().startsWith('new')))).toEqual(['new 1', 'new 2'])
    expect(r.records.find((x) => x.value.toString() === 'new 2')?.coords).toMatchObject({ file: path, line: 2, offset: '6' })
  })

  test('copytruncate: the truncated file is read again from its start, with a warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-'))
    const path = join(dir, 'a.log')
    writeFileSync(path, 'before 1\nbefore 2\n')
    const r = follow([path])
    await waitUntil(() => r.records.length === 2)
    copyFileSync(path, `${path}.1`)
    truncateSync(path, 0)
    await new Promise((res) => setTimeout(res, 100))
    appendFileSync(path, 'after 1\n')
    await waitUntil(() => r.records.length === 3)
    expect(text(r.records)).toEqual(['before 1', 'before 2', 'after 1'])
    expect(r.records[2]?.coords).toMatchObject({ line: 1, offset: '0' })
    expect(r.warnings.join('\n')).toMatch(/a\.log was truncated \(copytruncate\?\) at byte 18: reading it again from its start/)
  })

  test('copytruncate that is refilled past the read position before the next look is still seen (the first bytes changed)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-'))
    const path = join(dir, 'a.log')
    writeFileSync(path, 'aaaa\n')
    const r = follow([path], { pollMs: 300 })
    await waitUntil(() => r.records.length === 1)
    writeFileSync(path, 'bbbb 1\nbbbb 2\n')
    await waitUntil(() => r.records.length === 3)
    expect(text(r.records)).toEqual(['aaaa', 'bbbb 1', 'bbbb 2'])
  })

  test('copytruncate refilled with the same first line is still seen (the file is shorter than the read position)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-'))
    const path = join(dir, 'a.log')
    writeFileSync(path, 'same first line\na longer second line\n')
    const r = follow([path])
    await waitUntil(() => r.records.length === 2)
    writeFileSync(path, 'same first line\n')
    await waitUntil(() => r.records.length === 3)
    appendFileSync(path, 'next\n')
    await waitUntil(() => r.records.length === 4)
    expect(text(r.records)).toEqual(['same first line', 'a longer second line', 'same first line', 'next'])
  })

  test('a gzip file cannot be followed: a usage error naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-'))
    const path = join(dir, 'a.log.gz')
    writeFileSync(path, gzipSync('a\n'))
    const err = await follow([path]).done.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(EnvoyAuditError)
    expect((err as EnvoyAuditError).code).toBe('EA_USAGE')
    expect((err as Error).message).toContain('a.log.gz')
  })

  test('stdin cannot be followed by name', () => {
    expect(() => createFileSource({ files: ['-'], follow: true })).toThrow(/stdin/)
  })

  test('close() while idle returns at once and hands on every complete line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-'))
    const path = join(dir, 'a.log')
    writeFileSync(path, 'a\nb\npart')
    const r = follow([path], { lingerMs: 60_000 })
    await new Promise((res) => setTimeout(res, 150))
    const t0 = Date.now()
    await r.source.close()
    await r.done
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(text(r.records)).toEqual(['a', 'b'])
  })
})

describe('file source, follow mode: positions kept across restarts', () => {
  test('a restart goes on from the saved position, with the line numbers going on too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-state-'))
    const path = join(dir, 'a.log')
    const stateFile = join(dir, 'positions.json')
    writeFileSync(path, 'l1\nl2\n')
    const first = follow([path], { stateFile })
    await waitUntil(() => first.records.length === 2)
    await first.source.close()
    await first.done
    expect(state(stateFile).files).toMatchObject([{ path, offset: 6, line: 2 }])
    appendFileSync(path, 'l3\n')
    const second = follow([path], { stateFile })
    await waitUntil(() => second.records.length === 1)
    expect(text(second.records)).toEqual(['l3'])
    expect(second.records[0]?.coords).toMatchObject({ line: 3, offset: '6' })
  })

  test('a position is saved only after its batch was acknowledged: a failed batch is read again after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-state-'))
    const path = join(dir, 'a.log')
    const stateFile = join(dir, 'positions.json')
    writeFileSync(path, 'l1\n')
    let calls = 0
    const savedWhileHandling: (number | undefined)[] = []
    const first = follow([path], { stateFile }, async () => {
      calls++
      savedWhileHandling.push(existsSync(stateFile) ? state(stateFile).files[0]?.offset : undefined)
      if (calls === 2) throw new Error('sink down')
    })
    await waitUntil(() => first.records.length === 1)
    appendFileSync(path, 'l2\n')
    const err = await first.done.catch((e: unknown) => e)
    expect((err as Error).message).toBe('sink down')
    // While a batch was being handled, the saved position was still before it.
    expect(savedWhileHandling).toEqual([0, 3])
    expect(state(stateFile).files).toMatchObject([{ offset: 3, line: 1 }])
    const second = follow([path], { stateFile })
    await waitUntil(() => second.records.length === 1)
    expect(text(second.records)).toEqual(['l2'])
  })

  test('nothing is committed past a CRI partial (P) line until its final (F) line was read and acknowledged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-cri-'))
    const path = join(dir, 'c.log')
    const stateFile = join(dir, 'positions.json')
    const p = '2024-03-01T10:00:00.000000001Z stdout P {"start_time":"2024-'
    const other = '2024-03-01T10:00:00.000000002Z stderr F some error\n'
    writeFileSync(path, `${p}\n${other}`)
    const r = follow([path], { stateFile })
    await waitUntil(() => r.records.length === 2)
    await new Promise((res) => setTimeout(res, 150))
    expect(state(stateFile).files).toMatchObject([{ offset: 0, line: 0 }])
    const f = '2024-03-01T10:00:00.000000003Z stdout F 03-01T10:00:00.000Z"}\n'
    appendFileSync(path, f)
    await waitUntil(() => r.records.length === 3)
    await waitUntil(() => state(stateFile).files[0]?.offset === p.length + 1 + other.length + f.length)
    expect(state(stateFile).files[0]?.line).toBe(3)
  })

  test('a file rotated while stopped is read from its saved position to its end (found by inode), then the new file from its start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-rot-'))
    const path = join(dir, 'a.log')
    const stateFile = join(dir, 'positions.json')
    writeFileSync(path, 'old 1\n')
    const first = follow([path], { stateFile })
    await waitUntil(() => first.records.length === 1)
    await first.source.close()
    await first.done
    appendFileSync(path, 'old 2\n')
    renameSync(path, join(dir, 'a.log.1'))
    writeFileSync(path, 'new 1\n')
    const second = follow([path], { stateFile })
    await waitUntil(() => second.records.length === 2)
    expect(text(second.records).sort()).toEqual(['new 1', 'old 2'])
    expect(second.records.find((x) => x.value.toString() === 'old 2')?.coords).toMatchObject({
      file: join(dir, 'a.log.1'),
      line: 2,
      offset: '6',
    })
    expect(second.warnings.join('\n')).toMatch(/reading a\.log\.1 \(rotated while stopped\) from byte 6/)
    // Read to its end and idle for rotateWaitMs: forgotten.
    await waitUntil(() => state(stateFile).files.length === 1)
    expect(state(stateFile).files[0]).toMatchObject({ path, offset: 6, line: 1 })
  })

  test('kubelet layout: a followed symlink whose target rotated while stopped is found in the target folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-kubelet-'))
    const podDir = join(dir, 'pods', 'ns_pod_uid', 'istio-proxy')
    mkdirSync(podDir, { recursive: true })
    mkdirSync(join(dir, 'containers'))
    const target = join(podDir, '0.log')
    const link = join(dir, 'containers', 'pod_ns_istio-proxy-abc.log')
    writeFileSync(target, 'a 1\n')
    symlinkSync(target, link)
    const stateFile = join(dir, 'positions.json')
    const first = follow([link], { stateFile })
    await waitUntil(() => first.records.length === 1)
    await first.source.close()
    await first.done
    appendFileSync(target, 'a 2\n')
    renameSync(target, join(podDir, '0.log.20240301-101500'))
    writeFileSync(target, 'b 1\n')
    const second = follow([link], { stateFile })
    await waitUntil(() => second.records.length === 2)
    expect(text(second.records).sort()).toEqual(['a 2', 'b 1'])
  })

  test('a file rotated away while stopped and deleted before the restart is named in a warning, with the byte its loss starts at', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-lost-'))
    const path = join(dir, 'a.log')
    const stateFile = join(dir, 'positions.json')
    writeFileSync(path, 'x 1\n')
    const first = follow([path], { stateFile })
    await waitUntil(() => first.records.length === 1)
    await first.source.close()
    await first.done
    // The new file is made first, so it cannot get the deleted file's inode.
    writeFileSync(`${path}.new`, 'y 1\n')
    rmSync(path)
    renameSync(`${path}.new`, path)
    const second = follow([path], { stateFile })
    await waitUntil(() => second.records.length === 1)
    expect(text(second.records)).toEqual(['y 1'])
    expect(second.warnings.join('\n')).toMatch(
      /a\.log: the file rotated away from it at byte 4 was not found in .* \(deleted or compressed\)/,
    )
  })

  test('startAt end skips what a file held at start (when there is no saved position), and keeps that start across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-follow-end-'))
    const path = join(dir, 'a.log')
    const stateFile = join(dir, 'positions.json')
    writeFileSync(path, 'history\n')
    const first = follow([path], { stateFile, startAt: 'end' })
    await new Promise((res) => setTimeout(res, 100))
    await first.source.close()
    await first.done
    appendFileSync(path, 'fresh\n')
    const second = follow([path], { stateFile, startAt: 'end' })
    await waitUntil(() => second.records.length === 1)
    expect(text(second.records)).toEqual(['fresh'])
    expect(first.records).toEqual([])
  })
})
