/**
 * The query commands on a store that a writer holds open: DuckDB lets one process hold the file, so
 * before the writer served its readers every one of them failed with "Could not set lock on file".
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { generateMeshTraffic } from '../../src/demo/mesh-traffic.js'
import { openStoreForReading } from '../../src/store/duckdb-store.js'
import { cliEntry, runCli } from '../helpers/cli.js'
import { ingestFile, openLedgered } from '../integrity/harness.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-store-readers-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('query commands while a writer holds the store', () => {
  test('sql, report, hunt, flows, policy recommend and verify run and read what the writer stored', async () => {
    const path = join(dir, 'held.duckdb')
    const l = await openLedgered(path, undefined)
    try {
      await ingestFile(l)
      const stored = Number((await l.store.sql('SELECT count(*)::INTEGER AS n FROM events')).rows[0]!.n)
      expect(stored).toBeGreaterThan(0)
      const since = '2016-01-01T00:00:00Z'
      const runs = await Promise.all([
        runCli(['sql', '--store', path, '--json', 'SELECT count(*) AS n FROM events']),
        runCli(['report', '--store', path, '--format', 'json', '--out', '-']),
        runCli(['hunt', '--store', path, '--from', 'default/reviews', '--since', since, '--json']),
        runCli(['flows', '--store', path, '--since', since, '--json']),
        runCli(['policy', 'recommend', '--store', path]),
        runCli(['verify', '--store', path, '--json']),
      ])
      for (const r of runs) {
        expect(r.stderr).not.toMatch(/lock/i)
        expect(r.code, r.stderr).toBe(0)
      }
      const [sql, report, , , , verify] = runs
      expect(JSON.parse(sql!.stdout)).toEqual({ n: stored })
      expect((JSON.parse(report!.stdout) as { summary: { events: number } }).summary.events).toBe(stored)
      const verdict = JSON.parse(verify!.stdout) as { ok: boolean; events: number }
      expect(verdict).toMatchObject({ ok: true, events: stored })
    } finally {
      await l.store.close()
    }
  }, 120_000)

  test('a query loop during an ingest: every query answers, counts only grow, the last one sees everything', async () => {
    const input = join(dir, 'mesh.log')
    const lines = generateMeshTraffic({ seed: 5, sessions: 2000, noise: false }).lines.map((line) => line.text)
    writeFileSync(input, lines.join('\n') + '\n')
    const path = join(dir, 'ingesting.duckdb')
    const child = spawn(process.execPath, [...cliEntry(), 'ingest', input, '--store', path, '-q'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
    let running = true
    void exited.then(() => (running = false))
    const counts: number[] = []
    let duringIngest = 0
    while (running) {
      if (!existsSync(path)) {
        await new Promise((r) => setTimeout(r, 50))
        continue
      }
      const reader = await openStoreForReading(path)
      try {
        const n = Number((await reader.sql('SELECT count(*)::INTEGER AS n FROM events')).rows[0]!.n)
        counts.push(n)
        if (running && n > 0) duringIngest++
      } finally {
        await reader.close()
      }
    }
    expect(await exited, stderr).toBe(0)
    const reader = await openStoreForReading(path)
    const final = Number((await reader.sql('SELECT count(*)::INTEGER AS n FROM events')).rows[0]!.n)
    await reader.close()
    expect(final).toBeGreaterThan(lines.length * 0.9)
    expect(duringIngest).toBeGreaterThan(0)
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]!)
    expect(counts.every((n) => n <= final)).toBe(true)
  }, 240_000)

  test('sql, report, hunt, flows, policy and verify while batches are acknowledged see what was acknowledged before', async () => {
    const path = join(dir, 'growing.duckdb')
    const l = await openLedgered(path, undefined)
    // A new store: the default layout.
    expect(l.store.layout).toBe('segments')
    const since = '2016-01-01T00:00:00Z'
    const commands: { args: string[]; seen?: (stdout: string) => number }[] = [
      { args: ['sql', '--store', path, '--json', 'SELECT count(*) AS n FROM events'], seen: (o) => (JSON.parse(o) as { n: number }).n },
      {
        args: ['report', '--store', path, '--format', 'json', '--out', '-'],
        seen: (o) => (JSON.parse(o) as { summary: { events: number } }).summary.events,
      },
      { args: ['hunt', '--store', path, '--from', 'frontend', '--since', since, '--baseline', '0', '--json'] },
      { args: ['flows', '--store', path, '--since', since, '--json'] },
      { args: ['policy', 'recommend', '--store', path] },
      { args: ['verify', '--store', path, '--json'], seen: (o) => (JSON.parse(o) as { events: number }).events },
    ]
    let acked = 0
    let stop = false
    let batches = 0
    // The writer: one file of fresh lines after another, each acknowledged (stored and ledgered) when ingestFile resolves.
    const writing = (async () => {
      for (let seed = 100; !stop; seed++) {
        const file = join(dir, `growing-${seed}.log`)
        const lines = generateMeshTraffic({ seed, sessions: 20, noise: false }).lines.map((line) => line.text)
        writeFileSync(file, lines.join('\n') + '\n')
        await ingestFile(l, file, 50)
        acked = Number((await l.store.sql('SELECT count(*)::INTEGER AS n FROM events')).rows[0]!.n)
        batches++
      }
    })()
    try {
      while (acked === 0) await new Promise((r) => setTimeout(r, 50))
      for (const { args, seen } of commands) {
        const before = acked
        const r = await runCli(args)
        expect(r.stderr).not.toMatch(/lock/i)
        expect(r.code, `${args[0]}: ${r.stderr}`).toBe(0)
        if (seen !== undefined) expect(seen(r.stdout), args[0]).toBeGreaterThanOrEqual(before)
      }
      // The writer kept writing while the commands ran.
      expect(batches).toBeGreaterThan(1)
    } finally {
      stop = true
      await writing
      await l.store.close()
    }
  }, 240_000)
})
