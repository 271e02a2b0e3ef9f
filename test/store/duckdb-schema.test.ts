/**
 * The `flows` view (src/store/duckdb-schema.ts) drops the client line of a hop whose server line was
 * logged, the east-west gateway's own line of a passthrough, and the client line of an east-west call.
 * It finds those lines by joins of narrow columns; it used to test each event with correlated EXISTS
 * subqueries, which DuckDB runs through delim joins that materialize every event first. This checks
 * that both keep the same events on generated traffic (request ids shared along a trace, sockets
 * reused, lines minutes apart, clusters on either side), in both layouts.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import fc from 'fast-check'
import { DuckDbStore } from '../../src/store/duckdb-store.js'
import type { AuditEvent } from '../../src/generated/types.js'
import { makeEvent } from './event-fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-flows-view-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/**
 * The view as it was written before, each drop condition wrapped in coalesce(..., false): the old
 * text also dropped a line whose reporter (or a gateway line whose SNI) was missing when a matching
 * server line existed, because NOT of a NULL condition filters the row out. Those lines are kept now.
 */
const CORRELATED_FLOWS = `CREATE OR REPLACE TEMP VIEW flows_correlated AS
  SELECT e.* FROM events e
  WHERE NOT coalesce(e.reporter = 'source' AND e.request_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM events d WHERE d.reporter = 'destination' AND d.request_id = e.request_id
      AND (d.downstream_remote_address = e.upstream_local_address
           OR d.downstream_remote_address IS NULL OR e.upstream_local_address IS NULL)), false)
    AND NOT coalesce(e.reporter = 'gateway' AND starts_with(e.requested_server_name, 'outbound_.') AND e.upstream_local_address IS NOT NULL
      AND EXISTS (SELECT 1 FROM events d WHERE d.reporter = 'destination' AND d.downstream_remote_address = e.upstream_local_address
        AND abs(epoch(d.ts) - epoch(e.ts)) <= 300), false)
    AND e.id NOT IN (SELECT e.id FROM events e JOIN events d ON d.request_id = e.request_id
       WHERE e.reporter = 'source' AND d.reporter = 'destination' AND d.downstream_remote_address <> e.upstream_local_address
         AND e.dst_service = d.dst_service AND abs(epoch(d.ts) - epoch(e.ts)) <= 300
         AND e.dst_cluster = d.cluster AND d.src_cluster = e.cluster AND e.cluster <> d.cluster)`

const pick = <T>(values: readonly T[]) => fc.constantFrom(...values)
const line = fc.record({
  reporter: pick(['source', 'destination', 'gateway', undefined] as const),
  requestId: pick(['r1', 'r2', 'r3', undefined]),
  upstreamLocal: pick(['10.0.0.1:40000', '10.0.0.2:40000', '10.9.9.9:15443', undefined]),
  downstreamRemote: pick(['10.0.0.1:40000', '10.0.0.2:40000', '10.9.9.9:15443', undefined]),
  sni: pick(['outbound_.9080_._.reviews.default.svc.cluster.local', 'reviews.default.svc.cluster.local', undefined]),
  dstService: pick(['reviews', 'ratings']),
  cluster: pick(['east', 'west', undefined]),
  srcCluster: pick(['east', 'west', undefined]),
  dstCluster: pick(['east', 'west', undefined]),
  second: fc.integer({ min: 0, max: 900 }),
})

type Line = typeof line extends fc.Arbitrary<infer T> ? T : never

function toEvent(l: Line, i: number): AuditEvent {
  const e = makeEvent({
    id: `ev-${i}`,
    ts: new Date(Date.UTC(2026, 10, 20, 10) + l.second * 1000).toISOString(),
    dstService: l.dstService,
    ...(l.reporter === undefined ? {} : { reporter: l.reporter }),
  })
  if (l.reporter === undefined) delete (e.mesh as { reporter?: string }).reporter
  if (l.requestId === undefined) delete (e.http!.request as { id?: string }).id
  else e.http!.request!.id = l.requestId
  if (l.upstreamLocal !== undefined) e.envoy.upstream_local_address = l.upstreamLocal
  if (l.downstreamRemote !== undefined) e.envoy.downstream_remote_address = l.downstreamRemote
  if (l.sni !== undefined) e.envoy.requested_server_name = l.sni
  if (l.cluster !== undefined) e.orchestrator = { cluster: { name: l.cluster } }
  if (l.srcCluster !== undefined) e.mesh!.source = { ...e.mesh!.source, cluster: l.srcCluster }
  if (l.dstCluster !== undefined) e.mesh!.destination = { ...e.mesh!.destination, cluster: l.dstCluster }
  return e
}

const ids = async (store: DuckDbStore, view: string): Promise<string[]> =>
  (await store.sql(`SELECT id FROM ${view} ORDER BY id`)).rows.map((r) => String(r.id))

describe('the flows view', () => {
  for (const layout of ['table', 'segments'] as const) {
    test(`${layout} layout: keeps the same events as the correlated definition, on generated traffic`, async () => {
      let run = 0
      await fc.assert(
        fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 40 }), async (lines) => {
          const store = new DuckDbStore({ path: join(dir, `${layout}-${run++}.duckdb`), layout, threads: 1, serveReaders: false })
          try {
            await store.start()
            await store.write(lines.map(toEvent))
            await store.sql(CORRELATED_FLOWS)
            expect(await ids(store, 'flows')).toEqual(await ids(store, 'flows_correlated'))
          } finally {
            await store.close()
          }
        }),
        { numRuns: layout === 'table' ? 60 : 15 },
      )
    }, 120_000)
  }

  test('drops the client line of a logged hop and the gateway passthrough, keeps the hops of one trace apart', async () => {
    const store = new DuckDbStore({ path: ':memory:', layout: 'table', serveReaders: false })
    try {
      await store.start()
      const at = (s: number) => new Date(Date.UTC(2026, 10, 20, 10, 0, s)).toISOString()
      const client = makeEvent({ id: 'client', reporter: 'source', requestId: 'r', ts: at(0) })
      client.envoy.upstream_local_address = '10.0.0.1:40000'
      const server = makeEvent({ id: 'server', reporter: 'destination', requestId: 'r', ts: at(1) })
      server.envoy.downstream_remote_address = '10.0.0.1:40000'
      // The next hop of the same trace: same request id, another socket; the server logged nothing.
      const nextHop = makeEvent({ id: 'next-hop', reporter: 'source', requestId: 'r', ts: at(2) })
      nextHop.envoy.upstream_local_address = '10.0.0.2:40000'
      const gateway = makeEvent({
        id: 'gateway',
        reporter: 'gateway',
        sni: 'outbound_.9080_._.reviews.default.svc.cluster.local',
        ts: at(0),
      })
      gateway.envoy.upstream_local_address = '10.9.9.9:15443'
      const behind = makeEvent({ id: 'behind-gateway', reporter: 'destination', requestId: 'g', ts: at(3) })
      behind.envoy.downstream_remote_address = '10.9.9.9:15443'
      const unknown = makeEvent({ id: 'no-reporter', requestId: 'r', ts: at(4) })
      delete (unknown.mesh as { reporter?: string }).reporter
      await store.write([client, server, nextHop, gateway, behind, unknown])
      expect(await ids(store, 'flows')).toEqual(['behind-gateway', 'next-hop', 'no-reporter', 'server'])
    } finally {
      await store.close()
    }
  })
})
