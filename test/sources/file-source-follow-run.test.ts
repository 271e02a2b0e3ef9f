/**
 * `envoy-audit run` with `source.file.follow`: a collector over a log file that grows, rotates and
 * outlives the process. Every line written ends up as exactly one event, across a rotation and a
 * restart with lines written while it was stopped.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { describe, expect, test } from 'vitest'
import { liveCli } from '../helpers/live-cli.js'

// An RBAC denial line (403, rbac_access_denied_matched_policy[none], as in kubeflow/community-distribution#2858), one path per line.
const line = (n: number): string =>
  `[2022-07-22T12:24:12.945Z] "GET /ratings/${n} HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "-" "curl/7.79.1" "abc" "ratings:9080" "-" inbound|9080|| - 10.1.1.5:9080 10.1.1.9:40000 - -\n`

describe('envoy-audit run with a followed file', () => {
  test('every line becomes one event across appends, a rename rotation and a restart with lines written while stopped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-run-follow-'))
    const log = join(dir, 'access.log')
    const events = join(dir, 'events.ndjson')
    const stateFile = join(dir, 'positions.json')
    const config = join(dir, 'run.yaml')
    writeFileSync(
      config,
      stringify({
        source: { kind: 'file', file: { paths: [log], follow: true, stateFile, pollMs: 50, lingerMs: 100, rotateWaitMs: 300 } },
        sink: { kind: 'ndjson', ndjson: { path: events } },
        deadLetter: { kind: 'file', path: join(dir, 'dlq.ndjson') },
        integrity: { enabled: false },
        service: { enabled: false },
        log: { level: 'warn' },
      }),
    )
    const stored = (): { path: string; id: string }[] =>
      existsSync(events)
        ? readFileSync(events, 'utf8')
            .trim()
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => {
              const e = JSON.parse(l)
              return { path: e.url.path, id: e.event.id }
            })
        : []

    writeFileSync(log, line(1) + line(2) + line(3))
    const first = liveCli(['run', '--config', config])
    await first.waitFor(() => stored().length === 3)
    appendFileSync(log, line(4) + line(5))
    await first.waitFor(() => stored().length === 5)
    renameSync(log, `${log}.1`)
    writeFileSync(log, line(6))
    appendFileSync(`${log}.1`, line(7)) // the writer's last line into the old file
    await first.waitFor(() => stored().length === 7)
    first.child.kill('SIGTERM')
    expect((await first.exited).code).toBe(0)
    expect(first.stderr()).toMatch(/envoy-audit run: read 7 records: 7 events/)

    appendFileSync(log, line(8) + line(9))
    const second = liveCli(['run', '--config', config])
    await second.waitFor(() => stored().length >= 9)
    await new Promise((r) => setTimeout(r, 500))
    second.child.kill('SIGTERM')
    expect((await second.exited).code).toBe(0)
    expect(second.stderr()).toMatch(/envoy-audit run: read 2 records: 2 events/)

    const all = stored()
    expect(all.map((e) => e.path).sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => `/ratings/${n}`).sort())
    expect(new Set(all.map((e) => e.id)).size).toBe(9)
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).files).toMatchObject([{ path: log, offset: line(6).length * 3, line: 3 }])
  }, 120_000)
})
