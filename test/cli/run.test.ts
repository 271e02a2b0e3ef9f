/**
 * `envoy-audit run` as a process: a service that fails for good must exit with its code even when an
 * input handle is still open, and a start that fails (refused credentials, no broker answering within
 * source.kafka.startupTimeoutMs) must exit at once, having closed what it opened. A replica that stopped working but stays alive is never restarted by its
 * supervisor (Kubernetes, systemd): it would sit there, alive in the process table, indexing nothing.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { expect, test } from 'vitest'
import { cliEntry, REPO_ROOT } from '../helpers/cli.js'
import { startKafkaBroker } from '../support/kafka-broker/index.js'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { describeOpenSearch, opensearchUrl } from '../helpers/real-servers.js'

test('a fatal error while stdin is still open: the error is printed and the process exits 1 within seconds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-run-exit-'))
  // A folder where the dead-letter file should be: the first dead letter cannot be written (EA_IO),
  // and the service stops for good rather than acknowledge a record it could not keep.
  mkdirSync(join(dir, 'dlq.ndjson'))
  const config = join(dir, 'run.yaml')
  writeFileSync(
    config,
    stringify({
      source: { kind: 'stdin', file: { lingerMs: 50 } },
      sink: { kind: 'ndjson', ndjson: { path: join(dir, 'events.ndjson') } },
      deadLetter: { kind: 'file', path: join(dir, 'dlq.ndjson') },
      integrity: { enabled: false },
      service: { enabled: false },
      log: { level: 'warn' },
    }),
  )
  const child = spawn(process.execPath, [...cliEntry(), 'run', '--config', config], { cwd: REPO_ROOT, stdio: ['pipe', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  // One line that is not an access log, and stdin stays open (a tail -F, a shipper keeping its pipe).
  child.stdin.write('not an access log\n')
  const outcome = await Promise.race([
    exited,
    new Promise<string>((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000)),
  ])
  if (typeof outcome === 'string') child.kill('SIGKILL')
  child.stdin.destroy()
  expect(stderr).toMatch(/cannot write .*dlq\.ndjson.*\[EA_IO\]/)
  expect(outcome).toBe(1)
}, 40_000)

/** Runs `envoy-audit run` on a config and records when each stderr line arrived and when the process exited. */
async function runTimed(
  config: object,
  env: NodeJS.ProcessEnv = {},
  limitMs = 40_000,
): Promise<{ code: number | string; stderr: string; lineAt(re: RegExp): number | undefined; exitAt: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'ea-run-start-'))
  const path = join(dir, 'run.yaml')
  writeFileSync(path, stringify(config))
  const t0 = Date.now()
  const child = spawn(process.execPath, [...cliEntry(), 'run', '--config', path], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  })
  const lines: { at: number; text: string }[] = []
  child.stderr.on('data', (d: Buffer) => {
    for (const text of d.toString().split('\n')) if (text !== '') lines.push({ at: Date.now() - t0, text })
  })
  const killer = setTimeout(() => child.kill('SIGKILL'), limitMs)
  const code = await new Promise<number | string>((resolve) => child.on('exit', (c, s) => resolve(c ?? s ?? -1)))
  clearTimeout(killer)
  return {
    code,
    stderr: lines.map((l) => l.text).join('\n'),
    lineAt: (re) => lines.find((l) => re.test(l.text))?.at,
    exitAt: Date.now() - t0,
  }
}

const quietService = { port: 0, host: '127.0.0.1' }

test('refused SASL credentials: the error is printed and the process exits 1 at once, with nothing left open', async () => {
  const broker = await startKafkaBroker({ sasl: { users: { 'envoy-audit': 'right-pw-3' } } })
  try {
    broker.createTopic('envoy', 1)
    const dir = mkdtempSync(join(tmpdir(), 'ea-run-sasl-'))
    const r = await runTimed(
      {
        source: {
          kind: 'kafka',
          kafka: {
            brokers: broker.brokers,
            topics: ['envoy'],
            sasl: { mechanism: 'plain', username: 'envoy-audit', passwordEnv: 'EA_TEST_PW' },
          },
        },
        sink: { kind: 'ndjson', ndjson: { path: join(dir, 'events.ndjson') } },
        deadLetter: { kind: 'file', path: join(dir, 'dlq.ndjson') },
        integrity: { enabled: false },
        service: quietService,
        log: { level: 'warn' },
      },
      { EA_TEST_PW: 'wrong-pw-4' },
    )
    expect(r.stderr).toMatch(
      /envoy-audit: kafka source: brokers .* refused authentication or authorization for plain user envoy-audit: .*\[EA_SOURCE_AUTH\]/,
    )
    expect(r.code).toBe(1)
    // Everything start() opened was closed: the process ends by itself, not by the exit timer of src/cli/run.ts.
    expect(r.stderr).not.toMatch(/handles still open/)
    expect(r.exitAt - r.lineAt(/\[EA_SOURCE_AUTH\]/)!).toBeLessThan(1_500)
  } finally {
    await broker.close()
  }
}, 60_000)

