/**
 * The report as a browser sees it: Debian's chromium renders the file headless, and the numbers in the
 * rendered DOM are checked against independent SQL over the store (not against the report's own data).
 * Skipped, with a message, where /usr/bin/chromium is not installed (`apt-get install -y chromium`).
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { inflateSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { generateMeshTraffic, linesByFile } from '../../src/demo/mesh-traffic.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { ingestFiles } from '../../src/compose/ingest.js'
import { writeReport } from '../../src/report/write-report.js'

const CHROMIUM = '/usr/bin/chromium'
const haveChromium = existsSync(CHROMIUM)
if (!haveChromium) console.warn(`report-chromium: skipped, ${CHROMIUM} is not installed (apt-get install -y chromium)`)

const run = promisify(execFile)
const dir = mkdtempSync(join(tmpdir(), 'ea-chromium-'))
const store = new DuckDbStore({ path: join(dir, 'store.duckdb') })
const reportPath = join(dir, 'report.html')

function chromiumArgs(profile: string): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--hide-scrollbars',
    `--user-data-dir=${join(dir, profile)}`,
  ]
}

beforeAll(async () => {
  if (!haveChromium) return
  const traffic = generateMeshTraffic({ sessions: 150 })
  mkdirSync(join(dir, 'logs'))
  const files: string[] = []
  for (const [name, lines] of linesByFile(traffic.lines)) {
    files.push(join(dir, 'logs', name))
    writeFileSync(files[files.length - 1]!, lines.join('\n') + '\n')
  }
  await ingestFiles({
    files,
    store,
    processing: { redaction: { enabled: false } },
    deadLetterPath: join(dir, 'dlq.ndjson'),
  })
  await writeReport(store, reportPath, 'html')
})
afterAll(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

/** The text of the element carrying data-metric="name" (and data-key when given) in the rendered DOM. */
function metric(dom: string, name: string, key?: string): string {
  const attrs = key === undefined ? `data-metric="${name}"` : `data-metric="${name}" data-key="${key}"`
  const m = new RegExp(`${attrs}[^>]*>([^<]*)<`).exec(dom)
  if (m === null) throw new Error(`no ${attrs} in the rendered report`)
  return m[1]!
}

async function scalar(sql: string): Promise<number> {
  const r = await store.sql(sql)
  return Number(Object.values(r.rows[0]!)[0])
}

const pct = (part: number, whole: number) => `${(Math.round((1000 * part) / whole) / 10).toFixed(1)}%`

