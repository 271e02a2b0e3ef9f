import { describe, expect, test } from 'vitest'
import fc from 'fast-check'
import { huntPaths, type HuntResult } from '../../src/hunt/search.js'
import { MemoryBackend, type Call } from './memory-backend.js'
import { at } from './scenario.js'

async function run(
  calls: Call[],
  from: string[],
  opts: { since?: string; until?: string; maxDepth?: number; baselineFrom?: string } = {},
): Promise<HuntResult> {
  const backend = new MemoryBackend(calls)
  const range = {
    since: opts.since ?? at(0),
    ...(opts.until === undefined ? {} : { until: opts.until }),
    ...(opts.baselineFrom === undefined ? {} : { baselineFrom: opts.baselineFrom }),
  }
  await backend.prepare(range)
  return huntPaths(backend, { from, maxDepth: opts.maxDepth ?? 6, ...range })
}

const arrivals = (r: HuntResult): Record<string, string> => Object.fromEntries(r.reached.map((n) => [n.node, n.arrival]))

/** Brute force over every time-respecting walk of at most maxDepth hops: earliest arrival, then fewest hops. */
function reference(
  calls: Call[],
  from: string[],
  since: string,
  until: string | undefined,
  maxDepth: number,
): Map<string, { arrival: string; hops: number }> {
  const best = new Map<string, { arrival: string; hops: number }>()
  const better = (a: { arrival: string; hops: number }, b: { arrival: string; hops: number } | undefined): boolean =>
    b === undefined || a.arrival < b.arrival || (a.arrival === b.arrival && a.hops < b.hops)
  const walk = (node: string, arrival: string, hops: number): void => {
    const here = { arrival, hops }
    if (better(here, best.get(node))) best.set(node, here)
    if (hops === maxDepth) return
    for (const c of calls) {
      if (
        c.src !== node ||
        c.denied === true ||
        c.src === c.dst ||
        c.ts < arrival ||
        c.ts < since ||
        (until !== undefined && c.ts >= until)
      )
        continue
      walk(c.dst, c.ts, hops + 1)
    }
  }
  for (const o of from) walk(o, since, 0)
  return best
}

