/**
 * `verify --opensearch` at size: for each count in BENCH_VERIFY_OS_EVENTS (default 20000,200000: N and
 * 10N), an intact set of indices (copies of one realistic event under new ids, each with its right
 * hash, bulk-indexed, and ledgered by OpenSearchLedger in rounds of 2,000 as the ledgered sink does),
 * verified by the built CLI in its own process under /usr/bin/time: wall seconds, peak RSS, events/s.
 * Against OPENSEARCH_URL when set (the real node: everything under a unique prefix, deleted
 * afterwards), else the test server (test/support/opensearch-server: a test double, not OpenSearch) in
 * a child process. The target (docs/store.md): the peak does not grow with the indices.
 *
 *   npm run bench -- verify-opensearch
 *   OPENSEARCH_URL=http://127.0.0.1:9200 BENCH_VERIFY_OS_EVENTS=10000,100000 node --import tsx test/bench/verify-opensearch.ts
 *
 * BENCH_VERIFY_OS_KEEP=1 (with OPENSEARCH_URL) keeps the indices and prints the verify command, to
 * run it again under a profiler or a memory sampler (delete them with `${prefix}-*` afterwards).
 * BENCH_VERIFY_OS_PAGING=1 also times paging through the events alone (no `_source`) in verify's
 * order (readAll) and in the order it replaced (`_index`, then `_id`), each page of 2,000 in one PIT.
 * BENCH_VERIFY_OS_SHARDS=N (default 1) gives the events index N shards: verify then reads it a shard at
 * a time, and the paging compares that with the order it replaced for such indices (`_doc`, `_index`,
 * `_id`), and reports the `_id` field data the node holds after each.
 */
import { spawnSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import type { Client } from '@opensearch-project/opensearch'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { OpenSearchLedger } from '../../src/integrity/opensearch-ledger.js'
import { storedDigest } from '../../src/integrity/verify-core.js'
import { BY_DOC, BY_DOC_AND_ID, readPlan } from '../../src/integrity/opensearch-read-all.js'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { buildDist } from '../helpers/build-dist.js'
import { REPO_ROOT } from '../helpers/cli.js'
import { makeEvent } from '../store/event-fixtures.js'
import { startChildServer } from './servers.js'
import { emit } from './util.js'

const SIZES = (process.env.BENCH_VERIFY_OS_EVENTS ?? '20000,200000').split(',').map(Number)
const CLI = join(REPO_ROOT, 'dist/src/cli/main.js')
const ROUND = 2_000
const SHARDS = Number(process.env.BENCH_VERIFY_OS_SHARDS ?? '1')

/** `n` events indexed under `prefix` and ledgered; returns seconds spent. */
async function load(client: Client, prefix: string, n: number): Promise<number> {
  const t0 = Date.now()
  const template = makeEvent({ ts: '2026-11-20T10:00:00.000Z' })
  const ledger = new OpenSearchLedger({
    client,
    key: undefined,
    indexPrefix: `${prefix}-integrity`,
    retry: { initialMs: 5, maxMs: 50 },
    closeTimeoutMs: 5_000,
  })
  if (SHARDS > 1)
    await client.indices.create({
      index: `${prefix}-events-bench`,
      body: { settings: { number_of_shards: SHARDS, number_of_replicas: 0 } },
    } as never)
  try {
    for (let i = 0; i < n; i += ROUND) {
      const round: AuditEvent[] = []
      const body: unknown[] = []
      for (let j = i; j < Math.min(n, i + ROUND); j++) {
        const e = structuredClone(template)
        e.event.id = `ev-${String(j).padStart(10, '0')}`
        e.audit = { ...e.audit, source: { kind: 'file', file: 'bench.log', offset: String(j) } as never }
        e.audit.hash = storedDigest(JSON.stringify(e))!.digest.hash
        round.push(e)
        body.push({ index: { _index: `${prefix}-events-bench`, _id: e.event.id } }, e)
      }
      const res = await client.bulk({ body } as never)
      if ((res.body as { errors?: boolean }).errors === true) throw new Error('bulk indexing of the bench events failed')
      await ledger.append(round)
    }
  } finally {
    await ledger.close()
  }
  await client.indices.refresh({ index: `${prefix}-*` } as never)
  return (Date.now() - t0) / 1000
}

/**
 * Seconds to page through every event of `target`, pages of 2,000 without `_source`: in one PIT in
 * `sort`, or (undefined) as verify's readAll plans it (one PIT in its order, or by shard count, sliced).
 */
async function pageThrough(client: Client, target: string, sort: unknown[] | undefined): Promise<{ seconds: number; docs: number }> {
  const t0 = Date.now()
  const opened = await openPit(client, target)
  const plan = sort === undefined ? await readPlan(client, target, opened.shards) : undefined
  let docs = 0
  try {
    if (plan?.kind === 'by-shard') {
      for (const group of plan.groups) {
        const pit = await openPit(client, group.indices.join(','))
        try {
          for (let id = 0; id < group.shards; id++)
            docs += await pages(client, pit.id, BY_DOC as unknown[], group.shards === 1 ? undefined : { id, max: group.shards })
        } finally {
          await client.deletePit({ body: { pit_id: [pit.id] } } as never).catch(() => undefined)
        }
      }
    } else docs = await pages(client, opened.id, sort ?? (plan!.sort as unknown[]), undefined)
  } finally {
    await client.deletePit({ body: { pit_id: [opened.id] } } as never).catch(() => undefined)
  }
  return { seconds: (Date.now() - t0) / 1000, docs }
}

async function openPit(client: Client, target: string): Promise<{ id: string; shards: number }> {
  const b = (await client.createPit({ index: target, keep_alive: '2m' } as never)).body as { pit_id: string; _shards: { total: number } }
  return { id: b.pit_id, shards: b._shards.total }
}

/** Documents read paging one PIT (one slice of it) in `sort`. */
async function pages(client: Client, pit: string, sort: unknown[], slice: { id: number; max: number } | undefined): Promise<number> {
  let docs = 0
  let after: unknown[] | undefined
  for (;;) {
    const body: Record<string, unknown> = { size: 2000, sort, _source: false, pit: { id: pit, keep_alive: '2m' } }
    if (slice !== undefined) body.slice = slice
    if (after !== undefined) body.search_after = after
    const hits = ((await client.search({ body } as never)).body as { hits: { hits: { sort: unknown[] }[] } }).hits.hits
    docs += hits.length
    if (hits.length < 2000) return docs
    after = hits[hits.length - 1]!.sort
  }
}

/** Bytes of `_id` field data the node holds for the events. */
async function idFieldData(client: Client, target: string): Promise<number> {
  const res = await client.indices.stats({ index: target, metric: 'fielddata', fielddata_fields: '_id' } as never)
  return (res.body as { _all: { total: { fielddata: { memory_size_in_bytes: number } } } })._all.total.fielddata.memory_size_in_bytes
}

/**
 * Verify's order against the one it replaced over the same events (`_index`, `_id` for one-shard
 * indices; `_doc`, `_index`, `_id` for more), verify's first: `_id` field data, once loaded, stays.
 * Fails unless each reads every event.
 */
async function paging(client: Client, prefix: string, n: number): Promise<Record<string, number>> {
  const target = `${prefix}-events*`
  const now = await pageThrough(client, target, undefined)
  const idFieldDataAfterVerifyOrder = await idFieldData(client, target)
  const old = await pageThrough(client, target, SHARDS > 1 ? (BY_DOC_AND_ID as unknown[]) : [{ _index: 'asc' }, { _id: 'asc' }])
  if (old.docs !== n || now.docs !== n) throw new Error(`paging read ${old.docs} and ${now.docs} of ${n} events`)
  return {
    replacedOrderSeconds: old.seconds,
    verifyOrderSeconds: now.seconds,
    idFieldDataAfterVerifyOrder,
    idFieldDataAfterReplacedOrder: await idFieldData(client, target),
  }
}

const verifyArgs = (url: string, prefix: string): string[] => [
  ...['verify', '--opensearch', url, '--events-alias', `${prefix}-events`, '--findings-alias', `${prefix}-findings`],
  ...['--index-prefix', `${prefix}-integrity`, '--progress-every', '60'],
]

export async function main(): Promise<void> {
  buildDist({ root: REPO_ROOT, src: `${REPO_ROOT}src`, outDir: `${REPO_ROOT}dist` })
  const real = process.env.OPENSEARCH_URL
  const server = real === undefined ? await startChildServer('test/support/opensearch-server/cli.ts') : undefined
  const url = real ?? `http://127.0.0.1:${server!.port}`
  const client = await createOpenSearchClient(loadConnectionConfig({ node: url }), { maxRetries: 3 })
  const runs: Record<string, unknown>[] = []
  const keep = real !== undefined && process.env.BENCH_VERIFY_OS_KEEP === '1'
  try {
    for (const n of SIZES) {
      const prefix = `ea-bench-verify-${Date.now().toString(36)}`
      try {
        const loadSeconds = await load(client, prefix, n)
        const load0 = loadavg().map((l) => Number(l.toFixed(2)))
        const r = spawnSync('/usr/bin/time', ['-f', 'BENCH_TIME %e %M', process.execPath, CLI, ...verifyArgs(url, prefix)], {
          stdio: ['ignore', 'pipe', 'pipe'],
          encoding: 'utf8',
          maxBuffer: 64 * 1024 * 1024,
        })
        const m = /BENCH_TIME ([\d.]+) (\d+)/.exec(r.stderr)
        if (r.status !== 0 || m === null) throw new Error(`verify exited ${r.status}: ${r.stdout.slice(-400)} ${r.stderr.slice(-800)}`)
        const seconds = Number(m[1])
        const pagingRun = process.env.BENCH_VERIFY_OS_PAGING === '1' ? { paging: await paging(client, prefix, n) } : {}
        const run = {
          target: real === undefined ? 'test server' : 'OpenSearch',
          events: n,
          shards: SHARDS,
          loadAverage: load0,
          seconds,
          peakRssMb: Math.round(Number(m[2]) / 1024),
          eventsPerSecond: Math.round(n / seconds),
          loadSeconds,
          ...pagingRun,
        }
        process.stderr.write(`verify-opensearch: ${JSON.stringify(run)}\n`)
        runs.push(run)
      } finally {
        if (keep) process.stderr.write(`verify-opensearch: kept ${prefix}-*: node ${CLI} ${verifyArgs(url, prefix).join(' ')}\n`)
        else await client.indices.delete({ index: `${prefix}-*` } as never).catch(() => undefined)
      }
    }
  } finally {
    await client.close()
    await server?.stop()
  }
  const peaks = runs.map((r) => Number(r.peakRssMb))
  emit({ bench: 'verify-opensearch', runs, peakGrowth: peaks.length > 1 ? Number((Math.max(...peaks) / peaks[0]!).toFixed(3)) : 1 })
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
