import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { logLevel } from 'kafkajs'
import { expect, test } from 'vitest'
import { buildKafkaConfig, kafkajsLogCreator, type KafkaLogger } from '../../../src/sources/kafka/client.js'
import { loadKafkaSourceConfig } from '../../../src/sources/kafka/config.js'

const minimal = { brokers: ['kafka:9092'], topics: ['envoy-logs'] }

test('a minimal config gets explicit defaults and is frozen', () => {
  const cfg = loadKafkaSourceConfig(minimal)
  expect(cfg).toMatchObject({
    clientId: 'envoy-audit',
    groupId: 'envoy-audit',
    fromBeginning: false,
    sessionTimeoutMs: 30_000,
    heartbeatIntervalMs: 3_000,
    maxWaitTimeMs: 1_000,
    batchMaxRecords: 2_000,
    inFlight: { maxRecords: 5_000, maxBytes: 16 * 1024 * 1024 },
    commitIntervalMs: 1_000,
    drainTimeoutMs: 30_000,
    tls: { enabled: false, rejectUnauthorized: true },
  })
  expect(cfg.sasl).toBeUndefined()
  expect(Object.isFrozen(cfg.inFlight)).toBe(true)
})

test.each([
  [{ topics: ['t'] }, /source\.kafka\.brokers/],
  [{ ...minimal, brokers: ['kafka'] }, /brokers\.0: broker must be host:port/],
  [{ ...minimal, topics: ['a b'] }, /topics\.0/],
  [{ ...minimal, sasl: { mechanism: 'plain', username: 'u' } }, /sasl\.passwordEnv: set exactly one/],
  [{ ...minimal, sasl: { mechanism: 'plain', username: 'u', passwordEnv: 'P', passwordFile: '/p' } }, /set exactly one/],
  [{ ...minimal, sasl: { mechanism: 'gssapi', username: 'u', passwordEnv: 'P' } }, /sasl\.mechanism/],
  [{ ...minimal, tls: { enabled: true, certFile: '/c.pem' } }, /tls\.certFile: certFile and keyFile go together/],
  [{ ...minimal, sessionTimeoutMs: 2_000, heartbeatIntervalMs: 2_000 }, /heartbeatIntervalMs/],
  [{ ...minimal, inflight: {} }, /source\.kafka/],
])('invalid config %# is rejected with the option path', (input, message) => {
  expect(() => loadKafkaSourceConfig(input)).toThrow(message)
})

test('SASL secrets come from the environment or a file and never appear in errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kafka-cfg-'))
  writeFileSync(join(dir, 'pw'), 'file-secret\n')
  writeFileSync(join(dir, 'ca.pem'), 'CA PEM')
  const fromEnv = loadKafkaSourceConfig({ ...minimal, sasl: { mechanism: 'scram-sha-256', username: 'svc', passwordEnv: 'KPW' } })
  const built = await buildKafkaConfig(fromEnv, { env: { KPW: 'env-secret' } }, 'source.kafka', 'test')
  expect(built.sasl).toEqual({ mechanism: 'scram-sha-256', username: 'svc', password: 'env-secret' })
  expect(built.ssl).toBe(false)
  await expect(buildKafkaConfig(fromEnv, { env: {} }, 'source.kafka', 'test')).rejects.toThrow(
    'source.kafka.sasl.passwordEnv: environment variable KPW is not set',
  )

  const fromFile = loadKafkaSourceConfig({
    ...minimal,
    sasl: { mechanism: 'plain', username: 'svc', passwordFile: join(dir, 'pw') },
    tls: { enabled: true, caFile: join(dir, 'ca.pem'), servername: 'kafka.internal' },
  })
  const built2 = await buildKafkaConfig(fromFile, { env: {} }, 'source.kafka', 'test')
  expect(built2.sasl).toMatchObject({ password: 'file-secret' })
  expect(built2.ssl).toEqual({ rejectUnauthorized: true, ca: ['CA PEM'], servername: 'kafka.internal' })
  // Each build returns a fresh sasl object: kafkajs caches its authenticator on the one it is given.
  expect((await buildKafkaConfig(fromFile, {}, 'source.kafka', 'test')).sasl).not.toBe(built2.sasl)

  const missing = loadKafkaSourceConfig({ ...minimal, tls: { enabled: true, keyFile: join(dir, 'nope'), certFile: join(dir, 'nope') } })
  const err = (await buildKafkaConfig(missing, {}, 'source.kafka', 'test').catch((e: unknown) => e)) as Error
  expect(err.message).toMatch(/source\.kafka\.tls\.certFile: cannot read .*nope: ENOENT/)
})

test('kafkajs log lines are forwarded with a few safe fields, not the whole entry', () => {
  const lines: [string, object, string][] = []
  const logger: KafkaLogger = {
    debug: (o, m) => lines.push(['debug', o, m]),
    info: (o, m) => lines.push(['info', o, m]),
    warn: (o, m) => lines.push(['warn', o, m]),
    error: (o, m) => lines.push(['error', o, m]),
  }
  const log = kafkajsLogCreator(logger, 'kafka-source')!(logLevel.WARN)
  log({ namespace: 'Runner', level: logLevel.ERROR, label: 'ERROR', log: { timestamp: 'now', message: 'Crash', groupId: 'g', request: { password: 'x' } } as never })
  expect(lines).toEqual([['error', { component: 'kafka-source', kafkajs: 'Runner', groupId: 'g', error: undefined, topic: undefined, partition: undefined, retryCount: undefined }, 'Crash']])
})
