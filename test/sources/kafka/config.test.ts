import { expect, test } from 'vitest'
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
