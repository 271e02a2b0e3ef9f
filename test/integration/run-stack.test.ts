/**
 * The service against REAL Kafka and OpenSearch (npm run services:up, or the docker-compose.yml stack), when both
 * KAFKA_BROKERS and OPENSEARCH_URL are set; skipped with a message otherwise. Optional:
 * OPENSEARCH_USERNAME / OPENSEARCH_PASSWORD and OPENSEARCH_CA_FILE for the security plugin's TLS.
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { expect, test } from 'vitest'
import { describeKafkaAndOpenSearch, kafkaBrokers as brokers, opensearchUrl } from '../helpers/real-servers.js'
import { startService, waitFor } from '../helpers/service-process.js'

const osUrl = opensearchUrl ?? ''

describeKafkaAndOpenSearch('envoy-audit run', () => {
  test('records are indexed under their deterministic ids and junk reaches the DLQ topic', async () => {
    const topic = `envoy-audit-it-${randomUUID()}`
    const alias = `envoy-audit-it-${Date.now()}`
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({
      topics: [
        { topic, numPartitions: 2 },
        { topic: `${topic}-dlq`, numPartitions: 1 },
      ],
      waitForLeaders: true,
    })
    const producer = kafka.producer()
    await producer.connect()
    const good = (i: number): string =>
      `[2024-05-01T10:00:00.000Z] "GET /x HTTP/1.1" 200 - via_upstream - "-" 0 10 1 1 "-" "curl" "r-${i}" "svc.ns:80" "10.0.0.1:80" inbound|80|| 127.0.0.6:1 10.0.0.1:80 10.0.0.2:2 outbound_.80_._.svc.ns.svc.cluster.local default`
    // 50 distinct lines and one sent twice: the event id comes from the line, so the copy is the same event.
    const messages = [...Array.from({ length: 50 }, (_, i) => ({ value: good(i) })), { value: good(7) }, { value: 'not an access log' }]
    await producer.send({ topic, messages })
    await producer.disconnect()
    await admin.disconnect()

    const connection: Record<string, unknown> = { node: osUrl }
    if (process.env.OPENSEARCH_USERNAME) connection.username = process.env.OPENSEARCH_USERNAME
    if (process.env.OPENSEARCH_PASSWORD) connection.password = process.env.OPENSEARCH_PASSWORD
    if (process.env.OPENSEARCH_CA_FILE) connection.caFile = process.env.OPENSEARCH_CA_FILE
    const dir = mkdtempSync(join(tmpdir(), 'ea-it-'))
    const svc = startService(
      {
        source: { kind: 'kafka', kafka: { brokers, topics: [topic], groupId: `${topic}-g`, fromBeginning: true } },
        // No setup here (it is about the stack's delivery): run is told to start without setup's templates.
        sink: {
          kind: 'opensearch',
          opensearch: { connection, sink: { eventsAlias: alias, findingsAlias: `${alias}-findings` }, requireSetup: false },
        },
        deadLetter: { kind: 'kafka', topic: `${topic}-dlq` },
        service: { enabled: false },
      },
      join(dir, 'it.yaml'),
    )
    const auth = connection.username
      ? { authorization: `Basic ${Buffer.from(`${connection.username}:${connection.password}`).toString('base64')}` }
      : undefined
    const count = async (): Promise<number> => {
      // No setup here, so no read alias: the sink's period indices (<alias>-YYYY.MM.DD), without the findings ones.
      const r = await fetch(`${osUrl}/${alias}-*,-${alias}-findings*/_count`, auth ? { headers: auth } : {})
      return r.ok ? ((await r.json()) as { count: number }).count : 0
    }
    try {
      await waitFor(async () => (await count()) >= 50, 90_000, 'events indexed in OpenSearch')
      expect(await count()).toBe(50)
    } finally {
      svc.child.kill('SIGTERM')
      await svc.exited
    }
  }, 120_000)
})
