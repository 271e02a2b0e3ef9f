/**
 * CPU per event of the OpenSearch integrity ledger alone: OpenSearchLedger.append over synthetic
 * hashed events (4 Kafka partitions, rounds of ROUND events, as the wrapped sink hands them over)
 * against the test OpenSearch server (test/support/opensearch-server: a test double, not OpenSearch)
 * in its own process, so the writer's CPU (this process) and the server's are measured apart.
 * `npm run bench -- opensearch-ledger`, or directly (for an A/B, copy it into a worktree of the other commit):
 *
 *   node --import tsx test/bench/opensearch-ledger.ts          # N=60000 ROUND=2000
 *   N=120000 ROUND=200 node --import tsx test/bench/opensearch-ledger.ts
 *
 * Then it times `verify --opensearch`'s reading of that ledger (no events are written, so every entry
 * is reported deleted: the number is the cost of reading and chaining the ledger, not a whole verify).
 *
 * The end-to-end bench (test/bench/end-to-end.ts) ledgers rounds of ~700 events per stream (85 blocks
 * for 60k events over 4 partitions), so ROUND=2000 over 4 partitions is close to it.
 */
import { createHash } from 'node:crypto'
import type { AuditEvent } from '../../src/schema/audit-event.js'
import { OpenSearchLedger } from '../../src/integrity/opensearch-ledger.js'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { verifyOpenSearch } from '../../src/integrity/verify-opensearch.js'
import { cpuSeconds, startChildServer } from './servers.js'
import { emit } from './util.js'

export async function main(): Promise<Record<string, unknown>> {
  const N = Number(process.env.N ?? 60_000)
  const ROUND = Number(process.env.ROUND ?? 2_000)
  const PARTITIONS = 4
  const WARM = 40

  const events: AuditEvent[] = []
  const offsets = new Array<number>(PARTITIONS).fill(0)
  for (let i = 0; i < N; i++) {
    const partition = i % PARTITIONS
    const hash = createHash('sha256').update(String(i)).digest('hex')
    const e = {
      '@timestamp': new Date(1_700_000_000_000 + i).toISOString(),
      event: { id: hash.slice(0, 22) },
      audit: {
        hash,
        source: {
          kind: 'kafka',
          topic: 'envoy',
          partition,
          offset: String(offsets[partition]!++),
        },
      },
    }
    events.push(e as unknown as AuditEvent)
  }

  const os = await startChildServer('test/support/opensearch-server/cli.ts')
  const client = await createOpenSearchClient(loadConnectionConfig({ node: `http://127.0.0.1:${os.port}` }), { maxRetries: 0 })
  const ledger = new OpenSearchLedger({
    client,
    key: { id: 'bench', bytes: Buffer.from('bench-key-0123456789') },
    indexPrefix: 'bench',
    retry: { initialMs: 5, maxMs: 50 },
    closeTimeoutMs: 1_000,
  })
  try {
    // Warm-up outside the clock: index creation and each stream's first tail check.
    await ledger.append(events.slice(0, WARM))
    const cpu0 = process.cpuUsage()
    const server0 = cpuSeconds(os.child.pid ?? 0)
    const t0 = Date.now()
    for (let i = WARM; i < N; i += ROUND) await ledger.append(events.slice(i, i + ROUND))
    const cpu = process.cpuUsage(cpu0)
    const server = cpuSeconds(os.child.pid ?? 0) - server0
    const wallMs = Date.now() - t0
    const n = N - WARM
    const v0 = process.cpuUsage()
    const vt0 = Date.now()
    const report = await verifyOpenSearch(client, {
      eventsAlias: 'bench-none',
      findingsAlias: 'bench-none',
      indexPrefix: 'bench',
      key: undefined,
    })
    const vcpu = process.cpuUsage(v0)
    const line = {
      bench: 'opensearch-ledger',
      events: n,
      round: ROUND,
      writerCpuUsPerEvent: Number(((cpu.user + cpu.system) / n).toFixed(2)),
      serverCpuUsPerEvent: Number(((server * 1e6) / n).toFixed(2)),
      wallMs,
      verifyLedgerMs: Date.now() - vt0,
      verifyCpuMs: Math.round((vcpu.user + vcpu.system) / 1000),
      verifyLedgered: report.ledgered,
      stats: ledger.stats,
    }
    emit(line)
    return line
  } finally {
    await ledger.close()
    await client.close()
    await os.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