test('Kafka unreachable at startup: exits 1 within source.kafka.startupTimeoutMs, naming the broker and what it answered', async () => {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const broker = `127.0.0.1:${(server.address() as net.AddressInfo).port}`
  await new Promise<void>((resolve) => server.close(() => resolve()))
  const dir = mkdtempSync(join(tmpdir(), 'ea-run-unreachable-'))
  const r = await runTimed({
    source: { kind: 'kafka', kafka: { brokers: [broker], topics: ['envoy'], startupTimeoutMs: 2_000 } },
    sink: { kind: 'ndjson', ndjson: { path: join(dir, 'events.ndjson') } },
    // The dead-letter writer starts first: it is what meets the unreachable cluster.
    deadLetter: { kind: 'kafka', topic: 'envoy-dlq' },
    integrity: { enabled: false },
    service: quietService,
    log: { level: 'warn' },
  })
  expect(r.stderr).toContain(
    `envoy-audit: dead-letter topic envoy-dlq: no broker answered within 2000 ms (source.kafka.startupTimeoutMs); ${broker}: Connection error: connect ECONNREFUSED ${broker} [EA_DLQ_UNAVAILABLE]`,
  )
  expect(r.code).toBe(1)
  expect(r.stderr).not.toMatch(/handles still open/)
  const printedAt = r.lineAt(/EA_DLQ_UNAVAILABLE/)!
  // From the config being read (tsx takes a few seconds to load on a busy machine) to the error: the budget.
  expect(printedAt).toBeLessThan(15_000)
  expect(r.exitAt - printedAt).toBeLessThan(1_500)
}, 60_000)

/** `run` reading one access-log line from stdin into OpenSearch at `node`, with unique aliases. */
function stdinToOpenSearch(node: string, prefix: string, dir: string, extra: Record<string, unknown> = {}): object {
  return {
    source: { kind: 'stdin', file: { lingerMs: 50 } },
    sink: {
      kind: 'opensearch',
      opensearch: { connection: { node }, sink: { eventsAlias: `${prefix}-events`, findingsAlias: `${prefix}-findings` }, ...extra },
    },
    deadLetter: { kind: 'file', path: join(dir, 'dlq.ndjson') },
    integrity: { enabled: false },
    service: quietService,
    log: { level: 'warn' },
  }
}

test('run before setup (test server): refuses to start, exit 1, "run envoy-audit setup first", nothing written', async () => {
  const os = await TestOpenSearch.start()
  try {
    const dir = mkdtempSync(join(tmpdir(), 'ea-run-nosetup-'))
    const r = await runTimed(stdinToOpenSearch(os.url, 'ea-nosetup', dir))
    expect(r.stderr).toMatch(
      /envoy-audit: opensearch sink: no index template ea-nosetup-events-template, ea-nosetup-findings-template: run envoy-audit setup first .*sink\.opensearch\.requireSetup: false \[EA_SINK_NOT_SET_UP\]/,
    )
    expect(r.code).toBe(1)
    expect(os.requests.filter((q) => q.path.includes('_bulk'))).toEqual([])
    expect(r.stderr).not.toMatch(/handles still open/)
  } finally {
    await os.close()
  }
}, 60_000)

describeOpenSearch('run before setup', () => {
  test('refuses to start on the real node and creates no index; with requireSetup: false it starts (and warns)', async () => {
    const prefix = `ea-nosetup-${randomBytes(4).toString('hex')}`
    const dir = mkdtempSync(join(tmpdir(), 'ea-run-nosetup-'))
    try {
      const r = await runTimed(stdinToOpenSearch(opensearchUrl!, prefix, dir))
      expect(r.stderr).toContain(`no index template ${prefix}-events-template, ${prefix}-findings-template: run envoy-audit setup first`)
      expect(r.stderr).toContain('[EA_SINK_NOT_SET_UP]')
      expect(r.code).toBe(1)
      expect(await (await fetch(`${opensearchUrl}/_cat/indices/${prefix}-*?format=json`)).json()).toEqual([])

      const accepted = await runTimed(stdinToOpenSearch(opensearchUrl!, prefix, dir, { requireSetup: false }))
      expect(accepted.code).toBe(0)
      expect(accepted.stderr).toContain(`no index template ${prefix}-events-template; run envoy-audit setup first`)
    } finally {
      await fetch(`${opensearchUrl}/${prefix}-*`, { method: 'DELETE' })
    }
  }, 90_000)
})

test('SIGTERM while no Kafka broker answers yet: the start is abandoned and the process exits 0 at once, not at startupTimeoutMs', async () => {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const broker = `127.0.0.1:${(server.address() as net.AddressInfo).port}`
  await new Promise<void>((resolve) => server.close(() => resolve()))
  const dir = mkdtempSync(join(tmpdir(), 'ea-run-sigterm-'))
  const path = join(dir, 'run.yaml')
  writeFileSync(
    path,
    stringify({
      source: { kind: 'kafka', kafka: { brokers: [broker], topics: ['envoy'], startupTimeoutMs: 60_000 } },
      sink: { kind: 'ndjson', ndjson: { path: join(dir, 'events.ndjson') } },
      deadLetter: { kind: 'file', path: join(dir, 'dlq.ndjson') },
      integrity: { enabled: false },
      service: quietService,
      log: { level: 'info' },
    }),
  )
  const child = spawn(process.execPath, [...cliEntry(), 'run', '--config', path], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  let signalledAt = 0
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
    if (signalledAt === 0 && stderr.includes('envoy-audit starting')) {
      signalledAt = Date.now()
      setTimeout(() => child.kill('SIGTERM'), 500)
    }
  })
  const killer = setTimeout(() => child.kill('SIGKILL'), 40_000)
  const code = await new Promise<number | string>((resolve) => child.on('exit', (c, s) => resolve(c ?? s ?? -1)))
  clearTimeout(killer)
  expect(signalledAt).toBeGreaterThan(0)
  expect(code).toBe(0)
  expect(Date.now() - signalledAt).toBeLessThan(5_000)
  expect(stderr).toContain('envoy-audit run: read 0 records')
  expect(stderr).not.toMatch(/EA_SOURCE_UNAVAILABLE|handles still open/)
}, 60_000)
