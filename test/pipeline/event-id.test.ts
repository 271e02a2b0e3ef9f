import { describe, test, expect } from 'vitest'
import { createHash } from 'node:crypto'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deriveEventId, workloadKey } from '../../src/pipeline/event-id.js'
import type { RawRecord } from '../../src/pipeline/component.js'
import { createParser } from '../../src/parse/index.js'
import { verifyDuckDbStore } from '../../src/integrity/verify-duckdb.js'
import type { IntegrityKey } from '../../src/integrity/config.js'
import { FIXTURE, handlerFor, ingestFile, openLedgered } from '../integrity/harness.js'

// elastic/integrations packages/istio/data_stream/access_logs/_dev/test/pipeline/test-access_container_logs.log, line 2
const LINE =
  '[2022-07-22T12:24:12.945Z] "GET /ratings/0 HTTP/1.1" 200 - via_upstream - "-" 0 48 62 61 "-" "curl/7.79.1" "d0caf832-6a17-916f-83b4-71a33dc038db" "ratings:9080" "10.24.1.5:9080" outbound|9080||ratings.default.svc.cluster.local 10.24.0.10:33168 10.12.29.240:9080 10.24.0.10:40768 - default'
const KUBE = { namespace_name: 'default', pod_name: 'ratings-v1-5f9699cfdf-x7b2k', container_name: 'istio-proxy' }

function idOf(record: RawRecord): string {
  const r = createParser().parseBatch([record])
  expect(r.deadLetters).toEqual([])
  return r.events[0]!.event.id
}

const file = (name: string, line: number, value: string | Buffer = LINE): RawRecord => ({
  value,
  coords: { kind: 'file', file: name, line, offset: String(line * 300) },
})
const stdin = (line: number, value: string | Buffer = LINE): RawRecord => ({
  value,
  coords: { kind: 'stdin', line, offset: String(line * 300) },
})
const kafka = (offset: number, value: string | Buffer, partition = 0): RawRecord => ({
  value,
  coords: { kind: 'kafka', topic: 'envoy', partition, offset: String(offset) },
})

