import { describe, test, expect } from 'vitest'
import { createParser } from '../../src/parse/index.js'
import { splitCri } from '../../src/parse/cri.js'
import { eventOf, rec } from './helpers.js'

// elastic/integrations packages/istio/data_stream/access_logs/_dev/test/pipeline/test-access_container_logs.log, line 2
const CRI =
  '2022-07-22T12:24:13.900328365Z stdout F [2022-07-22T12:24:12.945Z] "GET /ratings/0 HTTP/1.1" 200 - via_upstream - "-" 0 48 62 61 "-" "curl/7.79.1" "d0caf832-6a17-916f-83b4-71a33dc038db" "ratings:9080" "10.24.1.5:9080" outbound|9080||ratings.default.svc.cluster.local 10.24.0.10:33168 10.12.29.240:9080 10.24.0.10:40768 - default'
const LINE = CRI.slice(CRI.indexOf(' F ') + 3)

describe('splitCri', () => {
  test('the kubelet examples (kubernetes/kubernetes pkg/kubelet/kuberuntime/logs/logs.go)', () => {
    expect(splitCri('2016-10-06T00:17:09.669794202Z stdout P log content 1')).toEqual({ stream: 'stdout', partial: true, content: 'log content 1' })
    expect(splitCri('2016-10-06T00:17:09.669794203Z stderr F log content 2')).toEqual({ stream: 'stderr', partial: false, content: 'log content 2' })
  })

  test('not CRI', () => {
    expect(splitCri('2021-03-16T09:29:20.896837Z info Envoy proxy is ready')).toBeUndefined()
    expect(splitCri('2016-10-06T00:17:09.669794202Z stdout X content')).toBeUndefined()
    expect(splitCri('2016-10-06T00:17:09.669794202Z stdout Fcontent')).toBeUndefined()
    expect(splitCri(LINE)).toBeUndefined()
    // A space inside the time (found by the drill's fuzzer, seed 610398): the parser held it as a P line.
    expect(splitCri('2022-07-22T 12:24:16.902967234Z stdout P content')).toBeUndefined()
    expect(splitCri('2022-07-22T12:24:16 .902967234Z stdout F content')).toBeUndefined()
  })
})

describe('CRI lines', () => {
  test('F line: the CRI framing is removed and its time ignored (START_TIME is the event time)', () => {
    const e = eventOf(CRI)
    expect(e['@timestamp']).toBe('2022-07-22T12:24:12.945Z')
    expect(e.event.original).toBe(LINE)
  })

  test('P lines are held per stream until their F line, then parsed as one line', () => {
    const p = createParser()
    const cut1 = 60
    const cut2 = 150
    const a = p.parseBatch([rec(`2022-07-22T12:24:13.900328365Z stdout P ${LINE.slice(0, cut1)}`, 1), rec(`2022-07-22T12:24:13.900328366Z stdout P ${LINE.slice(cut1, cut2)}`, 2)])
    expect(a.counts).toEqual({ in: 2, events: 0, deadLettered: 0, partialsHeld: 2 })
    // an interleaved line of another file is unaffected
    const b = p.parseBatch([rec(CRI, 1, 'other.log'), rec(`2022-07-22T12:24:13.900328367Z stdout F ${LINE.slice(cut2)}`, 3)])
    expect(b.counts).toEqual({ in: 2, events: 2, deadLettered: 0, partialsHeld: 0 })
    expect(b.events[1]!.event.original).toBe(LINE)
    expect(b.events[1]!.audit.source?.line).toBe(3)
    expect(p.flush()).toEqual([])
  })

  test('flush dead-letters partials whose F line never came; over-long partials are released', () => {
    const p = createParser({ maxLineBytes: 256 })
    p.parseBatch([rec(`2022-07-22T12:24:13.9Z stdout P ${LINE.slice(0, 40)}`, 1)])
    const dl = p.flush()
    expect(dl.map((d) => d.reason)).toEqual(['EA_PARSE_PARTIAL'])
    expect(dl[0]!.raw).toContain('stdout P')
    const r = p.parseBatch([rec(`2022-07-22T12:24:13.9Z stdout P ${'x'.repeat(200)}`, 1), rec(`2022-07-22T12:24:13.9Z stdout P ${'y'.repeat(200)}`, 2)])
    expect(r.deadLetters.map((d) => [d.reason, d.source.line])).toEqual([
      ['EA_PARSE_PARTIAL', 1],
      ['EA_PARSE_PARTIAL', 2],
    ])
    expect(p.flush()).toEqual([])
  })
})
