import { afterEach, describe, expect, test } from 'vitest'
import fc from 'fast-check'
import { DuckDbHuntBackend } from '../../src/hunt/duckdb-backend.js'
import { huntPaths } from '../../src/hunt/search.js'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import { MESH, T0, at, callLines, spiffe, toEvents } from './scenario.js'
import { callArb, eventsOf, meshWorkloads } from './random-mesh.js'

/**
 * Every hunt and flows answer read from the call tables filled at ingest (src/store/duckdb-calls.ts)
 * equals the answer of the query-time match over the events (source 'events', the reference), for
 * lines stored in any batches and order. The windows start and end where no call has a line on both
 * sides: there the two differ by design (the tables keep a call matched across a window's edge,
 * see CallSource in src/hunt/duckdb-backend.ts).
 */

let open: DuckDbStore[] = []
afterEach(async () => {
  await Promise.all(open.map((s) => s.close()))
  open = []
})

const iso = (second: number): string => new Date(T0 + second * 1000).toISOString()

/** Learning calls 3h-2h20m before T0, analysis calls within ±75 min of it: the gaps hold no call's line. */
const learning = fc.array(callArb(-180 * 60, -140 * 60), { maxLength: 5 })
const analysis = fc.array(callArb(-75 * 60, 70 * 60), { minLength: 1, maxLength: 10 })

describe('hunt and flows from the call tables', () => {
  test('property: the same nodes, hunts from every workload, and flows (with sub-windows and filters) as the query-time match', async () => {
    await fc.assert(
      fc.asyncProperty(
        learning,
        analysis,
        fc.integer({ min: 1, max: 4 }),
        // Window start in the gap between the clusters (on or off an hour), end in the gap after it or open.
        fc.integer({ min: -125 * 60, max: -90 * 60 }),
        fc.option(fc.integer({ min: 90 * 60, max: 150 * 60 }), { nil: undefined }),
        // A flows sub-window anywhere inside the analysis window.
        fc.integer({ min: -90 * 60, max: 90 * 60 }),
        fc.integer({ min: 1, max: 180 * 60 }),
        async (before, during, batches, sinceS, untilS, subFrom, subSpan) => {
          const events = eventsOf([...before, ...during])
          const store = new DuckDbStore({ path: ':memory:' })
          await store.start()
          open.push(store)
          // Newest batch first: late client and server lines must end the same as in-order ones.
          const size = Math.ceil(events.length / batches)
          for (let i = Math.floor((events.length - 1) / size) * size; i >= 0; i -= size) await store.writeEvents(events.slice(i, i + size))
          const range = { since: iso(sinceS), baselineFrom: iso(-200 * 60), ...(untilS === undefined ? {} : { until: iso(untilS) }) }
          const answers = async (source: 'calls' | 'events'): Promise<unknown> => {
            const backend = new DuckDbHuntBackend(store, { source })
            await backend.prepare(range, [])
            const nodes = await backend.nodes()
            const hunts = []
            for (const w of meshWorkloads) {
              for (const origin of [spiffe(w), `${w.ns}/${w.name}`])
                hunts.push(await huntPaths(backend, { from: [origin], maxDepth: 4, ...range }))
            }
            const sub = { since: iso(subFrom), until: iso(subFrom + subSpan) }
            const flows = {
              all: await backend.flows({}),
              sub: await backend.flows(sub),
              ns: await backend.flows({ namespace: 'payments' }),
              plaintext: await backend.flows({ finding: 'plaintext_inbound' }),
              nodes: await backend.flows({ nodes: [spiffe(meshWorkloads[1]!), 'shop/cart'] }),
              limited: await backend.flows({ limit: 2 }),
            }
            await backend.close()
            return { nodes, hunts, flows }
          }
          const expected = await answers('events')
          expect(await answers('calls')).toEqual(expected)
          await store.close()
        },
      ),
      { numRuns: 20, seed: 5 },
    )
  }, 120_000)
})

describe('search rounds over call groups', () => {
  test('a group of calls that straddles an arrival counts only its calls at or after it', async () => {
    const { frontend, cart, payments } = MESH
    // cart -> payments at minutes 1, 5 and 7 (one group: same hour, same facts); cart is reached at minute 3.
    const store = new DuckDbStore({ path: ':memory:' })
    await store.start()
    open.push(store)
    await store.writeEvents(
      toEvents([
        ...callLines(cart, payments, at(1)),
        ...callLines(frontend, cart, at(3)),
        ...callLines(cart, payments, at(5)),
        ...callLines(cart, payments, at(7)),
      ]),
    )
    expect((await store.sql(`SELECT n::INTEGER AS n FROM call_groups WHERE src_id = '${spiffe(cart)}'`)).rows).toEqual([{ n: 3 }])
    const results = []
    for (const source of ['calls', 'events'] as const) {
      const backend = new DuckDbHuntBackend(store, { source })
      await backend.prepare({ since: at(0) }, [])
      results.push(await huntPaths(backend, { from: [spiffe(frontend)], maxDepth: 3, since: at(0) }))
      await backend.close()
    }
    const [calls, events] = results
    const hop = calls!.edges.find((e) => e.from === spiffe(cart))!
    expect([hop.to, hop.at, hop.calls]).toEqual([spiffe(payments), at(5), 2])
    expect(calls).toEqual(events)
  })
})
