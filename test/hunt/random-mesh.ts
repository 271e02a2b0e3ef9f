/**
 * Random meshes for the property tests of the call tables (test/store/duckdb-calls.test.ts) and of
 * the hunt/flows answers read from them (test/hunt/duckdb-backend-calls.test.ts): calls between the
 * MESH workloads written as the sidecars' lines (scenario.ts, where the line shapes are cited), with
 * lost sides, shared trace ids, TCP, plaintext, denials, sidecars without identity extras, and server
 * lines shifted against their client lines around the five-minute match window.
 */
import fc from 'fast-check'
import type { AuditEvent } from '../../src/generated/types.js'
import { MESH, T0, callLines, toEvents, type Wl } from './scenario.js'

export const meshWorkloads: Wl[] = [MESH.frontend, MESH.cart, MESH.catalog, MESH.payments, MESH.db]

/** One call, `second` seconds from `T0` plus the offset of its cluster. */
export const callArb = (fromSecond: number, toSecond: number) =>
  fc
    .record({
      c: fc.integer({ min: 0, max: 4 }),
      s: fc.integer({ min: 0, max: 4 }),
      second: fc.integer({ min: fromSecond, max: toSecond }),
      // Server line start minus client line start: beyond ±300 s the two are not one call.
      skew: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.integer({ min: -420, max: 420 })),
      denied: fc.boolean(),
      tcp: fc.boolean(),
      plaintext: fc.boolean(),
      plainClient: fc.boolean(),
      plainServer: fc.boolean(),
      only: fc.constantFrom(undefined, undefined, undefined, 'client' as const, 'server' as const),
      // A propagated trace id shared by several calls: the endpoint and time checks must keep hops apart.
      requestId: fc.constantFrom(undefined, undefined, 'trace-1', 'trace-2'),
      // The same call again 97 s later each time: groups of more than one call.
      repeat: fc.integer({ min: 1, max: 3 }),
    })
    .filter((x) => x.c !== x.s)

export type RandomCall = ReturnType<typeof callArb> extends fc.Arbitrary<infer T> ? T : never

export function eventsOf(calls: readonly RandomCall[]): AuditEvent[] {
  const out: AuditEvent[] = []
  for (const x of calls) {
    const c = { ...meshWorkloads[x.c]!, plainFormat: x.plainClient }
    const s = { ...meshWorkloads[x.s]!, plainFormat: x.plainServer }
    const opts = {
      denied: x.denied,
      tcp: x.tcp,
      plaintext: x.plaintext,
      ...(x.only === undefined ? {} : { only: x.only }),
      ...(x.requestId === undefined ? {} : { requestId: x.requestId }),
    }
    for (let r = 0; r < x.repeat; r++) {
      for (const e of toEvents(callLines(c, s, T0 + (x.second + 97 * r) * 1000, opts))) {
        if (e.mesh?.reporter === 'destination') e['@timestamp'] = new Date(Date.parse(e['@timestamp']) + x.skew * 1000).toISOString()
        out.push(e)
      }
    }
  }
  return out
}