describe('event ids come from the line and its workload, not from where it was read', () => {
  test('the same line read as ./a.log, a.log, a rotated a.log.1, stdin, or at two Kafka offsets is one id', () => {
    const ids = new Set([
      idOf(file('./a.log', 3)),
      idOf(file('a.log', 3)),
      idOf(file('/var/log/pods/default_ratings/istio-proxy/0.log.20220722-122413', 17)),
      idOf(stdin(1)),
      idOf(kafka(1042, LINE)),
      idOf(kafka(77, `${LINE}\n`, 5)),
      // CRI framing and a Docker json-file envelope without workload names are transport too.
      idOf(file('0.log', 1, `2022-07-22T12:24:13.900328365Z stdout F ${LINE}`)),
      idOf(stdin(2, JSON.stringify({ log: `${LINE}\n`, stream: 'stdout', time: '2022-07-22T12:24:13.900328365Z' }))),
    ])
    expect(ids.size).toBe(1)
  })

  test('the workload an envelope names is part of the id; the envelope around it is not', () => {
    const fb = (extra: Record<string, unknown>, kubernetes: Record<string, unknown> = KUBE) =>
      JSON.stringify({ '@timestamp': 1658492653.9, stream: 'stdout', log: LINE, kubernetes, ...extra })
    const a = idOf(kafka(1, fb({})))
    // A forwarder re-sending the record later (new collector time, new offset) or with other metadata.
    expect(idOf(kafka(900, fb({ '@timestamp': 1658499999.1, time: '2022-07-22T14:00:00Z' }), 3))).toBe(a)
    expect(idOf(kafka(2, fb({}, { ...KUBE, labels: { app: 'ratings' }, host: 'node-7' })))).toBe(a)
    // Vector's key names for the same workload.
    expect(
      idOf(
        kafka(
          3,
          JSON.stringify({
            message: LINE,
            source_type: 'kubernetes_logs',
            kubernetes: { pod_namespace: 'default', pod_name: KUBE.pod_name, container_name: 'istio-proxy' },
          }),
        ),
      ),
    ).toBe(a)
    // Another pod logging the very same bytes is another event.
    expect(idOf(kafka(4, fb({}, { ...KUBE, pod_name: 'ratings-v1-5f9699cfdf-q9z4m' })))).not.toBe(a)
    expect(idOf(kafka(5, fb({}, { ...KUBE, namespace_name: 'staging' })))).not.toBe(a)
    // Without a workload the line alone decides.
    expect(idOf(stdin(1))).not.toBe(a)
  })

  test('different lines are different ids, and no id is longer than OpenSearch allows for _id (512 bytes)', () => {
    const other = LINE.replace('62 61', '63 61')
    expect(idOf(stdin(1, other))).not.toBe(idOf(stdin(1)))
    const id = deriveEventId('x'.repeat(100_000), { namespace: 'n'.repeat(512), pod: 'p'.repeat(512), container: 'c' })
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(Buffer.byteLength(id)).toBeLessThanOrEqual(512)
  })

  test('workload names cannot run into each other', () => {
    expect(workloadKey({ namespace: 'a', pod: 'b/c' })).not.toBe(workloadKey({ namespace: 'a/b', pod: 'c' }))
    expect(workloadKey({ pod: 'x' })).not.toBe(workloadKey({ container: 'x' }))
    expect(deriveEventId(LINE, { pod: 'x' })).not.toBe(deriveEventId(LINE, { container: 'x' }))
  })

  test('stable across versions: the id of a fixed line and workload is pinned', () => {
    // Recomputed here from the definition (domain, length-prefixed workload, line), and pinned as
    // literals that were computed outside the product (Python hashlib over the same definition): a
    // change to either fails this test, and would re-key every stored event.
    const w = { namespace: 'default', pod: 'ratings-v1', container: 'istio-proxy' }
    const expected = createHash('sha256')
      .update('envoy-audit/event-id/v2')
      .update('\n7:default\n10:ratings-v1\n11:istio-proxy\n')
      .update(LINE)
      .digest('base64url')
      .slice(0, 22)
    expect(deriveEventId(LINE, w)).toBe(expected)
    expect(deriveEventId(LINE, w)).toBe('SmVvJ7r7SAiWG9KY3C2d_6')
    expect(deriveEventId(LINE)).toBe('5lnPa0mrMhzWshagbAIFmz')
  })

  test('hashed from its UTF-8 bytes in a scratch buffer: the same id as hashing the joined string, for any text and length', () => {
    const reference = (line: string, w?: Parameters<typeof workloadKey>[0]): string =>
      createHash('sha256')
        .update(`envoy-audit/event-id/v2${workloadKey(w)}${line}`)
        .digest('base64url')
        .slice(0, 22)
    const w = { namespace: 'döfault', pod: 'ratings-😀', container: 'istio-proxy', cluster: 'east' }
    const lines = [
      LINE,
      '',
      'é€ 😀 \u0000 "quoted" \\ back',
      'lone \ud800 high, lone \udfff low, pair \ud83d\ude00',
      '\udc00 starts with a low surrogate',
      'x'.repeat(20_000), // past the scratch buffer's first size
      `${'é'.repeat(30_000)}😀`,
      'y'.repeat(400_000), // past the scratch buffer's cap: the string path
    ]
    for (const line of lines) {
      expect(deriveEventId(line, w)).toBe(reference(line, w))
      expect(deriveEventId(line)).toBe(reference(line))
    }
    // And again after the buffer grew: a shorter line must not hash the longer one's leftover bytes.
    expect(deriveEventId(LINE, w)).toBe(reference(LINE, w))
  })
})

describe('re-ingesting the same lines stores each once, and verify still holds', () => {
  const KEY: IntegrityKey = { id: 'test', bytes: Buffer.from('0123456789abcdef0123456789abcdef') }

  test('a file read under three names and again from Kafka: the events of one read, every read ledgered, INTACT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-event-id-'))
    try {
      copyFileSync(FIXTURE, join(dir, 'a.log'))
      copyFileSync(FIXTURE, join(dir, 'a.log.1'))
      const l = await openLedgered(join(dir, 'store.duckdb'), KEY)
      await ingestFile(l, join(dir, 'a.log'))
      const once = (await l.store.sql('SELECT id FROM events e ORDER BY e.id')).rows.map((r) => String(r.id))
      // The fixture's 20 access records (mixed-real-world.expected.json), none byte-identical to another.
      expect(once).toHaveLength(20)
      await ingestFile(l, join(dir, '.', 'a.log').replace('/a.log', '/./a.log'))
      await ingestFile(l, join(dir, 'a.log.1'), 5)
      const handle = handlerFor(l)
      const lines = readFileSync(FIXTURE, 'utf8')
        .split('\n')
        .filter((x) => x.length > 0)
      await handle(lines.map((value, i) => kafka(5000 + i, value, 2)))
      const after = (await l.store.sql('SELECT id FROM events e ORDER BY e.id')).rows.map((r) => String(r.id))
      expect(after).toEqual(once)
      const report = await verifyDuckDbStore(l.store, KEY)
      expect(report.issues).toEqual([])
      expect(report.ok).toBe(true)
      expect(report.events).toBe(20)
      // Each read is in the ledger, under the stream it was read from: 4 reads x 20 events.
      expect(report.ledgered).toBe(80)
      await l.store.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