describe.skipIf(!haveChromium)('the HTML report in headless Chromium', () => {
  test('renders, and its key numbers match SQL over the store', async () => {
    const { stdout: dom } = await run(CHROMIUM, [...chromiumArgs('dom'), '--dump-dom', pathToFileURL(reportPath).href], {
      timeout: 60_000,
      maxBuffer: 64 << 20,
    })
    expect(dom).toContain('<svg class="graph"')

    const events = await scalar('SELECT count(*) FROM events')
    expect(metric(dom, 'events')).toBe(events.toLocaleString('en-US'))

    const inbound = await scalar(`SELECT count(*) FROM events WHERE reporter = 'destination'`)
    const inboundMtls = await scalar(`SELECT count(*) FROM events WHERE reporter = 'destination' AND mtls`)
    expect(metric(dom, 'mtls-pct')).toBe(pct(inboundMtls, inbound))

    const complete = await scalar('SELECT count(*) FROM events WHERE au3_complete')
    expect(metric(dom, 'au3-pct')).toBe(pct(complete, events))

    expect(metric(dom, 'findings-total')).toBe((await scalar('SELECT count(*) FROM findings')).toLocaleString('en-US'))

    // Per namespace (the pod's, or the destination's for CRI lines without Kubernetes metadata):
    // payments received the plaintext legacy calls, so it is below 100%.
    const inPayments = `reporter = 'destination' AND coalesce(k8s_namespace, dst_namespace) = 'payments'`
    const payIn = await scalar(`SELECT count(*) FROM events WHERE ${inPayments}`)
    const payMtls = await scalar(`SELECT count(*) FROM events WHERE ${inPayments} AND mtls`)
    expect(payMtls).toBeLessThan(payIn)
    expect(metric(dom, 'mtls-pct-namespace', 'payments')).toBe(pct(payMtls, payIn))

    for (const code of ['plaintext_inbound', 'authz_denied', 'unregistered_egress', 'weak_tls', 'foreign_trust_domain']) {
      const n = await scalar(`SELECT count(*) FROM findings WHERE code = '${code}'`)
      expect(n).toBeGreaterThan(0)
      expect(dom).toContain(`data-finding="${code}" data-count="${n}"`)
    }
  })

  test('prints to PDF and screenshots without errors', async () => {
    const pdf = join(dir, 'report.pdf')
    const png = join(dir, 'report.png')
    const printed = await run(
      CHROMIUM,
      [...chromiumArgs('pdf'), ...logging, `--print-to-pdf=${pdf}`, '--no-pdf-header-footer', pathToFileURL(reportPath).href],
      { timeout: 60_000 },
    )
    const shot = await run(
      CHROMIUM,
      [...chromiumArgs('png'), ...logging, '--window-size=1280,2000', `--screenshot=${png}`, pathToFileURL(reportPath).href],
      { timeout: 60_000 },
    )
    // The page itself logged nothing (a script error, a failed load, a console.error would show here).
    expect(pageErrors(printed.stderr)).toEqual([])
    expect(pageErrors(shot.stderr)).toEqual([])

    const p = readFileSync(pdf)
    expect(p.subarray(0, 5).toString('latin1')).toBe('%PDF-')
    expect(p.subarray(-8).toString('latin1')).toMatch(/%%EOF\s*$/)
    expect(p.toString('latin1').match(/\/Type\s*\/Page[^s]/g)?.length ?? 0).toBeGreaterThanOrEqual(1)

    const image = pngSummary(readFileSync(png))
    expect([image.width, image.height]).toEqual([1280, 2000])
    // Not a blank page: a blank screenshot has a handful of distinct rows, the report's text, tables and
    // graph give hundreds.
    expect(image.distinctRows).toBeGreaterThan(200)
  })

  test('the page-error check catches what it claims to (a page that logs an error)', async () => {
    const bad = join(dir, 'bad.html')
    writeFileSync(bad, '<html><body><p>x</p><script>console.error("report broke")</script></body></html>')
    const r = await run(CHROMIUM, [...chromiumArgs('bad'), ...logging, '--dump-dom', pathToFileURL(bad).href], {
      timeout: 60_000,
      maxBuffer: 64 << 20,
    })
    expect(pageErrors(r.stderr).join('\n')).toContain('report broke')
  })
})

/** Chromium logs the page's console messages (errors, uncaught exceptions) to stderr as CONSOLE lines. */
const logging = ['--enable-logging=stderr', '--v=0']
function pageErrors(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /:CONSOLE[:(]/.test(l) || /Uncaught|net::ERR_/.test(l))
}

/** Width, height and the number of distinct scanlines (as filtered bytes) of a non-interlaced PNG. */
function pngSummary(buf: Buffer): { width: number; height: number; distinctRows: number } {
  expect(buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true)
  let pos = 8
  let width = 0
  let height = 0
  const idat: Buffer[] = []
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos)
    const type = buf.subarray(pos + 4, pos + 8).toString('latin1')
    const data = buf.subarray(pos + 8, pos + 8 + len)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
    } else if (type === 'IDAT') idat.push(data)
    pos += 12 + len
  }
  const raw = inflateSync(Buffer.concat(idat))
  const rowBytes = raw.length / height
  expect(Number.isInteger(rowBytes)).toBe(true)
  const rows = new Set<string>()
  for (let y = 0; y < height; y++) rows.add(raw.subarray(y * rowBytes, (y + 1) * rowBytes).toString('base64'))
  return { width, height, distinctRows: rows.size }
}
