/**
 * The one Kafka client builder (src/connections/kafka.ts): secrets and TLS files read at start time and
 * never shown, kafkajs' log lines forwarded with safe fields only.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { logLevel } from 'kafkajs'
import { expect, test } from 'vitest'
import { buildKafkaConfig, kafkajsLogCreator, type KafkaLogger } from '../../src/connections/kafka.js'
import { loadKafkaSourceConfig } from '../../src/sources/kafka/config.js'

const minimal = { brokers: ['kafka:9092'], topics: ['envoy-logs'] }

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
  log({
    namespace: 'Runner',
    level: logLevel.ERROR,
    label: 'ERROR',
    log: { timestamp: 'now', message: 'Crash', groupId: 'g', request: { password: 'x' } } as never,
  })
  expect(lines).toEqual([
    [
      'error',
      {
        component: 'kafka-source',
        kafkajs: 'Runner',
        groupId: 'g',
        error: undefined,
        topic: undefined,
        partition: undefined,
        retryCount: undefined,
      },
      'Crash',
    ],
  ])
})
