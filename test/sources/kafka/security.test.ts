import { readFileSync } from 'node:fs'
import type { KafkaConfig } from 'kafkajs'
import { expect, test } from 'vitest'
import { cleanupAfterEach } from '../../helpers/cleanups.js'
import { createKafkaSource } from '../../../src/sources/kafka/kafka-source.js'
import { startKafkaBroker, type BrokerOptions, type KafkaTestBroker } from '../../support/kafka-broker/index.js'
import { makeTestPki } from '../../support/kafka-broker/test-certs.js'
import { quietKafka, shortSessions } from '../../support/kafka-broker/test-helpers.js'
import { ControlledPipeline, sourceConfig, waitFor } from './helpers.js'

const cleanups = cleanupAfterEach()

async function broker(opts: BrokerOptions = {}): Promise<KafkaTestBroker> {
  const b = await startKafkaBroker({ ...shortSessions, ...opts })
  cleanups.push(() => b.close())
  b.createTopic('logs', 1)
  return b
}

async function consumeOne(b: KafkaTestBroker, overrides: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const pipeline = new ControlledPipeline()
  const source = createKafkaSource(sourceConfig(b, { retry: { retries: 1, initialMs: 20, maxMs: 50 }, ...overrides }), { env })
  cleanups.push(() => source.close())
  await source.start()
  await source.run(pipeline.handler)
  await waitFor(() => pipeline.acked.length >= 1, 10_000, 'a record')
  return pipeline.acked.map((r) => r.value.toString())
}

async function publish(b: KafkaTestBroker, value: string, client: Partial<KafkaConfig>): Promise<void> {
  const p = quietKafka(b.brokers, client).producer()
  await p.connect()
  await p.send({ topic: 'logs', messages: [{ value }] })
  await p.disconnect()
}

const pki = makeTestPki()

test('SASL SCRAM with the password from the environment; a wrong password fails start() clearly', async () => {
  const b = await broker({ sasl: { users: { 'envoy-audit': 'pa55' } } })
  const sasl = { mechanism: 'scram-sha-512', username: 'envoy-audit', passwordEnv: 'KAFKA_PASSWORD' } as const
  await publish(b, 'authenticated', { sasl: { mechanism: 'scram-sha-512', username: 'envoy-audit', password: 'pa55' } })

  expect(await consumeOne(b, { sasl }, { KAFKA_PASSWORD: 'pa55' })).toEqual(['authenticated'])
  const bad = createKafkaSource(sourceConfig(b, { sasl, retry: { retries: 0, initialMs: 20, maxMs: 50 } }), {
    env: { KAFKA_PASSWORD: 'nope' },
  })
  const err = (await bad.start().catch((e: unknown) => e)) as Error & { code: string; retryable: boolean }
  expect(err.code).toBe('EA_SOURCE_AUTH')
  expect(err.retryable).toBe(false)
  expect(err.message).toMatch(/SASL SCRAM SHA512 authentication failed/)
  expect(err.message).toMatch(/for scram-sha-512 user envoy-audit/)
  expect(err.message).not.toContain('nope')
})

test('TLS verifies the broker against the configured CA, and rejects it without one (verification on by default)', async () => {
  const b = await broker({ tls: { key: pki.serverKey, cert: pki.serverCert } })
  await publish(b, 'over-tls', { ssl: { ca: [pki.ca] } })

  expect(await consumeOne(b, { tls: { enabled: true, caFile: pki.caFile } })).toEqual(['over-tls'])
  // An untrusted certificate is not retried until startupTimeoutMs: no retry can mend it.
  const untrusted = createKafkaSource(sourceConfig(b, { tls: { enabled: true }, startupTimeoutMs: 60_000 }))
  const t0 = Date.now()
  const err = (await untrusted.start().catch((e: unknown) => e)) as Error & { code: string }
  expect(err.code).toBe('EA_SOURCE_AUTH')
  expect(err.message).toMatch(new RegExp(`TLS handshake with ${b.brokers[0]} failed: .*certificate`))
  expect(Date.now() - t0).toBeLessThan(10_000)
})

test('mutual TLS: the client certificate and key from files are presented to the broker', async () => {
  const b = await broker({ tls: { key: pki.serverKey, cert: pki.serverCert, clientCa: pki.ca } })
  await publish(b, 'mtls', {
    ssl: { ca: [pki.ca], cert: readFileSync(pki.clientCertFile, 'utf8'), key: readFileSync(pki.clientKeyFile, 'utf8') },
  })

  const tls = { enabled: true, caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile }
  expect(await consumeOne(b, { tls })).toEqual(['mtls'])
  const noCert = createKafkaSource(sourceConfig(b, { tls: { enabled: true, caFile: pki.caFile }, startupTimeoutMs: 60_000 }))
  const t0 = Date.now()
  await expect(noCert.start()).rejects.toMatchObject({
    code: 'EA_SOURCE_AUTH',
    message: expect.stringMatching(/TLS handshake with .* failed/),
  })
  expect(Date.now() - t0).toBeLessThan(10_000)
})

test('unreachable brokers fail start() within startupTimeoutMs with a message naming them', async () => {
  const b = await broker()
  const port = b.port
  await b.close()
  const source = createKafkaSource(sourceConfig(b, { brokers: [`127.0.0.1:${port}`], startupTimeoutMs: 2_000 }))
  const t0 = Date.now()
  const err = (await source.start().catch((e: unknown) => e)) as Error & { code: string }
  expect(err.code).toBe('EA_SOURCE_UNAVAILABLE')
  expect(err.message).toContain(`127.0.0.1:${port}: Connection error: connect ECONNREFUSED`)
  expect(err.message).toContain('(source.kafka.startupTimeoutMs)')
  expect(Date.now() - t0).toBeLessThan(4_000)
})
