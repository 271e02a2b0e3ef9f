import { describe, test, expect } from 'vitest'
import { loadAlertingConfig } from '../../src/alerting/config.js'
import { createAlertSink } from '../../src/alerting/alert-sink.js'
import { EnvoyAuditError } from '../../src/errors.js'

function errorOf(fn: () => unknown): EnvoyAuditError {
  try {
    fn()
  } catch (err) {
    if (err instanceof EnvoyAuditError) return err
    throw err
  }
  throw new Error('expected an error')
}

describe('alerting config', () => {
  test('empty config is valid, disabled, with explicit defaults, frozen', () => {
    const c = loadAlertingConfig({})
    expect(c.enabled).toBe(false)
    expect(c.minSeverity).toBe('medium')
    expect(c.dedupeWindowSeconds).toBe(300)
    expect(c.rateLimit).toEqual({ perMinute: 2, burst: 3, maxKeys: 50_000 })
    expect(Object.isFrozen(c)).toBe(true)
    expect(Object.isFrozen(c.rateLimit)).toBe(true)
    expect(createAlertSink({})).toBeUndefined()
  })

  test('webhook defaults keep TLS verification on', () => {
    const c = loadAlertingConfig({ enabled: true, webhook: { url: 'https://hooks.example.gov/x' } })
    expect(c.webhook?.tls.rejectUnauthorized).toBe(true)
    expect(c.webhook?.maxAttempts).toBe(5)
    expect(c.webhook?.backoff).toEqual({ initialMs: 250, maxMs: 15_000 })
  })

  test('errors name the option path', () => {
    expect(errorOf(() => loadAlertingConfig({ enabled: true })).message).toMatch(/^alerting\.enabled: .*output/)
    expect(errorOf(() => loadAlertingConfig({ webhook: { url: 'ftp://x/' } })).message).toMatch(/^alerting\.webhook\.url:/)
    expect(errorOf(() => loadAlertingConfig({ kafka: { brokers: ['nohost'], topic: 't' } })).message).toMatch(/^alerting\.kafka\.brokers\.0:/)
    expect(errorOf(() => loadAlertingConfig({ rateLimit: { burst: 0 } })).message).toMatch(/^alerting\.rateLimit\.burst:/)
    expect(errorOf(() => loadAlertingConfig({ surprise: 1 })).code).toBe('EA_CONFIG_INVALID')
  })

  test('a missing bearer-token variable fails at build time, naming the variable only', () => {
    const err = errorOf(() => createAlertSink({ enabled: true, webhook: { url: 'http://127.0.0.1:9/', bearerTokenEnv: 'ALERT_TOKEN' } }, { env: {} }))
    expect(err.code).toBe('EA_CONFIG_INVALID')
    expect(err.message).toContain('ALERT_TOKEN')
  })
})