describe('huntPaths: known answers', () => {
  test('branching: both branches reached, each at its own earliest time, with its own witness', async () => {
    const r = await run(
      [
        { src: 'a', dst: 'b', ts: at(1) },
        { src: 'a', dst: 'c', ts: at(2) },
        { src: 'b', dst: 'd', ts: at(3) },
        { src: 'c', dst: 'e', ts: at(4) },
      ],
      ['a'],
    )
    expect(arrivals(r)).toEqual({ a: at(0), b: at(1), c: at(2), d: at(3), e: at(4) })
    expect(r.reached.find((n) => n.node === 'e')!.path.map((h) => `${h.from}>${h.to}@${h.at}`)).toEqual([`a>c@${at(2)}`, `c>e@${at(4)}`])
  })

  test('time order forbids a path: b→c happened before a→b, so c is unreachable', async () => {
    const r = await run(
      [
        { src: 'b', dst: 'c', ts: at(1) },
        { src: 'a', dst: 'b', ts: at(5) },
      ],
      ['a'],
    )
    expect(arrivals(r)).toEqual({ a: at(0), b: at(5) })
  })

  test('a later call on the same edge still extends the path (earliest call at or after arrival)', async () => {
    const r = await run(
      [
        { src: 'b', dst: 'c', ts: at(1) },
        { src: 'a', dst: 'b', ts: at(5) },
        { src: 'b', dst: 'c', ts: at(9) },
      ],
      ['a'],
    )
    expect(arrivals(r)).toEqual({ a: at(0), b: at(5), c: at(9) })
  })

  test('calls before --since do not count, and neither do calls at or after --until', async () => {
    const r = await run(
      [
        { src: 'a', dst: 'b', ts: at(1) },
        { src: 'a', dst: 'c', ts: at(20) },
        { src: 'a', dst: 'd', ts: at(30) },
      ],
      ['a'],
      { since: at(10), until: at(30) },
    )
    expect(arrivals(r)).toEqual({ a: at(10), c: at(20) })
  })

  test('cycles terminate and do not change arrivals', async () => {
    const r = await run(
      [
        { src: 'a', dst: 'b', ts: at(1) },
        { src: 'b', dst: 'c', ts: at(2) },
        { src: 'c', dst: 'a', ts: at(3) },
        { src: 'c', dst: 'b', ts: at(4) },
        { src: 'b', dst: 'a', ts: at(5) },
      ],
      ['a'],
    )
    expect(arrivals(r)).toEqual({ a: at(0), b: at(1), c: at(2) })
    expect(r.truncated).toBe(false)
  })

  test('denied-only edges are probes, not paths: listed from the node that tried, target not reached', async () => {
    const r = await run(
      [
        { src: 'a', dst: 'b', ts: at(1) },
        { src: 'b', dst: 'db', ts: at(2), denied: true },
        { src: 'b', dst: 'db', ts: at(3), denied: true },
        { src: 'a', dst: 'x', ts: at(0), denied: true },
      ],
      ['a'],
    )
    expect(Object.keys(arrivals(r)).sort()).toEqual(['a', 'b'])
    const b = r.reached.find((n) => n.node === 'b')!
    expect(b.probes).toEqual([{ src: 'b', dst: 'db', count: 2, first: at(2), last: at(3), reasons: ['authz_denied'] }])
    expect(r.probedOnly).toEqual(['db', 'x'])
  })

  test('probes are only counted from the arrival time of the node on', async () => {
    const r = await run(
      [
        { src: 'b', dst: 'db', ts: at(1), denied: true },
        { src: 'a', dst: 'b', ts: at(5) },
        { src: 'b', dst: 'db', ts: at(6), denied: true },
      ],
      ['a'],
    )
    expect(r.reached.find((n) => n.node === 'b')!.probes.map((p) => [p.count, p.first])).toEqual([[1, at(6)]])
  })

  test('witness is the fewest-hop path among earliest arrivals, not the first path found', async () => {
    // a→b→c→d arrives at 3; a→d directly also arrives at 3: the 1-hop witness wins.
    const r = await run(
      [
        { src: 'a', dst: 'b', ts: at(1) },
        { src: 'b', dst: 'c', ts: at(2) },
        { src: 'c', dst: 'd', ts: at(3) },
        { src: 'a', dst: 'd', ts: at(3) },
      ],
      ['a'],
    )
    const d = r.reached.find((n) => n.node === 'd')!
    expect(d.hops).toBe(1)
    expect(d.arrival).toBe(at(3))
  })

  test('an earlier arrival through more hops beats a later direct one', async () => {
    const r = await run(
      [
        { src: 'a', dst: 'b', ts: at(1) },
        { src: 'b', dst: 'd', ts: at(2) },
        { src: 'a', dst: 'd', ts: at(8) },
      ],
      ['a'],
    )
    const d = r.reached.find((n) => n.node === 'd')!
    expect([d.arrival, d.hops]).toEqual([at(2), 2])
  })

  test('max depth bounds the answer and reports truncation', async () => {
    const chain: Call[] = ['a', 'b', 'c', 'd', 'e'].slice(0, 4).map((n, i) => ({ src: n, dst: 'abcde'[i + 1]!, ts: at(i + 1) }))
    const r = await run(chain, ['a'], { maxDepth: 2 })
    expect(Object.keys(arrivals(r)).sort()).toEqual(['a', 'b', 'c'])
    expect(r.truncated).toBe(true)
  })

  test('new edges: only those with no call in the learning window', async () => {
    const r = await run(
      [
        { src: 'a', dst: 'b', ts: at(-30) },
        { src: 'a', dst: 'b', ts: at(1) },
        { src: 'b', dst: 'c', ts: at(2) },
      ],
      ['a'],
      { baselineFrom: at(-60) },
    )
    const flags = Object.fromEntries(r.reached.flatMap((n) => n.path.slice(-1)).map((h) => [`${h.from}>${h.to}`, h.newEdge]))
    expect(flags).toEqual({ 'a>b': false, 'b>c': true })
  })

  test('plaintext witness calls are flagged', async () => {
    const r = await run(
      [
        { src: 'a', dst: 'b', ts: at(1), plaintext: true },
        { src: 'a', dst: 'b', ts: at(2) },
      ],
      ['a'],
    )
    const hop = r.reached.find((n) => n.node === 'b')!.path[0]!
    expect([hop.plaintext, hop.plaintextCalls, hop.calls]).toEqual([true, 1, 2])
  })
})

describe('huntPaths: property against brute force', () => {
  const nodes = ['a', 'b', 'c', 'd', 'e', 'f']
  const call = fc
    .record({
      src: fc.constantFrom(...nodes),
      dst: fc.constantFrom(...nodes),
      minute: fc.integer({ min: -5, max: 30 }),
      denied: fc.boolean(),
      plaintext: fc.boolean(),
    })
    .map(({ minute, ...c }): Call => ({ ...c, ts: at(minute), denied: c.denied && minute % 3 === 0 }))

  test('earliest arrival, fewest hops and a valid time-respecting witness for every reached node', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(call, { maxLength: 14 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 20 }),
        async (calls, maxDepth, sinceMin) => {
          const since = at(sinceMin)
          const until = at(28)
          const r = await run(calls, ['a'], { since, until, maxDepth })
          const ref = reference(calls, ['a'], since, until, maxDepth)
          expect(new Map(r.reached.map((n) => [n.node, { arrival: n.arrival, hops: n.hops }]))).toEqual(ref)
          for (const n of r.reached) {
            let node = 'a'
            let time = since
            for (const h of n.path) {
              expect(h.from).toBe(node)
              expect(h.at >= time).toBe(true)
              expect(calls.some((c) => c.src === h.from && c.dst === h.to && c.ts === h.at && c.denied !== true)).toBe(true)
              node = h.to
              time = h.at
            }
            expect(node).toBe(n.node)
            expect(time).toBe(n.arrival)
          }
        },
      ),
      { numRuns: 400 },
    )
  })
})
